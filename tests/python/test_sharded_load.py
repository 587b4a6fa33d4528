"""load_into for a rank whose parameters are row shards (FSDP2's Shard(0))."""

import copy

import pytest
import torch

import safeckpt
import safeckpt.torch as st
from tiny_models import TinyLM, hf_state_dict

WORLD_SIZE = 4


def chunk_rows(rows, rank, world_size):
    """The [start, stop) rows torch.chunk gives rank `rank` (empty past the end)."""
    chunk = -(-rows // world_size)
    start = min(rows, rank * chunk)
    return start, min(rows, start + chunk)


def shard_model(template, rank, world_size):
    """A copy of `template` whose parameters hold only this rank's rows."""
    model = copy.deepcopy(template)
    seen = set()
    for module in model.modules():
        for parameter in module._parameters.values():
            if parameter is None or id(parameter) in seen:
                continue
            seen.add(id(parameter))
            start, stop = chunk_rows(parameter.shape[0], rank, world_size)
            parameter.data = torch.full((stop - start, *parameter.shape[1:]), float("nan"),
                                        dtype=parameter.dtype)
    return model


def small_model(seed):
    # up_proj has 3 rows: with 4 ranks the last rank holds none of them.
    return TinyLM(vocab=10, dim=6, heads=2, hidden=3, layers=1, seed=seed)


@pytest.fixture
def bf16_checkpoint(tmp_path):
    state = {name: tensor.to(torch.bfloat16) for name, tensor in hf_state_dict(small_model(50)).items()}
    path = tmp_path / "model.safetensors"
    st.save_file(state, path)
    return path, state


@pytest.mark.parametrize("rank", range(WORLD_SIZE))
def test_row_shard_matches_load_state_dict(bf16_checkpoint, rank):
    path, state = bf16_checkpoint
    template = small_model(51)
    reference = copy.deepcopy(template)
    reference.load_state_dict(state, strict=False)
    model = shard_model(template, rank, WORLD_SIZE)

    report = safeckpt.load_into(model, path, rank=rank, world_size=WORLD_SIZE, shard=0)

    parameter_names = {name for name, _ in reference.named_parameters()}
    for name, expected in reference.state_dict().items():
        loaded = model.state_dict()[name]
        if name in parameter_names or name == "lm_head.weight":
            start, stop = chunk_rows(expected.shape[0], rank, WORLD_SIZE)
            expected = expected[start:stop]
        assert loaded.shape == expected.shape, name
        assert torch.equal(loaded, expected), name
    assert report.loaded == sorted(model.state_dict())
    assert report.missing == []
    assert report.shape_mismatch == []
    assert report.tied == [{"name": "lm_head.weight", "source": "model.embed_tokens.weight"}]
    assert report.rank["rank"] == rank
    assert report.rank["world_size"] == WORLD_SIZE


def test_row_shard_reads_only_its_rows(bf16_checkpoint):
    path, state = bf16_checkpoint
    rank = 1
    model = shard_model(small_model(52), rank, WORLD_SIZE)

    report = safeckpt.load_into(model, path, rank=rank, world_size=WORLD_SIZE, shard=0)

    expected_bytes = 0
    for name, tensor in state.items():
        rows = tensor.shape[0] if tensor.dim() else 1
        if name == "model.rotary_inv_freq":
            expected_bytes += tensor.numel() * 2  # buffers stay whole
        else:
            start, stop = chunk_rows(rows, rank, WORLD_SIZE)
            expected_bytes += (stop - start) * (tensor.numel() // rows) * 2
    assert sum(report.rank["bytes_read_per_file"].values()) == expected_bytes
    assert report.rank["sliced"] > 0


def test_trailing_rank_with_no_rows(bf16_checkpoint):
    path, _ = bf16_checkpoint
    model = shard_model(small_model(53), WORLD_SIZE - 1, WORLD_SIZE)
    assert model.model.layers[0].up_proj.weight.shape == (0, 6)

    report = safeckpt.load_into(model, path, rank=WORLD_SIZE - 1, world_size=WORLD_SIZE, shard=0)

    assert "model.layers.0.up_proj.weight" in report.loaded
    assert report.rank["empty"] >= 1


def test_wrong_rank_shows_shape_mismatch(bf16_checkpoint):
    path, _ = bf16_checkpoint
    model = shard_model(small_model(54), 0, WORLD_SIZE)

    report = safeckpt.load_into(model, path, rank=3, world_size=WORLD_SIZE, shard=0)

    mismatched = {entry["name"] for entry in report.shape_mismatch}
    assert "model.layers.0.up_proj.weight" in mismatched  # rank 3 holds 0 rows, not 1


def test_explicit_slices_by_pattern(tmp_path):
    full = torch.arange(48, dtype=torch.float32).reshape(6, 8)
    path = tmp_path / "columns.safetensors"
    st.save_file({"proj.weight": full, "proj.bias": torch.arange(8.0)}, path)
    state = {"proj.weight": torch.zeros(6, 4), "proj.bias": torch.zeros(8)}

    report = safeckpt.load_into(state, path, rank=1, world_size=2,
                                shard={r"\.weight$": 1, r"\.bias$": None})

    assert torch.equal(state["proj.weight"], full[:, 4:])
    assert torch.equal(state["proj.bias"], torch.arange(8.0))
    assert report.rank["sliced"] == 1

    state = {"proj.weight": torch.zeros(2, 3), "proj.bias": torch.zeros(8)}
    safeckpt.load_into(state, path, shard={"weight": [(1, 3), (2, 5)]})
    assert torch.equal(state["proj.weight"], full[1:3, 2:5])


def test_invalid_shard_arguments(bf16_checkpoint):
    path, _ = bf16_checkpoint
    model = small_model(55)
    with pytest.raises(ValueError, match="shard must be a dimension >= 0"):
        safeckpt.check(model, path, shard=-1)
    with pytest.raises(TypeError, match="sharding of 'x' must be"):
        safeckpt.check(model, path, shard={"x": "rows"})
    with pytest.raises(safeckpt.SafeckptError) as raised:
        safeckpt.check(model, path, rank=0, world_size=2, shard={"bias": 1})
    assert raised.value.error_id == "slice_invalid"
