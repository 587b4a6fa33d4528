"""Helpers the torch and numpy modules share: errors, metadata, save order."""

import os

from . import _core, _dtypes


def error(message, code="invalid argument", error_id="none"):
    """Return a SafeckptError for a failure found on the Python side."""
    exception = _core.SafeckptError(message)
    exception.code = code
    exception.error_id = error_id
    return exception


def path_of(filename):
    """Return `filename` (str, bytes or os.PathLike) in the form the extension takes.

    A name that is valid Unicode stays a str. Other names (bytes that are not
    UTF-8, as os.listdir returns them) go to the extension as bytes, which it
    passes to the system unchanged. A NUL byte raises ValueError, as open()
    does, because the system call would silently stop reading the name there.
    """
    path = os.fspath(filename)
    encoded = os.fsencode(path)
    if b"\0" in encoded:
        raise ValueError(f"embedded null byte in path {path!r}")
    try:
        return encoded.decode("utf-8")
    except UnicodeDecodeError:
        return encoded


def metadata_items(metadata):
    """Return the __metadata__ entries as (key, value) pairs, or None.

    Raises TypeError unless `metadata` is None or a mapping of str to str,
    the only metadata the safetensors format allows.
    """
    if metadata is None:
        return None
    if not hasattr(metadata, "items"):
        raise TypeError(f"metadata must be a dict of str to str, got {type(metadata).__name__}")
    items = []
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(
                f"metadata must map str to str, but {key!r} maps to {type(value).__name__} "
                f"{value!r}; convert values with str() or json.dumps()"
            )
        items.append((key, value))
    return items


def check_names(tensors, kind):
    """Raise unless `tensors` is a dict whose keys are all str."""
    if not isinstance(tensors, dict):
        raise ValueError(f"expected a dict of str to {kind}, got {type(tensors).__name__}")
    for name in tensors:
        if not isinstance(name, str):
            raise TypeError(f"tensor names must be str, got {type(name).__name__} {name!r}")


def save_order(entries):
    """Sort (name, dtype, shape, data) entries for writing.

    Wider elements come first, then names in order, as the safetensors
    package writes them. Each tensor then starts at a multiple of its element
    size within the data section. The header is padded to a multiple of 8
    bytes, so the file offsets are aligned too and readers that map the file
    get aligned tensors.
    """
    return sorted(entries, key=lambda entry: (-_dtypes.BITS[entry[1]], entry[0]))
