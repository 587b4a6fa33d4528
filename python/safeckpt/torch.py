"""The torch functions of the safetensors package, on safeckpt's reader and writer.

    import safeckpt.torch as st        # in place of: import safetensors.torch as st

load_file, save_file, load, save, save_model and load_model behave as the
safetensors package's functions of the same names: same arguments, same
results, the same rejection of tensors that share memory. Files are
validated by safeckpt's reader, so a malformed file raises SafeckptError
naming the rule it breaks. One difference: saved files always carry
"format": "pt" in their metadata (added when absent, as Hugging Face
checkpoints have it), where the safetensors package writes no metadata
unless given some. To load into a live model without a second copy of its
weights, use safeckpt.load_into.
"""

import collections

import torch

from . import _core, _dtypes
from ._safe_open import TensorReader, _TorchArrays
from ._shared import check_names, metadata_items, path_of, save_order


def _storage(tensor):
    # torch 2 has untyped_storage(); torch 1.13 only storage().
    if hasattr(tensor, "untyped_storage"):
        return tensor.untyped_storage()
    return tensor.storage()


def _storage_address(tensor):
    if tensor.device.type == "meta":
        return 0
    return _storage(tensor).data_ptr()


def _end_address(tensor):
    """Return the address just past the tensor's last element, for any strides."""
    if tensor.numel() == 0:
        return tensor.data_ptr()
    last = sum((size - 1) * stride for size, stride in zip(tensor.shape, tensor.stride()))
    return tensor.data_ptr() + (last + 1) * tensor.element_size()


def _find_shared_tensors(tensors):
    """Return sets of names whose tensors overlap in memory, one set per region.

    Tensors in one storage that do not overlap (chunks of a split) are not
    shared. Tensors on the meta device have no memory and share nothing.
    """
    by_storage = collections.defaultdict(list)
    for name, tensor in tensors.items():
        if tensor.device.type != "meta":
            by_storage[(_storage_address(tensor), tensor.device)].append(name)

    groups = []
    for names in by_storage.values():
        ordered = sorted(names, key=lambda name: (tensors[name].data_ptr(), _end_address(tensors[name])))
        group, group_end = [], None
        for name in ordered:
            start, end = tensors[name].data_ptr(), _end_address(tensors[name])
            if group and start >= group_end:
                groups.append(set(group))
                group, group_end = [], None
            group.append(name)
            group_end = end if group_end is None else max(group_end, end)
        groups.append(set(group))
    return groups


def _is_complete(tensor):
    """Return True when a tensor covers its whole storage."""
    storage = _storage(tensor)
    return (tensor.data_ptr() == storage.data_ptr()
            and tensor.numel() * tensor.element_size() == storage.nbytes())


def _remove_duplicate_names(state_dict, *, preferred_names=None, discard_names=None):
    """Pick the name to keep for each group of tensors that share memory.

    Returns {kept name: [names to drop]}. Among the names whose tensor covers
    the whole storage, the first in sorted order is kept, preferring names
    in `preferred_names` and avoiding names in `discard_names`.
    """
    preferred_names = set(preferred_names or [])
    discard_names = set(discard_names or [])
    to_remove = collections.defaultdict(list)
    for shared in _find_shared_tensors(state_dict):
        if len(shared) == 1:
            continue
        complete = {name for name in shared if _is_complete(state_dict[name])}
        if not complete:
            raise RuntimeError(
                f"tensors {sorted(shared)} share memory but none of them covers the whole "
                "storage, so saving any one of them would not save the others; clone the "
                "tensors that should be saved separately (tensor.clone())"
            )
        keep = sorted(complete)[0]
        if complete - discard_names:
            keep = sorted(complete - discard_names)[0]
        if preferred_names & complete:
            keep = sorted(preferred_names & complete)[0]
        for name in sorted(shared):
            if name != keep:
                to_remove[keep].append(name)
    return to_remove


def _entries(tensors):
    """Validate tensors for saving and return (name, dtype, shape, bytes) in save order."""
    check_names(tensors, "torch.Tensor")
    for name, tensor in tensors.items():
        if not isinstance(tensor, torch.Tensor):
            raise ValueError(f"Key `{name}` is invalid, expected torch.Tensor but received "
                             f"{type(tensor)}")
    sparse = [name for name, tensor in tensors.items() if tensor.layout != torch.strided]
    if sparse:
        raise ValueError(f"tensors {sparse} are sparse; the safetensors format stores dense "
                         "tensors only, so convert them with .to_dense() first")

    shared = [sorted(group) for group in _find_shared_tensors(tensors) if len(group) > 1]
    if shared:
        raise RuntimeError(
            f"some tensors share memory: {shared}; saving each name would write the shared "
            "data more than once and load it back as separate tensors. Use save_model, which "
            "keeps one name per shared storage, or .clone() the tensors to store them apart"
        )

    entries = []
    for name, tensor in tensors.items():
        entries.append((name, _dtype_name(name, tensor), list(tensor.shape), _bytes_of(name, tensor)))
    return save_order(entries)


def _dtype_name(name, tensor):
    dtype = _dtypes.from_torch(tensor.dtype)
    if dtype is None:
        raise ValueError(f"tensor '{name}' has dtype {tensor.dtype}, which the safetensors "
                         "format does not store")
    return dtype


def _bytes_of(name, tensor):
    if tensor.device.type == "meta":
        raise ValueError(f"tensor '{name}' is on the meta device and has no data to save")
    if not tensor.is_contiguous():
        raise ValueError(
            f"tensor '{name}' is not contiguous; the safetensors format stores row-major data. "
            "If it is a view of another saved tensor, save only that one and slice after "
            "loading; otherwise call .contiguous() first"
        )
    return tensor.detach().to("cpu").reshape(-1).view(torch.uint8).numpy()


def save_file(tensors, filename, metadata=None):
    """Write a dict of tensors to a safetensors file, crash-safely.

    Raises ValueError for a non-contiguous or sparse tensor and RuntimeError
    for tensors that share memory, naming them. The file is written under a
    temporary name, flushed and renamed into place.
    """
    _core.serialize_file(_entries(tensors), path_of(filename), metadata_items(metadata))


def save(tensors, metadata=None):
    """Return a dict of tensors as safetensors bytes."""
    return _core.serialize(_entries(tensors), metadata_items(metadata))


def load_file(filename, device="cpu"):
    """Read every tensor of a safetensors file into a dict in file order.

    The tensors are read in parallel into new CPU tensors, then moved to
    `device` unless it is the CPU.
    """
    reader = TensorReader(_core.TensorFile.open(path_of(filename)), _TorchArrays(device))
    return reader.read_all()


def load(data):
    """Read every tensor of safetensors bytes into a dict in file order."""
    reader = TensorReader(_core.TensorFile.from_bytes(data), _TorchArrays("cpu"))
    return reader.read_all()


def save_model(model, filename, metadata=None, force_contiguous=False):
    """Save a model's state_dict, one name per shared storage.

    Tied weights are stored once, under the first name in sorted order that
    covers the whole storage. The metadata maps each dropped name to the kept
    name. With force_contiguous, non-contiguous tensors are stored as
    contiguous copies.
    """
    state_dict = model.state_dict()
    for kept_name, removed in _remove_duplicate_names(state_dict).items():
        for name in removed:
            metadata = {} if metadata is None else metadata
            metadata.setdefault(name, kept_name)
            del state_dict[name]
    if force_contiguous:
        state_dict = {name: tensor.contiguous() for name, tensor in state_dict.items()}
    try:
        save_file(state_dict, filename, metadata=metadata)
    except ValueError as exception:
        raise ValueError(f"{exception}. Or use save_model(..., force_contiguous=True)") from None


def load_model(model, filename, strict=True, device="cpu"):
    """Load a safetensors file into a model with load_state_dict.

    Names that the file stores once for tensors sharing memory (as
    save_model writes them) count as present. Returns (missing, unexpected)
    names; with strict, raises RuntimeError listing them when either is
    non-empty, as torch's load_state_dict does.
    """
    state_dict = load_file(filename, device=device)
    model_state_dict = model.state_dict()
    to_removes = _remove_duplicate_names(model_state_dict, preferred_names=state_dict.keys())
    missing, unexpected = model.load_state_dict(state_dict, strict=False)
    missing = set(missing)
    unexpected = list(unexpected)
    for removed in to_removes.values():
        for name in removed:
            if name in missing:
                missing.remove(name)
            else:
                unexpected.append(name)

    if strict and (missing or unexpected):
        message = f"Error(s) in loading state_dict for {model.__class__.__name__}:"
        if missing:
            names = ", ".join(f'"{name}"' for name in sorted(missing))
            message += f"\n    Missing key(s) in state_dict: {names}"
        if unexpected:
            names = ", ".join(f'"{name}"' for name in sorted(unexpected))
            message += f"\n    Unexpected key(s) in state_dict: {names}"
        raise RuntimeError(message)
    return missing, unexpected
