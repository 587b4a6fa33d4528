"""load_into against torch's load_state_dict on real torch.nn models."""

import copy
import json
import re

import numpy
import pytest
import torch

import safeckpt
import safeckpt.torch as st
from tiny_models import (CompiledModule, Fp8Linear, TinyLM, assert_same_state, hf_state_dict,
                         use_fp8)


def reference_load(model, state):
    """Load `state` into a copy of `model` with torch's load_state_dict."""
    reference = copy.deepcopy(model)
    reference.load_state_dict(state, strict=False)
    return reference


@pytest.fixture
def tied_checkpoint(tmp_path):
    """A TinyLM checkpoint in Hugging Face layout, lm_head.weight left out."""
    source = TinyLM(seed=1)
    state = hf_state_dict(source)
    path = tmp_path / "model.safetensors"
    st.save_file(state, path, metadata={"format": "pt"})
    return path, state


def test_tied_model_matches_load_state_dict(tied_checkpoint):
    path, state = tied_checkpoint
    model = TinyLM(seed=2)
    expected = reference_load(model, state).state_dict()

    report = safeckpt.load_into(model, path)

    assert_same_state(model.state_dict(), expected)
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    assert report.accepted
    assert report.missing == []
    assert report.unexpected == []
    assert report.tied == [{"name": "lm_head.weight", "source": "model.embed_tokens.weight"}]
    assert sorted(report.loaded) == sorted(model.state_dict())
    assert report.counts.loaded == len(model.state_dict())
    assert report.data_read


def test_load_writes_into_existing_tensors(tied_checkpoint):
    path, _ = tied_checkpoint
    model = TinyLM(seed=2)
    addresses = {name: tensor.data_ptr() for name, tensor in model.state_dict().items()}

    safeckpt.load_into(model, path)

    assert {name: tensor.data_ptr() for name, tensor in model.state_dict().items()} == addresses


def test_untied_checkpoint_last_name_wins_like_torch(tmp_path):
    # A checkpoint with different lm_head and embedding values, loaded into a
    # model that ties them: torch copies names in state_dict order, so the
    # shared memory ends with lm_head.weight's values.
    source = TinyLM(seed=3)
    state = {name: tensor.clone() for name, tensor in source.state_dict().items()}
    state["lm_head.weight"] = torch.randn_like(state["lm_head.weight"])
    path = tmp_path / "untied.safetensors"
    st.save_file(state, path)
    model = TinyLM(seed=4)
    expected = reference_load(model, state).state_dict()

    report = safeckpt.load_into(model, path)

    assert_same_state(model.state_dict(), expected)
    assert torch.equal(model.model.embed_tokens.weight, state["lm_head.weight"])
    assert report.tied == []
    assert "lm_head.weight" in report.loaded


def test_dtype_conversion_matches_copy(tmp_path):
    source = TinyLM(seed=5)
    state = {name: tensor.to(torch.bfloat16) for name, tensor in hf_state_dict(source).items()}
    path = tmp_path / "bf16.safetensors"
    st.save_file(state, path)
    model = TinyLM(seed=6)
    expected = reference_load(model, state).state_dict()

    report = safeckpt.load_into(model, path)

    assert_same_state(model.state_dict(), expected)
    assert report.counts.converted == len(model.state_dict())  # lm_head.weight too
    assert {(entry["from"], entry["to"]) for entry in report.converted} == {("BF16", "F32")}


def test_bf16_model_loads_f32_with_rounding_like_torch(tmp_path):
    source = TinyLM(seed=7)
    state = hf_state_dict(source)
    path = tmp_path / "f32.safetensors"
    st.save_file(state, path)
    model = TinyLM(seed=8).to(torch.bfloat16)
    expected = reference_load(model, state).state_dict()

    safeckpt.load_into(model, path)

    assert_same_state(model.state_dict(), expected)


def test_extra_state_loaded_and_set(tmp_path):
    source = TinyLM(seed=9, fp8=True)
    use_fp8(source, seed=10)
    state = hf_state_dict(source)
    extra_names = [name for name in state if name.endswith("._extra_state")]
    assert len(extra_names) == 4  # up_proj and down_proj in two layers
    path = tmp_path / "fp8.safetensors"
    st.save_file(state, path)

    model = TinyLM(seed=11, fp8=True)
    use_fp8(model, seed=12)  # same sizes, other values
    reference = reference_load(model, state)

    report = safeckpt.load_into(model, path)

    assert_same_state(model.state_dict(), reference.state_dict())
    for loaded, expected in zip(model.modules(), reference.modules()):
        if isinstance(loaded, Fp8Linear):
            assert torch.equal(loaded.fp8_meta, expected.fp8_meta)
    assert report.bookkeeping_loaded == sorted(extra_names)
    assert report.loaded == sorted(name for name in model.state_dict() if name not in extra_names)
    assert report.missing == []


def test_extra_state_kept_when_checkpoint_has_none(tmp_path):
    # A Hugging Face checkpoint has no _extra_state entries: the module
    # keeps its state and nothing is reported missing.
    source = TinyLM(seed=13)
    path = tmp_path / "hf.safetensors"
    st.save_file(hf_state_dict(source), path)
    model = TinyLM(seed=14, fp8=True)
    use_fp8(model, seed=15)
    metadata_before = [module.fp8_meta.clone() for module in model.modules()
                       if isinstance(module, Fp8Linear)]

    report = safeckpt.load_into(model, path)

    assert report.missing == []
    assert report.counts.bookkeeping_kept == 4
    assert all(name.endswith("._extra_state") for name in report.bookkeeping_kept)
    metadata_after = [module.fp8_meta for module in model.modules() if isinstance(module, Fp8Linear)]
    assert all(map(torch.equal, metadata_after, metadata_before))
    assert torch.equal(model.model.norm.weight, source.model.norm.weight)


def test_extra_state_of_other_size_ignored(tmp_path):
    # FP8 metadata in the checkpoint, a model not using FP8: the sizes
    # differ, so the checkpoint entries are ignored and each module keeps
    # its (empty) state.
    source = TinyLM(seed=16, fp8=True)
    use_fp8(source, seed=17)
    path = tmp_path / "fp8.safetensors"
    st.save_file(hf_state_dict(source), path)
    model = TinyLM(seed=18, fp8=True)

    report = safeckpt.load_into(model, path)

    assert report.counts.bookkeeping_ignored == 4
    assert report.counts.bookkeeping_loaded == 0
    assert not any(module.fp8_used for module in model.modules() if isinstance(module, Fp8Linear))
    assert torch.equal(model.model.norm.weight, source.model.norm.weight)


def test_compiled_model_loads_plain_checkpoint(tied_checkpoint):
    path, state = tied_checkpoint
    model = CompiledModule(TinyLM(seed=19))
    assert all(name.startswith("_orig_mod.") for name in model.state_dict())
    expected = reference_load(model._orig_mod, state).state_dict()

    report = safeckpt.load_into(model, path)

    assert_same_state(model._orig_mod.state_dict(), expected)
    assert report.prefixes_stripped == [{"side": "model", "prefix": "_orig_mod."}]
    assert report.loaded == sorted(model.state_dict())
    assert report.missing == []
    assert report.tied == [{"name": "_orig_mod.lm_head.weight",
                            "source": "model.embed_tokens.weight"}]


def test_plain_model_loads_compiled_checkpoint(tmp_path):
    source = CompiledModule(TinyLM(seed=20))
    state = {name: tensor.clone() for name, tensor in source.state_dict().items()
             if name != "_orig_mod.lm_head.weight"}
    path = tmp_path / "compiled.safetensors"
    st.save_file(state, path)
    model = TinyLM(seed=21)
    plain_state = {name[len("_orig_mod."):]: tensor for name, tensor in state.items()}
    expected = reference_load(model, plain_state).state_dict()

    report = safeckpt.load_into(model, path)

    assert_same_state(model.state_dict(), expected)
    assert report.prefixes_stripped == [{"side": "checkpoint", "prefix": "_orig_mod."}]
    assert report.loaded == sorted(model.state_dict())
    assert report.unexpected == []


def test_renames_map_checkpoint_names(tmp_path):
    source = TinyLM(seed=22)
    state = {name.replace("model.", "backbone.", 1): tensor
             for name, tensor in hf_state_dict(source).items()}
    path = tmp_path / "renamed.safetensors"
    st.save_file(state, path)
    model = TinyLM(seed=23)

    report = safeckpt.load_into(model, path, renames=[(r"^backbone\.", "model.")])

    assert report.missing == []
    assert report.unexpected == []
    assert_same_state(model.state_dict(), reference_load(model, hf_state_dict(source)).state_dict())


def test_strict_policy_rejects_and_reads_nothing(tmp_path):
    source = TinyLM(seed=24)
    state = hf_state_dict(source)
    del state["model.norm.bias"]
    path = tmp_path / "partial.safetensors"
    st.save_file(state, path)
    model = TinyLM(seed=25)
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}

    report = safeckpt.load_into(model, path, policy="strict")

    assert report.rejected
    assert not report.data_read
    assert report.missing == ["model.norm.bias"]
    assert_same_state(model.state_dict(), before)
    with pytest.raises(safeckpt.LoadRejectedError, match="strict policy: 1 tensor missing") as raised:
        report.raise_if_failed()
    assert raised.value.report is report


def test_default_policy_reports_missing_and_loads_the_rest(tmp_path):
    source = TinyLM(seed=26)
    state = hf_state_dict(source)
    del state["model.norm.bias"]
    path = tmp_path / "partial.safetensors"
    st.save_file(state, path)
    model = TinyLM(seed=27)
    expected = reference_load(model, state).state_dict()

    report = safeckpt.load_into(model, path)

    report.raise_if_failed()
    assert report.missing == ["model.norm.bias"]
    assert_same_state(model.state_dict(), expected)


def test_shape_mismatch_reported_and_left_alone(tmp_path):
    source = TinyLM(seed=28)
    state = hf_state_dict(source)
    state["model.norm.weight"] = torch.ones(17)
    path = tmp_path / "mismatch.safetensors"
    st.save_file(state, path)
    model = TinyLM(seed=29)
    norm_before = model.model.norm.weight.clone()

    report = safeckpt.load_into(model, path)

    assert report.shape_mismatch == [{"name": "model.norm.weight",
                                      "checkpoint_name": "model.norm.weight",
                                      "expected": [16], "found": [17]}]
    assert torch.equal(model.model.norm.weight, norm_before)
    assert torch.equal(model.model.norm.bias, source.model.norm.bias)


def test_unexpected_tensors_reported(tmp_path):
    state = hf_state_dict(TinyLM(seed=30))
    state["model.extra.weight"] = torch.zeros(3)
    path = tmp_path / "extra.safetensors"
    st.save_file(state, path)

    report = safeckpt.load_into(TinyLM(seed=31), path)

    assert report.unexpected == ["model.extra.weight"]


def test_sharded_checkpoint_directory(tmp_path):
    state = hf_state_dict(TinyLM(seed=32))
    names = list(state)
    shards = {"model-00001-of-00002.safetensors": names[: len(names) // 2],
              "model-00002-of-00002.safetensors": names[len(names) // 2:]}
    weight_map = {}
    for file, shard_names in shards.items():
        st.save_file({name: state[name] for name in shard_names}, tmp_path / file)
        weight_map.update({name: file for name in shard_names})
    (tmp_path / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": 0}, "weight_map": weight_map}))
    model = TinyLM(seed=33)
    expected = reference_load(model, state).state_dict()

    report = safeckpt.load_into(model, tmp_path)

    assert_same_state(model.state_dict(), expected)
    assert report.missing == []


def test_state_dict_of_numpy_arrays(tmp_path):
    path = tmp_path / "arrays.safetensors"
    st.save_file({"a": torch.arange(6, dtype=torch.float32).reshape(2, 3),
                  "b": torch.arange(4, dtype=torch.int32)}, path)
    arrays = {"a": numpy.zeros((2, 3), dtype=numpy.float64), "b": numpy.zeros(4, dtype=numpy.int64)}

    report = safeckpt.load_into(arrays, path)

    assert numpy.array_equal(arrays["a"], numpy.arange(6).reshape(2, 3))
    assert numpy.array_equal(arrays["b"], numpy.arange(4))
    assert report.counts.converted == 2


def test_non_contiguous_parameter_rejected(tied_checkpoint):
    path, _ = tied_checkpoint
    model = TinyLM(seed=34)
    model.model.layers[0].up_proj.weight = torch.nn.Parameter(
        torch.zeros(16, 40).t())  # a transposed view
    with pytest.raises(ValueError, match=r"'model\.layers\.0\.up_proj\.weight' is not contiguous"):
        safeckpt.load_into(model, path)


def test_overlapping_views_rejected(tmp_path):
    base = torch.zeros(10)
    state = {"first": base[0:6], "second": base[4:10]}
    path = tmp_path / "views.safetensors"
    st.save_file({"first": torch.ones(6), "second": torch.ones(6)}, path)
    with pytest.raises(ValueError, match="share part of their memory"):
        safeckpt.load_into(state, path)


def test_meta_model_checked_without_memory(tied_checkpoint):
    path, _ = tied_checkpoint
    model = TinyLM(seed=35).to("meta")
    # Module.to("meta") makes new Parameter objects, so tie them again as
    # Hugging Face's tie_weights does.
    model.lm_head.weight = model.model.embed_tokens.weight

    report = safeckpt.check(model, path)

    assert not report.data_read
    assert report.missing == []
    assert report.tied == [{"name": "lm_head.weight", "source": "model.embed_tokens.weight"}]


def test_invalid_arguments_raise():
    model = torch.nn.Linear(2, 2)
    with pytest.raises(ValueError, match="unknown policy 'lenient'"):
        safeckpt.check(model, "unused", policy="lenient")
    with pytest.raises(ValueError, match="threads must be a positive int"):
        safeckpt.load_into(model, "unused", threads=0)
    with pytest.raises(TypeError, match="renames must be"):
        safeckpt.check(model, "unused", renames=["^a"])
    with pytest.raises(ValueError, match=r"rank must be an int in \[0, 2\)"):
        safeckpt.check(model, "unused", rank=2, world_size=2)
    with pytest.raises(TypeError, match="expected a torch.nn.Module or a state dict"):
        safeckpt.check([1, 2], "unused")


def test_invalid_rename_pattern_is_library_error(tied_checkpoint):
    path, _ = tied_checkpoint
    with pytest.raises(safeckpt.SafeckptError) as raised:
        safeckpt.check(TinyLM(seed=36), path, renames=[("(", "x")])
    assert raised.value.error_id == "rule_invalid"
    assert "(" in str(raised.value)


def test_missing_checkpoint_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError) as raised:
        safeckpt.load_into(TinyLM(seed=37), tmp_path / "absent.safetensors")
    assert isinstance(raised.value, safeckpt.SafeckptError)
    assert str(tmp_path / "absent.safetensors") in str(raised.value)


def test_report_json_has_every_attribute(tied_checkpoint):
    path, _ = tied_checkpoint
    report = safeckpt.load_into(TinyLM(seed=38), path)
    data = json.loads(report.to_json())
    for key, value in data.items():
        if key == "counts":
            assert vars(report.counts) == value
        else:
            assert getattr(report, key) == value, key
    assert re.match(r"<LoadReport '.*' accepted: loaded=\d+ missing=0", repr(report))
