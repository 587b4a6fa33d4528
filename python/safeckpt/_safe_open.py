"""safe_open: lazy access to the tensors of one safetensors file.

Tensors are read with positioned reads into freshly allocated, aligned torch
tensors or numpy arrays, so files whose tensors start at any offset (headers
not padded to 8 bytes, odd-sized tensors before them) read the same as
aligned ones. The file is validated when opened; see docs/format.md.
"""

import operator

from . import _core, _dtypes
from ._shared import error, path_of

_FRAMEWORKS = {"pt": "pt", "torch": "pt", "pytorch": "pt", "np": "np", "numpy": "np"}


def _parse_framework(framework):
    try:
        return _FRAMEWORKS[framework]
    except (KeyError, TypeError):
        raise ValueError(
            f"framework {framework!r} is not supported; accepted: pt (torch) and np (numpy)"
        ) from None


class _TorchArrays:
    """Allocation of torch tensors and their writable byte views."""

    name = "pt"

    def __init__(self, device):
        import torch

        self.torch = torch
        self.device = torch.device(device if device is not None else "cpu")

    def empty(self, file_name, tensor, dtype, shape):
        torch_dtype = _dtypes.torch_dtype(dtype)
        if torch_dtype is None:
            raise error(
                f"{file_name}: tensor '{tensor}' has dtype {dtype}, which torch "
                f"{self.torch.__version__} has no dtype for (torch.{_dtypes.torch_name(dtype)}); "
                f"open the file with framework=\"np\" to read its raw bits",
                code="unimplemented",
                error_id="unsupported_conversion",
            )
        return self.torch.empty(shape, dtype=torch_dtype)

    def byte_view(self, array):
        return array.reshape(-1).view(self.torch.uint8).numpy()

    def finish(self, array):
        if self.device.type != "cpu":
            return array.to(self.device)
        return array


class _NumpyArrays:
    """Allocation of numpy arrays; dtypes numpy lacks come back as raw bits."""

    name = "np"

    def __init__(self, device):
        if device not in (None, "cpu"):
            raise ValueError(f"framework \"np\" reads to the CPU only, not device {device!r}")
        import numpy

        self.numpy = numpy

    def empty(self, file_name, tensor, dtype, shape):
        numpy_dtype = _dtypes.numpy_dtype(dtype)
        if numpy_dtype is not None:
            return self.numpy.empty(shape, dtype=numpy_dtype)
        return self.numpy.empty(
            _dtypes.raw_numpy_shape(dtype, shape), dtype=_dtypes.raw_numpy_dtype(dtype)
        )

    def byte_view(self, array):
        return array

    def finish(self, array):
        return array


def _arrays_for(framework, device):
    if _parse_framework(framework) == "pt":
        return _TorchArrays(device)
    return _NumpyArrays(device)


class TensorReader:
    """A validated safetensors file or bytes object and a target framework."""

    def __init__(self, file, arrays):
        self._file = file
        self._arrays = arrays
        # name -> (dtype, shape), in data_offsets order.
        self._tensors = {name: (dtype, shape) for name, dtype, shape, _, _ in file.tensors()}

    @property
    def name(self):
        return self._file.name

    def offset_keys(self):
        return list(self._tensors)

    def info(self, name):
        if name not in self._tensors:
            self._file.info(name)  # raises the library's not-found error
        return self._tensors[name]

    def metadata(self):
        return self._file.metadata()

    def read_all(self):
        """Read every tensor in one batch of parallel reads; dict in offset order."""
        arrays = {
            name: self._arrays.empty(self.name, name, dtype, shape)
            for name, (dtype, shape) in self._tensors.items()
        }
        names = list(arrays)
        self._file.read(names, [self._arrays.byte_view(arrays[name]) for name in names])
        return {name: self._arrays.finish(array) for name, array in arrays.items()}

    def read(self, name):
        dtype, shape = self.info(name)
        array = self._arrays.empty(self.name, name, dtype, shape)
        self._file.read([name], [self._arrays.byte_view(array)])
        return self._arrays.finish(array)

    def read_hyperslab(self, name, starts, stops):
        dtype, _ = self.info(name)
        shape = [stop - start for start, stop in zip(starts, stops)]
        array = self._arrays.empty(self.name, name, dtype, shape)
        self._file.read_hyperslab(name, starts, stops, self._arrays.byte_view(array))
        return array

    @property
    def arrays(self):
        return self._arrays


class safe_open:  # noqa: N801 - the safetensors package's name
    """Open a safetensors file and read its tensors on request.

    Usable as a context manager, as in the safetensors package:

        with safe_open("model.safetensors", framework="pt") as f:
            for name in f.keys():
                tensor = f.get_tensor(name)

    `framework` is "pt" (torch tensors) or "np" (numpy arrays). `device`
    applies to "pt": tensors are read on the CPU and then moved there.
    Raises SafeckptError naming the file and the rule when the file is not a
    valid safetensors file, and SafeckptFileNotFoundError (also a
    FileNotFoundError) when it does not exist.
    """

    def __init__(self, filename, framework, device="cpu"):
        arrays = _arrays_for(framework, device)
        self._reader = TensorReader(_core.TensorFile.open(path_of(filename)), arrays)

    def __enter__(self):
        return self

    def __exit__(self, exception_type, exception, traceback):
        self.close()

    def close(self):
        """Close the file; later calls raise SafeckptError."""
        self._reader = None

    def _open_reader(self):
        if self._reader is None:
            raise error("the file is closed: safe_open objects are usable only inside their "
                        "with block", code="failed precondition")
        return self._reader

    def keys(self):
        """Return the tensor names, sorted."""
        return sorted(self._open_reader().offset_keys())

    def offset_keys(self):
        """Return the tensor names in the order of their data in the file."""
        return self._open_reader().offset_keys()

    def metadata(self):
        """Return the __metadata__ dict, or None when the header has none."""
        return self._open_reader().metadata()

    def get_tensor(self, name):
        """Read one tensor whole."""
        return self._open_reader().read(name)

    def get_slice(self, name):
        """Return a TensorSlice that reads parts of tensor `name` when indexed."""
        reader = self._open_reader()
        dtype, shape = reader.info(name)
        return TensorSlice(reader, name, dtype, shape)


class TensorSlice:
    """One tensor of an open file, read in part by indexing.

    slice[...] accepts ints (negative ones count from the end), slices with
    any step, and one Ellipsis, like numpy basic indexing. Dimensions not
    indexed are taken whole. Only the elements between the first and the
    last selected index of each dimension are read. A step other than 1 is
    applied after the read, so with framework="pt" a negative step raises as
    torch indexing does.
    """

    def __init__(self, reader, name, dtype, shape):
        self._reader = reader
        self._name = name
        self._dtype = dtype
        self._shape = list(shape)

    def get_shape(self):
        """Return the shape of the whole tensor."""
        return list(self._shape)

    def get_dtype(self):
        """Return the safetensors dtype name, e.g. "F8_E4M3"."""
        return self._dtype

    def __getitem__(self, index):
        starts, stops, post_index = self._plan(index)
        array = self._reader.read_hyperslab(self._name, starts, stops)
        array = array[tuple(post_index)] if post_index else array
        return self._reader.arrays.finish(array)

    def _expand(self, index):
        items = index if isinstance(index, tuple) else (index,)
        ellipses = sum(1 for item in items if item is Ellipsis)
        if ellipses > 1:
            raise IndexError("an index can only have a single ellipsis ('...')")
        indexed = len(items) - ellipses
        if indexed > len(self._shape):
            raise IndexError(
                f"too many indices for tensor '{self._name}' of dimension {len(self._shape)}: "
                f"{indexed} given"
            )
        full = [slice(None)] * (len(self._shape) - indexed)
        if ellipses:
            position = items.index(Ellipsis)
            return list(items[:position]) + full + list(items[position + 1:])
        return list(items) + full

    def _plan(self, index):
        """Return the hyperslab to read and the index to apply to it afterwards."""
        starts, stops, post_index = [], [], []
        sub_byte = _dtypes.BITS[self._dtype] % 8 != 0
        for dimension, (item, size) in enumerate(zip(self._expand(index), self._shape)):
            if isinstance(item, slice):
                start, stop, post = self._plan_slice(item, size)
            else:
                start, stop, post = self._plan_integer(item, size, dimension)
            starts.append(start)
            stops.append(stop)
            post_index.append(post)

        if sub_byte:
            return starts, stops, self._sub_byte_post_index(post_index, starts, stops)
        if all(post == slice(None) for post in post_index):
            post_index = []
        return starts, stops, post_index

    def _plan_slice(self, item, size):
        start, stop, step = item.indices(size)
        selected = range(start, stop, step)
        if len(selected) == 0:
            return 0, 0, slice(None)
        if step < 0 and self._reader.arrays.name == "pt":
            raise ValueError("step must be greater than zero")
        low, high = min(selected), max(selected) + 1
        post_stop = selected.stop - low
        post = slice(selected.start - low, post_stop if post_stop >= 0 else None, step)
        return low, high, post

    def _plan_integer(self, item, size, dimension):
        if isinstance(item, bool) or not hasattr(item, "__index__"):
            raise TypeError(
                f"index {item!r} is not supported for tensor '{self._name}'; use ints, slices "
                f"and ..."
            )
        position = operator.index(item)
        if position < -size or position >= size:
            raise IndexError(
                f"index {position} is out of bounds for dimension {dimension} of tensor "
                f"'{self._name}' with size {size}"
            )
        position %= size
        return position, position + 1, 0

    def _sub_byte_post_index(self, post_index, starts, stops):
        """Post index for packed sub-byte data: drop int dimensions, no steps."""
        if any(isinstance(post, slice) and post.step not in (None, 1) for post in post_index):
            raise ValueError(f"tensor '{self._name}' has {self._dtype} elements packed into "
                             "bytes, so slices with a step are not supported")
        shape = [stop - start for start, stop in zip(starts, stops)]
        packed = _dtypes.raw_numpy_shape(self._dtype, shape)
        if len(packed) != len(shape) or (post_index and post_index[-1] == 0):
            if any(post == 0 for post in post_index):
                raise ValueError(
                    f"tensor '{self._name}' has {self._dtype} elements packed into bytes; index "
                    "the last dimension with a slice whose length fills whole bytes"
                )
            return []
        return [0 if post == 0 else slice(None) for post in post_index]
