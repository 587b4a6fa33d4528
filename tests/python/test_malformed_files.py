"""Malformed files raise SafeckptError with the library's message, never crash."""

import json
import random
import struct

import pytest
import torch

import safeckpt
import safeckpt.numpy as sn
import safeckpt.torch as st


def header_bytes(text):
    data = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(data)) + data


def file_bytes(header, data=b""):
    return header_bytes(json.dumps(header)) + data


def entry(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


# One file per defect, with the error id the reader reports.
MALFORMED = {
    "empty file": (b"", "file_empty"),
    "no header length": (b"\x01\x02\x03", "file_too_short"),
    "header length zero": (struct.pack("<Q", 0) + b"{}", "header_length_zero"),
    "header too large": (struct.pack("<Q", 200_000_000) + b"{}", "header_too_large"),
    "header past end": (struct.pack("<Q", 64) + b"{}", "header_past_end"),
    "git lfs pointer": (b"version https://git-lfs.github.com/spec/v1\noid sha256:00\n",
                        "not_safetensors"),
    "zip archive": (b"PK\x03\x04" + bytes(60), "not_safetensors"),
    "invalid utf-8": (header_bytes(b'{"\xff": 1}'), "header_not_utf8"),
    "too deep": (header_bytes("[" * 100 + "]" * 100), "header_too_deep"),
    "not json": (header_bytes("{not json}"), "header_not_json"),
    "trailing bytes": (header_bytes('{} x'), "header_trailing_bytes"),
    "not an object": (header_bytes("[1, 2]"), "header_not_object"),
    "duplicate name": (header_bytes('{"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]},'
                                    ' "a": {"dtype": "U8", "shape": [1], "data_offsets": [1, 2]}}')
                       + b"xy", "duplicate_name"),
    "metadata value": (file_bytes({"__metadata__": {"k": 1}}), "metadata_value_not_string"),
    "unknown dtype": (file_bytes({"a": entry("F12", [1], 0, 1)}, b"x"), "dtype_unknown"),
    "negative dimension": (file_bytes({"a": entry("U8", [-1], 0, 1)}, b"x"), "shape_invalid"),
    "unknown field": (file_bytes({"a": {**entry("U8", [1], 0, 1), "extra": 1}}, b"x"),
                      "entry_unknown_field"),
    "missing field": (file_bytes({"a": {"dtype": "U8", "shape": [1]}}, b"x"), "entry_missing_field"),
    "offsets reversed": (file_bytes({"a": entry("U8", [1], 1, 0)}, b"x"), "offsets_reversed"),
    "size mismatch": (file_bytes({"a": entry("F32", [2], 0, 4)}, b"xxxx"), "size_mismatch"),
    "shape overflow": (file_bytes({"a": entry("F64", [2**62, 8], 0, 8)}, bytes(8)),
                       "shape_overflow"),
    "odd float4 count": (file_bytes({"a": entry("F4", [3], 0, 1)}, b"x"), "bits_not_byte_aligned"),
    "data past end": (file_bytes({"a": entry("U8", [4], 0, 4)}, b"xx"), "data_past_end"),
    "data gap": (file_bytes({"a": entry("U8", [1], 1, 2)}, b"xx"), "data_gap"),
    "data overlap": (file_bytes({"a": entry("U8", [2], 0, 2), "b": entry("U8", [2], 1, 3)},
                                b"xyz"), "data_overlap"),
    "trailing data": (file_bytes({"a": entry("U8", [1], 0, 1)}, b"xyz"), "trailing_data"),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_file_raises_library_error(tmp_path, safeckpt_command, name):
    data, error_id = MALFORMED[name]
    path = tmp_path / "bad.safetensors"
    path.write_bytes(data)

    with pytest.raises(safeckpt.SafeckptError) as raised:
        safeckpt.safe_open(path, framework="pt")

    assert raised.value.error_id == error_id
    command = safeckpt_command("inspect", path)
    assert command.returncode == 3
    assert command.stderr == f"safeckpt: error: {raised.value}\n"


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_bytes_and_every_entry_point_raise(tmp_path, name):
    data, error_id = MALFORMED[name]
    path = tmp_path / "bad.safetensors"
    path.write_bytes(data)

    calls = [lambda: st.load(data), lambda: sn.load(data), lambda: st.load_file(path),
             lambda: sn.load_file(path),
             lambda: safeckpt.load_into({"a": torch.zeros(1, dtype=torch.uint8)}, path)]
    for call in calls:
        with pytest.raises(safeckpt.SafeckptError) as raised:
            call()
        assert raised.value.error_id == error_id
        assert raised.value.code in ("corruption", "out of range")


def test_bytes_errors_name_bytes():
    with pytest.raises(safeckpt.SafeckptError, match="^<bytes>: "):
        st.load(MALFORMED["trailing data"][0])


def test_corpus_negative_files(corpus):
    for path in sorted((corpus / "files" / "negative").glob("*.safetensors")):
        with pytest.raises(safeckpt.SafeckptError) as raised:
            st.load_file(path)
        assert str(path) in str(raised.value)


def test_random_corruption_never_crashes(tmp_path):
    tensors = {"weight": torch.randn(4, 6), "bias": torch.arange(6, dtype=torch.int64),
               "mask": torch.tensor([True, False])}
    original = st.save(tensors, metadata={"format": "pt"})
    generator = random.Random(1234)
    path = tmp_path / "fuzz.safetensors"
    outcomes = {"loaded": 0, "rejected": 0}
    for _ in range(400):
        data = bytearray(original)
        for _ in range(generator.randint(1, 4)):
            position = generator.randrange(len(data))
            choice = generator.random()
            if choice < 0.6:
                data[position] = generator.randrange(256)
            elif choice < 0.8:
                del data[position:position + generator.randint(1, 16)]
            else:
                data[position:position] = bytes(generator.randrange(256) for _ in range(3))
        path.write_bytes(bytes(data))
        try:
            loaded = st.load_file(path)
            with safeckpt.safe_open(path, framework="np") as f:
                for name in f.keys():
                    f.get_slice(name)[...]
            outcomes["loaded"] += 1
            assert isinstance(loaded, dict)
        except safeckpt.SafeckptError:
            outcomes["rejected"] += 1
    assert outcomes["rejected"] > 100
    assert outcomes["loaded"] > 0
