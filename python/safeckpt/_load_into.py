"""load_into, check and manifest_from: loading into live models."""

import json
import types

from . import _core, _model_state
from ._shared import path_of


class LoadRejectedError(_core.SafeckptError):
    """The policy rejected a load; `report` is the LoadReport."""

    def __init__(self, report):
        reasons = "; ".join(report.rejection_reasons)
        super().__init__(f"{report.checkpoint}: load rejected: {reasons}")
        self.report = report
        self.code = "failed precondition"
        self.error_id = "load_rejected"


class LoadReport:
    """What a load did: the report of `safeckpt load` as an object.

    Every field of the command's JSON report (`safeckpt load --format json`)
    is an attribute of the same name. Lists of names: loaded, missing,
    unexpected, bookkeeping_loaded, bookkeeping_kept, bookkeeping_ignored,
    warnings and rejection_reasons. Lists of dicts: shape_mismatch,
    converted, tied, prefixes_stripped, partial_prefixes and stale_copies.
    Also checkpoint, policy, data_read, accepted, phases, threads and rank.
    `counts` has one attribute per count (counts.loaded, counts.missing, ...).

    str(report) is the command's text report; to_json() its JSON report.
    """

    def __init__(self, text, json_text):
        self._text = text
        self._json = json_text
        for key, value in json.loads(json_text).items():
            if key == "counts":
                value = types.SimpleNamespace(**value)
            setattr(self, key, value)

    @property
    def rejected(self):
        """True when the policy rejected the load, so nothing was read."""
        return not self.accepted

    def raise_if_failed(self):
        """Raise LoadRejectedError when the policy rejected the load.

        Mismatches that the policy allows (missing tensors under the default
        policy, say) are in the report but do not raise.
        """
        if self.rejected:
            raise LoadRejectedError(self)

    def to_json(self):
        """Return the report as the command's JSON text."""
        return self._json

    def __str__(self):
        return self._text

    def __repr__(self):
        counts = self.counts
        return (
            f"<LoadReport {self.checkpoint!r} {'rejected' if self.rejected else 'accepted'}: "
            f"loaded={counts.loaded} missing={counts.missing} unexpected={counts.unexpected} "
            f"shape_mismatch={counts.shape_mismatch}>"
        )


def _rename_pairs(renames):
    pairs = list(renames.items()) if hasattr(renames, "items") else list(renames)
    for pair in pairs:
        if (not isinstance(pair, (tuple, list)) or len(pair) != 2
                or not all(isinstance(part, str) for part in pair)):
            raise TypeError(
                f"renames must be (pattern, replacement) pairs of str, got {pair!r}"
            )
    return [tuple(pair) for pair in pairs]


def _bookkeeping_patterns(bookkeeping):
    patterns = [bookkeeping] if isinstance(bookkeeping, str) else list(bookkeeping)
    for pattern in patterns:
        if not isinstance(pattern, str):
            raise TypeError(f"bookkeeping patterns must be str, got {pattern!r}")
    return patterns


def _thread_count(threads):
    if threads is None:
        return 0
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive int or None (one per core), got {threads!r}")
    return threads


def _check_rank(rank, world_size):
    if isinstance(world_size, bool) or not isinstance(world_size, int) or world_size < 1:
        raise ValueError(f"world_size must be a positive int, got {world_size!r}")
    if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < world_size:
        raise ValueError(f"rank must be an int in [0, {world_size}), got {rank!r}")


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _sharding_spec(key, spec):
    """Return (key, kind, dim, ranges) for one sharding of the shard argument."""
    if spec is None or spec == "replicate":
        return (key, "replicate", 0, [])
    if _is_int(spec) and spec >= 0:
        return (key, "shard", spec, [])
    if isinstance(spec, (list, tuple)) and all(
            isinstance(pair, (list, tuple)) and len(pair) == 2 and all(map(_is_int, pair))
            for pair in spec):
        return (key, "slice", 0, [tuple(pair) for pair in spec])
    raise TypeError(
        f"sharding of {key!r} must be a dimension (int >= 0), None or \"replicate\", or a "
        f"list of (start, stop) pairs, got {spec!r}"
    )


def _sharding_specs(entries, shard):
    """Return the (by_name, rules) sharding specs for _core.load_into."""
    if shard is None:
        return [], []
    if _is_int(shard):
        if shard < 0:
            raise ValueError(f"shard must be a dimension >= 0, got {shard}")
        # FSDP shards parameters; buffers and extra state stay whole on every rank.
        return [
            _sharding_spec(entry.name, shard)
            for entry in entries
            if entry.role == "parameter" and len(entry.shape) > shard
        ], []
    if hasattr(shard, "items"):
        return [], [_sharding_spec(pattern, spec) for pattern, spec in shard.items()]
    raise TypeError(f"shard must be None, a dimension or a dict of pattern to sharding, got "
                    f"{type(shard).__name__}")


def _run(module_or_state_dict, checkpoint, *, renames, bookkeeping, policy, rank, world_size,
         shard, threads, read_data):
    """Describe the model and check or load the checkpoint against it."""
    entries = _model_state.describe(module_or_state_dict, with_memory=read_data)
    _check_rank(rank, world_size)
    by_name, rules = _sharding_specs(entries, shard)
    text, json_text = _core.load_into(
        path_of(checkpoint),
        [entry.as_load_entry(read_data) for entry in entries],
        _rename_pairs(renames),
        _bookkeeping_patterns(bookkeeping),
        policy,
        threads,
        read_data,
        rank,
        world_size,
        by_name,
        rules,
    )
    return entries, LoadReport(text, json_text)


def load_into(module_or_state_dict, checkpoint, *, renames=(), bookkeeping=(), policy="default",
              rank=0, world_size=1, shard=None, threads=None):
    """Load a checkpoint straight into the tensors of a live model.

    `module_or_state_dict` is a torch.nn.Module or a dict of name to CPU
    tensor (or numpy array). Each matched checkpoint tensor is read into the
    existing tensor's memory and converted to its dtype on the way, so no
    second copy of the model is made. `checkpoint` is a .safetensors file or
    a directory (with model.safetensors.index.json, or of *.safetensors
    files).

    renames: (pattern, replacement) pairs, RE2 syntax, the first matching
        rule renames a checkpoint name (\\1 refers to a group).
    bookkeeping: more regex patterns for bookkeeping entries; names ending
        in _extra_state always are.
    policy: "default" (mismatches are reported), "strict" (any missing,
        unexpected or shape-mismatched tensor rejects the load) or "subset"
        (missing allowed, checkpoint weights the model lacks reject it).
    rank, world_size, shard: for a model whose tensors are this rank's parts
        of the checkpoint's tensors. shard=d splits dimension d of every
        parameter as torch.chunk does (FSDP2's Shard(d)); buffers and extra
        state stay whole. A dict maps RE2 patterns (first match wins) to a
        dimension, None for whole tensors, or an explicit slice
        [(start, stop), ...]. The global shape of each tensor is the
        checkpoint's, and only this rank's part is read.
    threads: workers for reads and conversion; None means one per core.

    Extra state loaded from the checkpoint is passed to the module's
    set_extra_state, as load_state_dict does. Returns the LoadReport; a load
    the policy rejects reads nothing and is not an exception until
    report.raise_if_failed(). Raises SafeckptError for an invalid checkpoint
    or a failed read (tensors may then be partly written), ValueError for a
    tensor that cannot be written in place (not on the CPU, not contiguous).
    The GIL is released while reading.
    """
    entries, report = _run(module_or_state_dict, checkpoint, renames=renames,
                           bookkeeping=bookkeeping, policy=policy, rank=rank,
                           world_size=world_size, shard=shard, threads=_thread_count(threads),
                           read_data=True)
    _set_extra_states(entries, report)
    return report


def check(module_or_state_dict, checkpoint, *, renames=(), bookkeeping=(), policy="default",
          rank=0, world_size=1, shard=None):
    """Return the LoadReport of load_into without reading any tensor data.

    Only names, dtypes and shapes are used, so the model may live on any
    device, the meta device included. The report is that of `safeckpt check`.
    """
    _, report = _run(module_or_state_dict, checkpoint, renames=renames, bookkeeping=bookkeeping,
                     policy=policy, rank=rank, world_size=world_size, shard=shard, threads=0,
                     read_data=False)
    return report


def _set_extra_states(entries, report):
    loaded = set(report.bookkeeping_loaded)
    for entry in entries:
        if entry.extra_state_module is not None and entry.name in loaded:
            entry.extra_state_module.set_extra_state(entry.destination)


def manifest_from(source):
    """Return the manifest of a live model, a state dict or a checkpoint, as a dict.

    The dict has the structure of manifest files (`safeckpt check --model`);
    write it with json.dump. For a model, parameters and buffers keep their
    dtype and shape, extra-state entries (get_extra_state overrides, as in
    TransformerEngine modules) have role "bookkeeping", and a tensor that is
    the same as an earlier one (tied weights) has "tied_to" that name. A str
    or os.PathLike is opened as a checkpoint and described exactly, as
    `safeckpt manifest` does.
    """
    if isinstance(source, (str, bytes)) or hasattr(source, "__fspath__"):
        return json.loads(_core.manifest_from_checkpoint(path_of(source)))

    entries = _model_state.describe(source, with_memory=False)
    rows = [
        (entry.name, entry.dtype, entry.shape, entry.role,
         entries[entry.alias_of].name if entry.alias_of >= 0 else "")
        for entry in entries
    ]
    return json.loads(_core.format_manifest(rows))
