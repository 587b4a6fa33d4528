"""The numpy functions of the safetensors package: load_file, save_file, load, save.

    import safeckpt.numpy as st        # in place of: import safetensors.numpy as st

Dtypes numpy lacks (BF16, the float8 types, F4, F6_*) load as their raw bits:
uint16 for BF16, uint8 otherwise; safe_open(...).get_slice(name).get_dtype()
names the real dtype. Saved files carry "format": "pt" in their metadata
unless the metadata gives another format, as with safeckpt.torch.
"""

import numpy

from . import _core, _dtypes
from ._safe_open import TensorReader, _NumpyArrays
from ._shared import check_names, metadata_items, path_of, save_order


def _entries(tensor_dict):
    check_names(tensor_dict, "numpy.ndarray")
    entries = []
    for name, array in tensor_dict.items():
        if not isinstance(array, numpy.ndarray):
            raise ValueError(
                f"tensor '{name}' is a {type(array).__name__}, expected numpy.ndarray"
            )
        dtype = _dtypes.from_numpy(array.dtype.newbyteorder("="))
        if dtype is None:
            raise ValueError(f"tensor '{name}': numpy dtype {array.dtype} has no safetensors "
                             "dtype")
        # Little-endian, row-major bytes, as the format stores them. numpy
        # copies only an array that is not already laid out so.
        data = numpy.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
        entries.append((name, dtype, list(array.shape), data.reshape(-1).view(numpy.uint8)))
    return save_order(entries)


def save_file(tensor_dict, filename, metadata=None):
    """Write numpy arrays to a safetensors file, crash-safely.

    The file is written under a temporary name, flushed and renamed, so
    `filename` contains either its old content or the complete new file.
    """
    _core.serialize_file(_entries(tensor_dict), path_of(filename), metadata_items(metadata))


def save(tensor_dict, metadata=None):
    """Return numpy arrays as safetensors bytes."""
    return _core.serialize(_entries(tensor_dict), metadata_items(metadata))


def load_file(filename):
    """Read every tensor of a safetensors file into a dict in file order."""
    reader = TensorReader(_core.TensorFile.open(path_of(filename)), _NumpyArrays("cpu"))
    return reader.read_all()


def load(data):
    """Read every tensor of safetensors bytes into a dict in file order."""
    reader = TensorReader(_core.TensorFile.from_bytes(data), _NumpyArrays("cpu"))
    return reader.read_all()
