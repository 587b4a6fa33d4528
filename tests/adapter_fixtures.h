// Tiny generated checkpoints in Hugging Face layout for the adapter tests,
// and a naive reference: each native tensor's value at a global index,
// computed from the Hugging Face tensors by explicit index arithmetic.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "safeckpt/checkpoint.h"
#include "safeckpt/dtype.h"
#include "safeckpt/hyperslab.h"
#include "safeckpt/writer.h"
#include "support/test_support.h"

namespace safeckpt::testing {

using Index = std::vector<uint64_t>;

struct HfTensor {
  std::string name;
  DType dtype = DType::kBF16;
  Shape shape;
  std::vector<uint8_t> bytes;
};

using HfTensors = std::map<std::string, HfTensor>;

inline uint64_t Elements(const Shape& shape) {
  uint64_t count = 1;
  for (uint64_t size : shape) count *= size;
  return count;
}

inline uint64_t Offset(const Shape& shape, const Index& index) {
  uint64_t offset = 0;
  for (size_t dim = 0; dim < shape.size(); ++dim) offset = offset * shape[dim] + index[dim];
  return offset;
}

// Decodes F8_E4M3 (E4M3FN: bias 7, no infinities, S.1111.111 is NaN)
// independently of the library's kernels.
inline double DecodeE4M3(uint8_t bits) {
  const int exponent = (bits >> 3) & 0xf;
  const int mantissa = bits & 0x7;
  double magnitude = exponent == 0 ? std::ldexp(mantissa, -9)
                                   : std::ldexp(8 + mantissa, exponent - 10);
  if ((bits & 0x7f) == 0x7f) magnitude = std::nan("");
  return (bits & 0x80) != 0 ? -magnitude : magnitude;
}

inline double DecodeBF16(uint16_t bits) {
  const uint32_t widened = static_cast<uint32_t>(bits) << 16;
  float value;
  std::memcpy(&value, &widened, sizeof value);
  return value;
}

// Element `offset` of `tensor` as a double (BF16, F16 not needed, F32,
// F8_E4M3, U8).
inline double ElementAt(const HfTensor& tensor, uint64_t offset) {
  switch (tensor.dtype) {
    case DType::kBF16: {
      uint16_t bits;
      std::memcpy(&bits, tensor.bytes.data() + 2 * offset, 2);
      return DecodeBF16(bits);
    }
    case DType::kF32: {
      float value;
      std::memcpy(&value, tensor.bytes.data() + 4 * offset, 4);
      return value;
    }
    case DType::kF8_E4M3:
      return DecodeE4M3(tensor.bytes[offset]);
    default:
      return tensor.bytes[offset];
  }
}

inline double ValueAt(const HfTensors& tensors, const std::string& name, const Index& index) {
  auto found = tensors.find(name);
  if (found == tensors.end()) {
    ADD_FAILURE() << "reference reads missing tensor " << name;
    return 0;
  }
  return ElementAt(found->second, Offset(found->second.shape, index));
}

// Deterministic finite values: BF16 and F32 values of magnitude 2^-6 to
// 2^8 with both signs, F8_E4M3 bytes other than NaN, U8 bytes, and E8M0
// scales near 2^0 for tensors named *_scales.
inline HfTensor MakeTensor(std::string name, DType dtype, Shape shape, uint32_t seed) {
  HfTensor tensor{std::move(name), dtype, std::move(shape), {}};
  const uint64_t count = Elements(tensor.shape);
  const bool e8m0 = tensor.name.ends_with("_scales");
  for (uint64_t i = 0; i < count; ++i) {
    const uint32_t mix = static_cast<uint32_t>((seed * 2654435761u) ^ (i * 40503u + seed * 97u));
    const uint16_t bf16 = static_cast<uint16_t>(0x3c00 + (mix % 0x0800)) | ((mix >> 11) & 1 ? 0x8000 : 0);
    switch (dtype) {
      case DType::kBF16:
        tensor.bytes.push_back(static_cast<uint8_t>(bf16 & 0xff));
        tensor.bytes.push_back(static_cast<uint8_t>(bf16 >> 8));
        break;
      case DType::kF32: {
        const float value = static_cast<float>(DecodeBF16(bf16)) * (1.0f + (mix % 7) / 64.0f);
        uint8_t bytes[4];
        std::memcpy(bytes, &value, 4);
        tensor.bytes.insert(tensor.bytes.end(), bytes, bytes + 4);
        break;
      }
      case DType::kF8_E4M3: {
        uint8_t bits = static_cast<uint8_t>(mix % 251);
        if ((bits & 0x7f) == 0x7f) bits = 0x3f;
        tensor.bytes.push_back(bits);
        break;
      }
      default:
        tensor.bytes.push_back(e8m0 ? static_cast<uint8_t>(124 + mix % 7)
                                    : static_cast<uint8_t>(mix % 256));
        break;
    }
  }
  return tensor;
}

// Writes `tensors` as a checkpoint of two shards with an index and a
// config.json naming `model_type`, and opens it.
inline Checkpoint WriteCheckpoint(const TempDir& dir, const HfTensors& tensors,
                                  const std::string& model_type) {
  std::vector<TensorToWrite> first;
  std::vector<TensorToWrite> second;
  std::string weight_map;
  size_t position = 0;
  for (const auto& [name, tensor] : tensors) {
    const bool in_first = position++ % 2 == 0;
    (in_first ? first : second)
        .push_back({name, tensor.dtype, tensor.shape, tensor.bytes.data()});
    weight_map += std::string(weight_map.empty() ? "" : ", ") + "\"" + name + "\": \"" +
                  (in_first ? "model-00001-of-00002.safetensors"
                            : "model-00002-of-00002.safetensors") +
                  "\"";
  }
  EXPECT_TRUE(WriteSafetensors(dir.Join("model-00001-of-00002.safetensors"), first).ok());
  EXPECT_TRUE(WriteSafetensors(dir.Join("model-00002-of-00002.safetensors"), second).ok());
  WriteFileBytes(dir.Join("model.safetensors.index.json"),
                 "{\"metadata\": {}, \"weight_map\": {" + weight_map + "}}");
  WriteFileBytes(dir.Join("config.json"), "{\"model_type\": \"" + model_type + "\"}");
  Result<Checkpoint> checkpoint = Checkpoint::Open(dir.path());
  EXPECT_TRUE(checkpoint.ok()) << checkpoint.status().ToString();
  return checkpoint.ok() ? std::move(checkpoint).value() : Checkpoint{};
}

// A native tensor the model expects, and its reference value at a global
// index.
struct NativeExpectation {
  std::string name;
  Shape shape;
  std::function<double(const HfTensors&, const Index&)> value;
  bool decoded = false;  // dequantized: compare within half an ulp
};

// A family: the adapter, its Hugging Face tensors and the native tensors.
struct Family {
  std::string adapter;
  std::string model_type;
  HfTensors tensors;
  std::vector<NativeExpectation> natives;
};

inline void Add(HfTensors& tensors, HfTensor tensor) {
  std::string name = tensor.name;
  tensors.emplace(std::move(name), std::move(tensor));
}

// A native tensor that is the Hugging Face tensor `hf_name` as it is.
inline NativeExpectation Same(const HfTensors& tensors, std::string native_name,
                              std::string hf_name) {
  const Shape shape = tensors.at(hf_name).shape;
  return {std::move(native_name), shape,
          [hf_name](const HfTensors& all, const Index& index) {
            return ValueAt(all, hf_name, index);
          }};
}

// Per-expert PREFIX.experts.E.{gate,up,down}.weight stacked: gate_and_up
// [E, H, 2I] (or [E, H, I] without gate) and down [E, I, H].
inline void AddPerExpertStack(std::vector<NativeExpectation>& natives,
                              const std::string& hf_prefix, const std::string& native_prefix,
                              const std::string& gate, const std::string& up,
                              const std::string& down, uint64_t experts, uint64_t hidden,
                              uint64_t intermediate, bool decoded = false) {
  auto name = [hf_prefix](uint64_t expert, const std::string& projection) {
    return hf_prefix + ".experts." + std::to_string(expert) + "." + projection + ".weight";
  };
  const bool gated = !gate.empty();
  natives.push_back({native_prefix + ".experts.gate_and_up_projs",
                     {experts, hidden, gated ? 2 * intermediate : intermediate},
                     [name, gate, up, gated, intermediate](const HfTensors& all, const Index& index) {
                       const uint64_t column = index[2];
                       if (gated && column < intermediate) {
                         return ValueAt(all, name(index[0], gate), {column, index[1]});
                       }
                       const uint64_t row = gated ? column - intermediate : column;
                       return ValueAt(all, name(index[0], up), {row, index[1]});
                     },
                     decoded});
  natives.push_back({native_prefix + ".experts.down_projs",
                     {experts, intermediate, hidden},
                     [name, down](const HfTensors& all, const Index& index) {
                       return ValueAt(all, name(index[0], down), {index[2], index[1]});
                     },
                     decoded});
}

// Half a unit in the last place of `value` as an F32.
inline double HalfUlpF32(double value) {
  const float magnitude = std::fabs(static_cast<float>(value));
  const float next = std::nextafter(magnitude, INFINITY);
  return (static_cast<double>(next) - magnitude) / 2;
}

}  // namespace safeckpt::testing
