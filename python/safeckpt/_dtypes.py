"""Dtypes of the safetensors format and their torch and numpy counterparts.

Names are the header spellings ("BF16", "F8_E4M3"). A dtype that the
installed torch lacks (float8 before torch 2.1, uint16 to uint64 before 2.3)
cannot be read with framework="pt"; numpy lacks bfloat16, the float8 types
and the sub-byte types, which framework="np" returns as raw storage (see
raw_numpy_dtype).
"""

# Element size in bits.
BITS = {
    "BOOL": 8, "U8": 8, "I8": 8, "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
    "I32": 32, "U32": 32, "F32": 32, "F64": 64, "I64": 64, "U64": 64, "C64": 64,
    "F8_E4M3": 8, "F8_E5M2": 8, "F8_E8M0": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8,
    "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
}

# torch attribute names; torch versions without an attribute lack the dtype.
_TORCH_NAMES = {
    "BOOL": "bool", "U8": "uint8", "I8": "int8", "I16": "int16", "U16": "uint16",
    "F16": "float16", "BF16": "bfloat16", "I32": "int32", "U32": "uint32",
    "F32": "float32", "F64": "float64", "I64": "int64", "U64": "uint64",
    "C64": "complex64", "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2",
    "F8_E8M0": "float8_e8m0fnu", "F8_E4M3FNUZ": "float8_e4m3fnuz",
    "F8_E5M2FNUZ": "float8_e5m2fnuz",
}

_NUMPY_NAMES = {
    "BOOL": "bool", "U8": "uint8", "I8": "int8", "I16": "int16", "U16": "uint16",
    "F16": "float16", "I32": "int32", "U32": "uint32", "F32": "float32",
    "F64": "float64", "I64": "int64", "U64": "uint64", "C64": "complex64",
}


def torch_dtype(name):
    """Return the torch dtype for a safetensors dtype name, or None."""
    import torch

    attribute = _TORCH_NAMES.get(name)
    return getattr(torch, attribute, None) if attribute else None


def torch_name(name):
    """Return the torch spelling of a safetensors dtype, e.g. "float8_e4m3fn"."""
    return _TORCH_NAMES.get(name, name.lower())


def from_torch(dtype):
    """Return the safetensors name of a torch dtype, or None."""
    import torch

    for name, attribute in _TORCH_NAMES.items():
        if getattr(torch, attribute, None) == dtype:
            return name
    return None


def numpy_dtype(name):
    """Return the numpy dtype for a safetensors dtype name, or None."""
    import numpy

    numpy_name = _NUMPY_NAMES.get(name)
    return numpy.dtype(numpy_name) if numpy_name else None


def from_numpy(dtype):
    """Return the safetensors name of a numpy dtype in native byte order, or None."""
    import numpy

    dtype = numpy.dtype(dtype)
    for name, numpy_name in _NUMPY_NAMES.items():
        if numpy.dtype(numpy_name) == dtype:
            return name
    return None


def raw_numpy_dtype(name):
    """Return the numpy dtype for the raw bits of a dtype that numpy lacks.

    16-bit BF16 becomes uint16 and the 8-bit float8 types uint8, both with the
    tensor's shape. The sub-byte types (F4, F6_*) become uint8 bytes, packed
    as in the file; raw_numpy_shape gives their shape.
    """
    import numpy

    return numpy.dtype("uint16") if BITS[name] == 16 else numpy.dtype("uint8")


def raw_numpy_shape(name, shape):
    """Return the shape of the raw numpy view of a tensor of `shape`.

    Whole-byte dtypes keep their shape. Sub-byte dtypes pack the last
    dimension into bytes when its bits fill whole bytes, and otherwise
    become one flat dimension of the tensor's bytes.
    """
    bits = BITS[name]
    if bits % 8 == 0:
        return list(shape)
    if shape and (shape[-1] * bits) % 8 == 0:
        return list(shape[:-1]) + [shape[-1] * bits // 8]
    count = 1
    for dimension in shape:
        count *= dimension
    return [count * bits // 8]


def byte_size(name, shape):
    """Return the bytes a tensor of dtype `name` and `shape` occupies."""
    count = 1
    for dimension in shape:
        count *= dimension
    return count * BITS[name] // 8
