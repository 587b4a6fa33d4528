"""safeckpt.torch: the safetensors.torch functions."""

import json
import os
import struct

import pytest
import torch

import safeckpt
import safeckpt.torch as st
from tiny_models import TinyLM

TORCH_DTYPES = [torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64,
                torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.complex64]


def read_header(path):
    raw = path.read_bytes()
    length = struct.unpack("<Q", raw[:8])[0]
    return length, json.loads(raw[8:8 + length])


def random_tensor(dtype, shape, seed):
    generator = torch.Generator().manual_seed(seed)
    if dtype == torch.bool:
        return torch.randint(0, 2, shape, generator=generator).bool()
    if dtype.is_floating_point or dtype.is_complex:
        return torch.randn(shape, generator=generator, dtype=torch.float64).to(dtype)
    info = torch.iinfo(dtype)
    return torch.randint(info.min, info.max, shape, generator=generator, dtype=torch.int64).to(dtype)


@pytest.fixture
def every_dtype():
    return {f"t_{str(dtype).split('.')[-1]}": random_tensor(dtype, (3, 5), seed)
            for seed, dtype in enumerate(TORCH_DTYPES)}


def test_save_file_load_file_round_trip(tmp_path, every_dtype):
    path = tmp_path / "all.safetensors"
    st.save_file(every_dtype, path)
    loaded = st.load_file(path)
    assert sorted(loaded) == sorted(every_dtype)
    for name, tensor in every_dtype.items():
        assert loaded[name].dtype == tensor.dtype, name
        assert torch.equal(loaded[name], tensor), name


def test_save_load_bytes_round_trip(every_dtype):
    loaded = st.load(st.save(every_dtype, metadata={"format": "pt"}))
    for name, tensor in every_dtype.items():
        assert torch.equal(loaded[name], tensor), name


def test_bytes_equal_file_contents(tmp_path, every_dtype):
    path = tmp_path / "same.safetensors"
    st.save_file(every_dtype, path, metadata={"a": "b"})
    assert st.save(every_dtype, metadata={"a": "b"}) == path.read_bytes()


def test_bfloat16_bits_round_trip_exactly(tmp_path):
    # Every 16-bit pattern, NaN payloads and subnormals included.
    bits = torch.arange(-32768, 32768, dtype=torch.int32).to(torch.int16)
    tensor = bits.view(torch.bfloat16)
    path = tmp_path / "bf16.safetensors"
    st.save_file({"all": tensor}, path)
    assert torch.equal(st.load_file(path)["all"].view(torch.int16), bits)
    assert torch.equal(st.load(st.save({"all": tensor}))["all"].view(torch.int16), bits)


def test_scalars_and_empty_tensors(tmp_path):
    tensors = {"scalar": torch.tensor(3.25), "empty": torch.zeros(0, 4, dtype=torch.int32),
               "empty_scalarish": torch.zeros(2, 0)}
    path = tmp_path / "edge.safetensors"
    st.save_file(tensors, path)
    loaded = st.load_file(path)
    for name, tensor in tensors.items():
        assert loaded[name].shape == tensor.shape
        assert torch.equal(loaded[name], tensor)


def test_saved_layout_is_aligned(tmp_path, every_dtype):
    path = tmp_path / "aligned.safetensors"
    st.save_file(every_dtype, path)
    length, header = read_header(path)
    assert (8 + length) % 8 == 0
    sizes = {"BOOL": 1, "U8": 1, "I8": 1, "I16": 2, "F16": 2, "BF16": 2, "I32": 4, "F32": 4,
             "F64": 8, "I64": 8, "C64": 8}
    for name, entry in header.items():
        if name != "__metadata__":
            assert entry["data_offsets"][0] % sizes[entry["dtype"]] == 0, name


def test_load_file_returns_file_order(tmp_path, every_dtype):
    path = tmp_path / "order.safetensors"
    st.save_file(every_dtype, path)
    _, header = read_header(path)
    by_offset = sorted((entry["data_offsets"], name) for name, entry in header.items()
                       if name != "__metadata__")
    assert list(st.load_file(path)) == [name for _, name in by_offset]


def test_metadata_written_and_validated(tmp_path):
    path = tmp_path / "meta.safetensors"
    st.save_file({"x": torch.ones(1)}, path, metadata={"format": "pt", "step": "10"})
    with safeckpt.safe_open(path, "pt") as f:
        assert f.metadata() == {"format": "pt", "step": "10"}
    with pytest.raises(TypeError, match="metadata must map str to str"):
        st.save_file({"x": torch.ones(1)}, path, metadata={"step": 10})


def test_metadata_defaults_to_format_pt(tmp_path):
    path = tmp_path / "plain.safetensors"
    st.save_file({"x": torch.ones(1)}, path)
    with safeckpt.safe_open(path, "pt") as f:
        assert f.metadata() == {"format": "pt"}


def test_shared_tensors_rejected_with_names(tmp_path):
    base = torch.zeros(4, 4)
    tensors = {"a": base, "b": base, "c": torch.ones(2)}
    with pytest.raises(RuntimeError, match=r"some tensors share memory: \[\['a', 'b'\]\]"):
        st.save_file(tensors, tmp_path / "shared.safetensors")
    with pytest.raises(RuntimeError, match="share memory"):
        st.save(tensors)


def test_disjoint_views_of_one_storage_allowed(tmp_path):
    base = torch.arange(8.0)
    first, second = base[:4], base[4:]
    path = tmp_path / "chunks.safetensors"
    st.save_file({"first": first, "second": second}, path)
    loaded = st.load_file(path)
    assert torch.equal(loaded["first"], first)
    assert torch.equal(loaded["second"], second)


def test_invalid_tensors_rejected(tmp_path):
    path = tmp_path / "bad.safetensors"
    with pytest.raises(ValueError, match="is not contiguous"):
        st.save_file({"t": torch.zeros(3, 4).t()}, path)
    with pytest.raises(ValueError, match="are sparse"):
        st.save_file({"s": torch.zeros(3, 3).to_sparse()}, path)
    with pytest.raises(ValueError, match="expected torch.Tensor"):
        st.save_file({"n": [1, 2]}, path)
    with pytest.raises(ValueError, match="expected a dict"):
        st.save_file([torch.zeros(1)], path)
    with pytest.raises(TypeError, match="tensor names must be str"):
        st.save_file({1: torch.zeros(1)}, path)
    with pytest.raises(ValueError, match="'__metadata__'"):
        st.save_file({"__metadata__": torch.zeros(1)}, path)
    assert not path.exists()


def test_save_model_stores_tied_weight_once(tmp_path):
    model = TinyLM(seed=40)
    path = tmp_path / "model.safetensors"
    st.save_model(model, path)
    _, header = read_header(path)
    # The first name in sorted order covering the whole storage is kept.
    assert "lm_head.weight" in header
    assert "model.embed_tokens.weight" not in header
    assert header["__metadata__"]["model.embed_tokens.weight"] == "lm_head.weight"


def test_load_model_returns_missing_and_unexpected(tmp_path):
    source = TinyLM(seed=41)
    path = tmp_path / "model.safetensors"
    st.save_model(source, path)
    model = TinyLM(seed=42)

    missing, unexpected = st.load_model(model, path)

    assert missing == set()
    assert unexpected == []
    for name, tensor in source.state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor), name


def test_load_model_strict_lists_differences(tmp_path):
    source = TinyLM(seed=43)
    state = {name: tensor.clone() for name, tensor in source.state_dict().items()
             if name not in ("lm_head.weight", "model.norm.bias")}
    state["model.extra"] = torch.zeros(1)
    path = tmp_path / "partial.safetensors"
    st.save_file(state, path)

    with pytest.raises(RuntimeError) as raised:
        st.load_model(TinyLM(seed=44), path)
    message = str(raised.value)
    assert message.startswith("Error(s) in loading state_dict for TinyLM:")
    assert 'Missing key(s) in state_dict: "model.norm.bias"' in message
    assert 'Unexpected key(s) in state_dict: "model.extra"' in message

    missing, unexpected = st.load_model(TinyLM(seed=44), path, strict=False)
    assert missing == {"model.norm.bias"}
    assert unexpected == ["model.extra"]


def test_float8_file_raises_for_torch(tmp_path):
    path = tmp_path / "f8.safetensors"
    header = json.dumps({"w": {"dtype": "F8_E4M3", "shape": [2], "data_offsets": [0, 2]}}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\x38\xb8")
    if hasattr(torch, "float8_e4m3fn"):
        pytest.skip(f"torch {torch.__version__} has float8_e4m3fn")
    with pytest.raises(safeckpt.SafeckptError) as raised:
        st.load_file(path)
    assert "tensor 'w' has dtype F8_E4M3" in str(raised.value)
    assert 'framework="np"' in str(raised.value)
    assert raised.value.code == "unimplemented"


def test_load_file_corpus_matches_numpy_view(corpus):
    import safeckpt.numpy as sn

    for path in sorted((corpus / "files").glob("tracel-ai__burn__*.safetensors")):
        tensors = st.load_file(path)
        arrays = sn.load_file(path)
        assert list(tensors) == list(arrays)
        for name, tensor in tensors.items():
            assert tensor.numpy().tobytes() == arrays[name].tobytes(), (path.name, name)


def test_path_with_null_byte_raises_value_error(tmp_path):
    st.save_file({"w": torch.ones(2)}, tmp_path / "victim")
    (tmp_path / "victim.other.safetensors").write_bytes(b"")
    with pytest.raises(ValueError, match="null byte"):
        st.load_file(str(tmp_path / "victim") + "\0.other.safetensors")
    with pytest.raises(ValueError, match="null byte"):
        st.save_file({"w": torch.ones(2)}, str(tmp_path / "out") + "\0.safetensors")


def test_path_that_is_not_utf8_round_trips(tmp_path):
    path = os.fsencode(tmp_path) + b"/\xff.safetensors"
    st.save_file({"w": torch.arange(3.0)}, path)
    assert torch.equal(st.load_file(path)["w"], torch.arange(3.0))
    assert torch.equal(st.load_file(os.fsdecode(path))["w"], torch.arange(3.0))
    with safeckpt.safe_open(path, "pt") as f:
        assert list(f.keys()) == ["w"]


def test_load_into_non_utf8_path(tmp_path):
    path = os.fsencode(tmp_path) + b"/\xff.safetensors"
    model = torch.nn.Linear(2, 2)
    st.save_file(model.state_dict(), path)
    target = torch.nn.Linear(2, 2)
    report = safeckpt.load_into(target, path)
    assert report.accepted
    assert torch.equal(target.weight, model.weight)
    assert sorted(safeckpt.manifest_from(path)["tensors"]) == ["bias", "weight"]
