"""The expected side of a load, built from a live torch model or a state dict.

Every state_dict entry becomes one expected tensor with its safetensors
dtype, shape and role: parameters, persistent buffers, and the entries that
modules overriding get_extra_state add (TransformerEngine's `_extra_state`),
which are bookkeeping. Entries whose memory is the same (tied weights such
as lm_head.weight and the embedding) are recorded as aliases of the first of
them, in state_dict order.
"""

from dataclasses import dataclass
from typing import Any

from . import _dtypes

_EXTRA_STATE_SUFFIX = "_extra_state"


@dataclass
class ModelTensor:
    """One entry of the model's state."""

    name: str
    dtype: str  # safetensors name, e.g. "BF16"
    shape: list
    role: str  # "parameter", "buffer" or "bookkeeping"
    value: Any  # the torch tensor or numpy array, or a non-tensor extra state
    alias_of: int = -1  # index of the first entry sharing this memory, or -1
    # For extra state: the module whose set_extra_state receives the loaded
    # value, and the fresh tensor the value is loaded into.
    extra_state_module: Any = None
    destination: Any = None

    def as_load_entry(self, with_memory):
        """Return the (name, dtype, shape, role, alias_of, buffer) tuple for _core."""
        buffer = _byte_view(self.destination) if with_memory and self.destination is not None \
            else None
        return (self.name, self.dtype, self.shape, self.role, self.alias_of, buffer)


def _is_torch_tensor(value):
    torch = _torch_module()
    return torch is not None and isinstance(value, torch.Tensor)


def _is_numpy_array(value):
    import numpy

    return isinstance(value, numpy.ndarray)


def _torch_module():
    try:
        import torch
    except ImportError:
        return None
    return torch


def _byte_view(value):
    """Return a writable uint8 numpy view of a tensor's or array's memory."""
    if _is_numpy_array(value):
        return value.reshape(-1).view("uint8")
    torch = _torch_module()
    return value.detach().reshape(-1).view(torch.uint8).numpy()


def _describe_value(name, value):
    """Return (dtype, shape) of a tensor or array, or raise TypeError."""
    if _is_torch_tensor(value):
        dtype = _dtypes.from_torch(value.dtype)
        if dtype is None:
            raise TypeError(f"tensor '{name}': torch dtype {value.dtype} has no safetensors "
                            "dtype")
        return dtype, list(value.shape)
    if _is_numpy_array(value):
        dtype = _dtypes.from_numpy(value.dtype.newbyteorder("="))
        if dtype is None:
            raise TypeError(f"array '{name}': numpy dtype {value.dtype} has no safetensors dtype")
        return dtype, list(value.shape)
    raise TypeError(
        f"'{name}' is a {type(value).__name__}; a state dict maps names to torch tensors or "
        "numpy arrays"
    )


def _check_writable(name, value):
    """Raise ValueError unless `value` is CPU memory that load_into can fill in place."""
    if _is_numpy_array(value):
        if not value.flags.c_contiguous or not value.flags.writeable:
            raise ValueError(f"array '{name}' is not a writable C-contiguous array; load_into "
                             "writes each array in place")
        if not value.dtype.isnative:
            raise ValueError(f"array '{name}' has non-native byte order {value.dtype}")
        return
    if value.device.type != "cpu":
        raise ValueError(
            f"tensor '{name}' is on device {value.device}; load_into writes CPU tensors in place, "
            "so load into the model on the CPU and move it afterwards"
        )
    if value.layout != _torch_module().strided or value.is_quantized:
        raise ValueError(f"tensor '{name}' has layout {value.layout}; load_into writes dense "
                         "tensors only")
    if not value.is_contiguous():
        raise ValueError(
            f"tensor '{name}' is not contiguous (shape {list(value.shape)}, stride "
            f"{list(value.stride())}); load_into writes row-major memory in place, so make the "
            "parameter contiguous first"
        )


def _memory_range(value):
    """Return (address, byte count) of a tensor's or array's elements."""
    if _is_numpy_array(value):
        return value.__array_interface__["data"][0], value.nbytes
    return value.data_ptr(), value.numel() * value.element_size()


def _extra_state_modules(module):
    """Map the state_dict key of every get_extra_state override to its module."""
    import torch

    default = torch.nn.Module.get_extra_state
    keys = {}
    for prefix, submodule in module.named_modules(remove_duplicate=False):
        if getattr(type(submodule), "get_extra_state", default) is not default:
            keys[f"{prefix}.{_EXTRA_STATE_SUFFIX}" if prefix else _EXTRA_STATE_SUFFIX] = submodule
    return keys


def _parameter_identities(module):
    """Map every parameter's state_dict name to id() of its Parameter object."""
    identities = {}
    for prefix, submodule in module.named_modules(remove_duplicate=False):
        for name, parameter in submodule._parameters.items():
            if parameter is not None:
                identities[f"{prefix}.{name}" if prefix else name] = id(parameter)
    return identities


def _is_module(value):
    torch = _torch_module()
    return torch is not None and isinstance(value, torch.nn.Module)


def _extra_state_entry(name, value, module):
    """Describe an extra-state entry, which loads into a fresh tensor for set_extra_state."""
    if _is_torch_tensor(value):
        dtype, shape = _describe_value(name, value)
        destination = _torch_module().empty(shape, dtype=value.dtype)
    else:
        # A non-tensor extra state (a dict, io.BytesIO) has no safetensors
        # form. It is described as empty bytes, so only a checkpoint entry of
        # zero bytes matches it.
        dtype, shape, destination = "U8", [0], None
    return ModelTensor(name, dtype, shape, "bookkeeping", value,
                       extra_state_module=module, destination=destination)


def describe(module_or_state_dict, with_memory):
    """Return the ModelTensor list of a torch module or a state dict.

    With `with_memory`, every tensor must be CPU memory that can be written
    in place, and ValueError names the first that is not. Without it, only
    names, dtypes and shapes matter, so meta or GPU tensors are fine.
    """
    if _is_module(module_or_state_dict):
        state = module_or_state_dict.state_dict()
        extra_states = _extra_state_modules(module_or_state_dict)
        parameters = _parameter_identities(module_or_state_dict)
    elif hasattr(module_or_state_dict, "items"):
        state, extra_states, parameters = module_or_state_dict, {}, None
    else:
        raise TypeError(
            f"expected a torch.nn.Module or a state dict, got {type(module_or_state_dict).__name__}"
        )

    entries = []
    for name, value in state.items():
        if not isinstance(name, str):
            raise TypeError(f"state dict names must be str, got {type(name).__name__} {name!r}")
        if name in extra_states:
            entries.append(_extra_state_entry(name, value, extra_states[name]))
            continue
        dtype, shape = _describe_value(name, value)
        role = _role(name, parameters)
        entries.append(ModelTensor(name, dtype, shape, role, value, destination=value))

    if with_memory:
        for entry in entries:
            if entry.extra_state_module is None:
                _check_writable(entry.name, entry.value)
    _find_aliases(entries, parameters or {})
    return entries


def _role(name, parameters):
    if name == _EXTRA_STATE_SUFFIX or name.endswith("." + _EXTRA_STATE_SUFFIX):
        return "bookkeeping"
    if parameters is None or name in parameters:
        return "parameter"
    return "buffer"


def _find_aliases(entries, identities):
    """Set alias_of for entries that are the same tensor; raise on a partial overlap.

    Two entries are the same tensor when they name the same Parameter
    object, which `identities` maps names to, or cover the same memory with
    the same dtype and shape. Parameter identity also covers tensors on the
    meta device, which have no memory. Tensors of zero bytes share nothing.
    Each group's root is its first entry in state_dict order.
    """
    roots = list(range(len(entries)))

    def find(index):
        while roots[index] != index:
            index = roots[index]
        return index

    def union(a, b):
        a, b = find(a), find(b)
        roots[max(a, b)] = min(a, b)

    first_of = {}  # identity or memory key -> first entry index

    def join(index, key):
        if key in first_of:
            union(index, first_of[key])
        else:
            first_of[key] = index

    for index, entry in enumerate(entries):
        if entry.name in identities:
            join(index, ("parameter", identities[entry.name]))

    previous = None  # (device, start, end, index) of the range reaching furthest
    for device, start, end, index in _memory_ranges(entries):
        key = ("memory", device, start, end, entries[index].dtype, tuple(entries[index].shape))
        overlaps = previous is not None and previous[0] == device and start < previous[2]
        if overlaps and key not in first_of:
            raise ValueError(
                f"tensors '{entries[previous[3]].name}' and '{entries[index].name}' share part "
                "of their memory; load_into fills each name in place, which works for tensors "
                "that are the same (tied weights) but not for overlapping views"
            )
        join(index, key)
        if not overlaps or end > previous[2]:
            previous = (device, start, end, index)

    for index, entry in enumerate(entries):
        root = find(index)
        entry.alias_of = -1 if root == index else root


def _memory_ranges(entries):
    """Return sorted (device, start, end, index) of every entry with memory."""
    ranges = []
    for index, entry in enumerate(entries):
        value = entry.destination
        if value is None:
            continue
        if _is_torch_tensor(value) and (value.device.type == "meta"
                                        or value.layout != _torch_module().strided):
            continue
        address, size = _memory_range(value)
        if size > 0:
            device = str(value.device) if _is_torch_tensor(value) else "cpu"
            ranges.append((device, address, address + size, index))
    ranges.sort()
    return ranges
