"""safeckpt.numpy: the safetensors.numpy functions, and dtypes numpy lacks."""

import json
import struct

import numpy
import pytest

import safeckpt
import safeckpt.numpy as sn

NUMPY_DTYPES = ["bool", "uint8", "int8", "int16", "uint16", "float16", "int32", "uint32",
                "float32", "float64", "int64", "uint64", "complex64"]


def write_raw(path, header, data):
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


@pytest.fixture
def every_dtype():
    generator = numpy.random.default_rng(7)
    arrays = {}
    for dtype in NUMPY_DTYPES:
        values = generator.standard_normal((4, 3)) * 100
        arrays[f"a_{dtype}"] = values.astype(dtype)
    return arrays


def test_round_trip_file_and_bytes(tmp_path, every_dtype):
    path = tmp_path / "arrays.safetensors"
    sn.save_file(every_dtype, path, metadata={"format": "np"})
    for loaded in (sn.load_file(path), sn.load(sn.save(every_dtype, metadata={"format": "np"}))):
        assert sorted(loaded) == sorted(every_dtype)
        for name, array in every_dtype.items():
            assert loaded[name].dtype == array.dtype, name
            assert numpy.array_equal(loaded[name], array), name


def test_big_endian_and_strided_arrays_saved_as_values(tmp_path):
    big = numpy.arange(6, dtype=">i4").reshape(2, 3)
    strided = numpy.arange(20, dtype=numpy.float32).reshape(4, 5)[:, ::2]
    path = tmp_path / "layouts.safetensors"
    sn.save_file({"big": big, "strided": strided}, path)
    loaded = sn.load_file(path)
    assert loaded["big"].dtype == numpy.dtype("int32")
    assert numpy.array_equal(loaded["big"], big)
    assert numpy.array_equal(loaded["strided"], strided)


def test_invalid_inputs_rejected(tmp_path):
    path = tmp_path / "bad.safetensors"
    with pytest.raises(ValueError, match="expected numpy.ndarray"):
        sn.save_file({"x": [1, 2]}, path)
    with pytest.raises(ValueError, match="has no safetensors dtype"):
        sn.save_file({"x": numpy.zeros(2, dtype=numpy.float128)}, path)
    with pytest.raises(ValueError, match="expected a dict"):
        sn.save([numpy.zeros(2)])


def test_float8_loads_as_uint8_with_dtype_name(tmp_path):
    header = {
        "e4m3": {"dtype": "F8_E4M3", "shape": [2, 2], "data_offsets": [0, 4]},
        "e5m2": {"dtype": "F8_E5M2", "shape": [3], "data_offsets": [4, 7]},
        "scale": {"dtype": "F8_E8M0", "shape": [1], "data_offsets": [7, 8]},
    }
    path = write_raw(tmp_path / "f8.safetensors", header, bytes(range(1, 9)))

    arrays = sn.load_file(path)

    assert arrays["e4m3"].dtype == numpy.uint8
    assert arrays["e4m3"].shape == (2, 2)
    assert arrays["e4m3"].tobytes() == bytes([1, 2, 3, 4])
    assert arrays["e5m2"].tobytes() == bytes([5, 6, 7])
    with safeckpt.safe_open(path, framework="np") as f:
        assert f.get_slice("e4m3").get_dtype() == "F8_E4M3"
        assert f.get_slice("e5m2").get_dtype() == "F8_E5M2"
        assert f.get_slice("e4m3")[1].tobytes() == bytes([3, 4])


def test_bf16_loads_as_uint16_bits(tmp_path):
    header = {"w": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}
    path = write_raw(tmp_path / "bf16.safetensors", header, struct.pack("<2H", 0x3F80, 0xC000))
    array = sn.load_file(path)["w"]
    assert array.dtype == numpy.uint16
    assert array.tolist() == [0x3F80, 0xC000]


def test_float4_loads_as_packed_bytes(tmp_path):
    header = {"q": {"dtype": "F4", "shape": [3, 4], "data_offsets": [0, 6]}}
    path = write_raw(tmp_path / "f4.safetensors", header, bytes([0x10, 0x32, 0x54, 0x76, 0x98, 0xBA]))
    with safeckpt.safe_open(path, framework="np") as f:
        whole = f.get_tensor("q")
        rows = f.get_slice("q")[1:]
        row = f.get_slice("q")[2]
        with pytest.raises(safeckpt.SafeckptError, match="starts or ends inside a byte"):
            f.get_slice("q")[:, 1:2]
    assert whole.shape == (3, 2)
    assert whole.tobytes() == bytes([0x10, 0x32, 0x54, 0x76, 0x98, 0xBA])
    assert rows.tobytes() == bytes([0x54, 0x76, 0x98, 0xBA])
    assert row.tobytes() == bytes([0x98, 0xBA])


def test_corpus_file_with_float8_and_bf16(corpus):
    path = corpus / "files" / "FluxML__SafeTensors.jl__non_sharded_model.safetensors"
    raw = path.read_bytes()
    header_length = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + header_length])
    data = raw[8 + header_length:]

    arrays = sn.load_file(path)

    with safeckpt.safe_open(path, framework="np") as f:
        for name, entry in header.items():
            if name == "__metadata__":
                continue
            begin, end = entry["data_offsets"]
            assert arrays[name].tobytes() == data[begin:end], name
            assert f.get_slice(name).get_dtype() == entry["dtype"]
    assert {entry["dtype"] for name, entry in header.items() if name != "__metadata__"} >= {
        "BF16", "F8_E4M3", "F8_E5M2"}
