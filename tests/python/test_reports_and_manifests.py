"""Reports and manifests agree with the safeckpt command."""

import json
import re

import torch

import safeckpt
import safeckpt.torch as st
from tiny_models import CompiledModule, TinyLM, hf_state_dict, use_fp8


def mask_phase_numbers(text):
    """Replace numbers on the phase lines, which hold timings and byte counts."""
    lines = []
    for line in text.splitlines():
        if re.match(r"  (plan|read|convert) |  threads: ", line):
            line = re.sub(r"\d+(\.\d+)?", "N", line)
        lines.append(line)
    return "\n".join(lines)


def fp8_checkpoint(tmp_path):
    source = TinyLM(seed=60, fp8=True)
    use_fp8(source, seed=61)
    state = hf_state_dict(source)
    del state["model.layers.1.up_proj._extra_state"]
    state["model.unused.weight"] = torch.zeros(2)
    state = {name: tensor.to(torch.bfloat16) if tensor.is_floating_point() else tensor
             for name, tensor in state.items()}
    path = tmp_path / "checkpoint.safetensors"
    st.save_file(state, path)
    return path


def write_manifest(tmp_path, manifest):
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest, indent=1))
    return path


def test_manifest_of_live_model(tmp_path):
    model = TinyLM(seed=62, fp8=True)
    use_fp8(model, seed=63)
    tensors = safeckpt.manifest_from(model)["tensors"]

    assert list(tensors) == list(model.state_dict())
    assert tensors["lm_head.weight"]["tied_to"] == "model.embed_tokens.weight"
    assert tensors["model.embed_tokens.weight"] == {"dtype": "F32", "shape": [96, 16]}
    assert tensors["model.rotary_inv_freq"]["role"] == "buffer"
    assert tensors["model.layers.0.up_proj._extra_state"] == {
        "dtype": "U8", "shape": [20], "role": "bookkeeping"}
    assert "role" not in tensors["model.norm.weight"]


def test_manifest_of_wrapped_model_keeps_prefix():
    tensors = safeckpt.manifest_from(CompiledModule(TinyLM(seed=64)))["tensors"]
    assert all(name.startswith("_orig_mod.") for name in tensors)
    assert tensors["_orig_mod.lm_head.weight"]["tied_to"] == "_orig_mod.model.embed_tokens.weight"


def test_manifest_of_checkpoint_equals_command(tmp_path, safeckpt_command):
    path = fp8_checkpoint(tmp_path)
    command = safeckpt_command("manifest", path)
    assert command.returncode == 0, command.stderr
    assert safeckpt.manifest_from(path) == json.loads(command.stdout)
    assert safeckpt.manifest_from(str(path)) == json.loads(command.stdout)


def test_check_report_equals_command(tmp_path, safeckpt_command):
    checkpoint = fp8_checkpoint(tmp_path)
    model = TinyLM(seed=65, fp8=True)
    use_fp8(model, seed=66)
    manifest = write_manifest(tmp_path, safeckpt.manifest_from(model))

    report = safeckpt.check(model, checkpoint, bookkeeping=["rotary"], policy="strict")
    command = safeckpt_command("check", checkpoint, "--model", manifest, "--bookkeeping", "rotary",
                               "--policy", "strict")

    assert command.returncode == 1  # rejected: model.unused.weight is unexpected
    assert str(report) == command.stdout
    assert report.to_json() == safeckpt_command(
        "check", checkpoint, "--model", manifest, "--bookkeeping", "rotary", "--policy", "strict",
        "--format", "json").stdout
    assert report.rejected
    assert report.unexpected == ["model.unused.weight"]
    assert report.bookkeeping_kept == ["model.layers.1.up_proj._extra_state"]


def test_load_report_equals_command_but_timings(tmp_path, safeckpt_command):
    checkpoint = fp8_checkpoint(tmp_path)
    model = TinyLM(seed=67, fp8=True)
    use_fp8(model, seed=68)
    manifest = write_manifest(tmp_path, safeckpt.manifest_from(model))

    report = safeckpt.load_into(model, checkpoint, renames=[("^model\\.unused", "ignored")])
    command = safeckpt_command("load", checkpoint, "--model", manifest,
                               "--rename", "^model\\.unused", "ignored")

    assert command.returncode == 0, command.stderr
    assert mask_phase_numbers(str(report)) == mask_phase_numbers(command.stdout)
    assert "phases:" in str(report)
    assert report.counts.converted > 0
