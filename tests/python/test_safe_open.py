"""safe_open: keys, metadata, whole tensors and slices, for torch and numpy."""

import json
import struct

import numpy
import pytest
import torch

import safeckpt
import safeckpt.torch as st


def write_raw(path, header, data, data_start_modulo=None):
    """Write a safetensors file from a header dict and data bytes.

    With data_start_modulo=(m, r), spaces pad the header until the data
    starts at an offset that leaves remainder r when divided by m.
    """
    text = json.dumps(header).encode()
    while data_start_modulo and (8 + len(text)) % data_start_modulo[0] != data_start_modulo[1]:
        text += b" "
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


@pytest.fixture
def sample(tmp_path):
    tensors = {
        "weight": torch.arange(24, dtype=torch.float32).reshape(2, 3, 4),
        "bias": torch.tensor([1.5, -2.0], dtype=torch.bfloat16),
        "steps": torch.tensor(7, dtype=torch.int64),
        "mask": torch.tensor([True, False, True]),
        "empty": torch.zeros(0, 5),
    }
    path = tmp_path / "sample.safetensors"
    st.save_file(tensors, path, metadata={"format": "pt", "note": "test"})
    return path, tensors


def test_keys_sorted_and_offset_keys_in_file_order(sample):
    path, tensors = sample
    with safeckpt.safe_open(path, framework="pt") as f:
        assert f.keys() == sorted(tensors)
        offsets = f.offset_keys()
    assert sorted(offsets) == sorted(tensors)
    header_length = struct.unpack("<Q", path.read_bytes()[:8])[0]
    header = json.loads(path.read_bytes()[8:8 + header_length])
    by_offset = sorted((entry["data_offsets"], name) for name, entry in header.items()
                       if name != "__metadata__")
    assert offsets == [name for _, name in by_offset]


def test_metadata_returned_or_none(sample, tmp_path):
    path, _ = sample
    with safeckpt.safe_open(path, framework="pt") as f:
        assert f.metadata() == {"format": "pt", "note": "test"}
    bare = write_raw(tmp_path / "bare.safetensors",
                     {"x": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]}}, b"\x01\x02")
    with safeckpt.safe_open(bare, framework="np") as f:
        assert f.metadata() is None


@pytest.mark.parametrize("framework", ["pt", "np"])
def test_get_tensor_values(sample, framework):
    path, tensors = sample
    with safeckpt.safe_open(path, framework=framework) as f:
        for name, expected in tensors.items():
            value = f.get_tensor(name)
            if framework == "pt":
                assert value.dtype == expected.dtype
                assert torch.equal(value, expected), name
            elif expected.dtype == torch.bfloat16:
                assert value.dtype == numpy.uint16  # numpy has no bfloat16: raw bits
                assert numpy.array_equal(value, expected.view(torch.int16).numpy().view(numpy.uint16))
            else:
                assert numpy.array_equal(value, expected.numpy()), name


def test_missing_tensor_raises_library_error(sample):
    path, _ = sample
    with safeckpt.safe_open(path, framework="pt") as f:
        with pytest.raises(safeckpt.SafeckptError, match="tensor 'absent' not found; the file has 5"):
            f.get_tensor("absent")
        with pytest.raises(safeckpt.SafeckptError, match="tensor 'absent' not found"):
            f.get_slice("absent")


def test_closed_file_raises(sample):
    path, _ = sample
    with safeckpt.safe_open(path, framework="pt") as f:
        pass
    with pytest.raises(safeckpt.SafeckptError, match="the file is closed"):
        f.keys()


def test_invalid_framework_and_device(sample):
    path, _ = sample
    with pytest.raises(ValueError, match="framework 'tf' is not supported"):
        safeckpt.safe_open(path, framework="tf")
    with pytest.raises(ValueError, match="reads to the CPU only"):
        safeckpt.safe_open(path, framework="np", device="cuda:0")


def test_device_cpu_by_name_and_object(sample):
    path, tensors = sample
    for device in ("cpu", torch.device("cpu")):
        with safeckpt.safe_open(path, framework="pt", device=device) as f:
            assert torch.equal(f.get_tensor("weight"), tensors["weight"])


SLICE_CASES = [
    (slice(None),),
    (0,),
    (-1,),
    (slice(1, 2),),
    (slice(None), 1),
    (slice(None), slice(1, 3), slice(0, 4, 2)),
    (Ellipsis, 2),
    (1, Ellipsis, slice(1, None)),
    (slice(None), slice(None), slice(3, 1)),  # empty
    (slice(None, None, 2), -2, slice(-3, None)),
    (slice(5, 9),),  # clamped to the shape, as in numpy
    Ellipsis,
    1,
]


@pytest.mark.parametrize("index", SLICE_CASES, ids=repr)
@pytest.mark.parametrize("framework", ["pt", "np"])
def test_get_slice_matches_indexing(sample, framework, index):
    path, tensors = sample
    expected = tensors["weight"][index]
    with safeckpt.safe_open(path, framework=framework) as f:
        tensor_slice = f.get_slice("weight")
        value = tensor_slice[index]
    if framework == "pt":
        assert torch.equal(value, expected)
    else:
        assert numpy.array_equal(value, expected.numpy())
        assert value.shape == tuple(expected.shape)


def test_get_slice_shape_and_dtype(sample):
    path, _ = sample
    with safeckpt.safe_open(path, framework="pt") as f:
        tensor_slice = f.get_slice("bias")
        assert tensor_slice.get_shape() == [2]
        assert tensor_slice.get_dtype() == "BF16"
        assert f.get_slice("steps").get_shape() == []
        assert f.get_slice("steps")[...].item() == 7


def test_get_slice_negative_step(sample):
    path, tensors = sample
    with safeckpt.safe_open(path, framework="np") as f:
        value = f.get_slice("weight")[::-1, :, ::-2]
    assert numpy.array_equal(value, tensors["weight"].numpy()[::-1, :, ::-2])
    with safeckpt.safe_open(path, framework="pt") as f:
        with pytest.raises(ValueError, match="step must be greater than zero"):
            f.get_slice("weight")[::-1]


def test_get_slice_invalid_indices(sample):
    path, _ = sample
    with safeckpt.safe_open(path, framework="pt") as f:
        tensor_slice = f.get_slice("weight")
        with pytest.raises(IndexError, match="out of bounds for dimension 1"):
            tensor_slice[0, 3]
        with pytest.raises(IndexError, match="too many indices"):
            tensor_slice[0, 0, 0, 0]
        with pytest.raises(IndexError, match="single ellipsis"):
            tensor_slice[..., 0, ...]
        with pytest.raises(TypeError, match="is not supported"):
            tensor_slice[[0, 1]]
        with pytest.raises(TypeError, match="is not supported"):
            tensor_slice[None]


def test_column_slices_of_large_matrix(tmp_path):
    # Column slices make one run per row. Close runs are gathered through a
    # staging buffer and distant ones are read one by one.
    matrix = torch.arange(3000 * 1024, dtype=torch.int32).reshape(3000, 1024)
    wide = torch.arange(40 * 8192, dtype=torch.float64).reshape(40, 8192)
    path = tmp_path / "matrix.safetensors"
    st.save_file({"matrix": matrix, "wide": wide}, path)
    with safeckpt.safe_open(path, framework="pt") as f:
        assert torch.equal(f.get_slice("matrix")[:, 100:228], matrix[:, 100:228])
        assert torch.equal(f.get_slice("matrix")[7:2999:3, -5:], matrix[7:2999:3, -5:])
        assert torch.equal(f.get_slice("wide")[:, 8000:], wide[:, 8000:])
        assert torch.equal(f.get_slice("wide")[3:30, 10:20], wide[3:30, 10:20])


def test_unaligned_offsets_read_correctly(tmp_path):
    # Data starting at 8k + 1 and a 3-byte tensor first put the F32 tensor at
    # 8k + 4 and the I64 tensor at 8k + 28, neither aligned to 8.
    floats = numpy.arange(6, dtype=numpy.float32) - 2.5
    longs = numpy.array([1, -2, 3 << 40], dtype=numpy.int64)
    data = b"abc" + floats.tobytes() + longs.tobytes()
    header = {
        "bytes": {"dtype": "U8", "shape": [3], "data_offsets": [0, 3]},
        "floats": {"dtype": "F32", "shape": [2, 3], "data_offsets": [3, 27]},
        "longs": {"dtype": "I64", "shape": [3], "data_offsets": [27, 51]},
    }
    path = write_raw(tmp_path / "odd.safetensors", header, data, data_start_modulo=(8, 1))

    torch_tensors = st.load_file(path)
    assert torch.equal(torch_tensors["floats"], torch.from_numpy(floats.reshape(2, 3)))
    assert torch.equal(torch_tensors["longs"], torch.from_numpy(longs))
    with safeckpt.safe_open(path, framework="np") as f:
        assert numpy.array_equal(f.get_tensor("floats"), floats.reshape(2, 3))
        assert f.get_tensor("floats").ctypes.data % 4 == 0
        assert numpy.array_equal(f.get_slice("longs")[1:], longs[1:])
        assert f.get_tensor("bytes").tobytes() == b"abc"


def test_corpus_unaligned_samples(corpus):
    samples = sorted((corpus / "files").glob("huggingface__safetensors__samples_*.safetensors"))
    assert samples
    for path in samples:
        with safeckpt.safe_open(path, framework="np") as f:
            names = f.keys()
            assert len(names) == 1
            array = f.get_tensor(names[0])
            header_length = struct.unpack("<Q", path.read_bytes()[:8])[0]
            raw = path.read_bytes()[8 + header_length:]
            assert array.tobytes() == raw, path.name
            assert array.ctypes.data % array.dtype.itemsize == 0


def test_safe_open_accepts_path_objects_and_str(sample):
    path, _ = sample
    with safeckpt.safe_open(str(path), "pt") as by_str, safeckpt.safe_open(path, "pt") as by_path:
        assert by_str.keys() == by_path.keys()
