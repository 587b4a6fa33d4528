#include "compare/element_values.h"

#include <bit>
#include <cstring>
#include <limits>

#include "load/convert.h"

namespace safeckpt::internal {
namespace {

template <typename T>
T SwapBytes(T value) {
  if constexpr (sizeof(T) == 2) return static_cast<T>(__builtin_bswap16(static_cast<uint16_t>(value)));
  if constexpr (sizeof(T) == 4) return static_cast<T>(__builtin_bswap32(static_cast<uint32_t>(value)));
  if constexpr (sizeof(T) == 8) return static_cast<T>(__builtin_bswap64(static_cast<uint64_t>(value)));
  return value;
}

template <typename T>
void DecodeInteger(const void* source, uint64_t count, double* values) {
  const auto* bytes = static_cast<const unsigned char*>(source);
  for (uint64_t i = 0; i < count; ++i) {
    T value;
    std::memcpy(&value, bytes + i * sizeof(T), sizeof(T));
    if constexpr (std::endian::native == std::endian::big) value = SwapBytes(value);
    values[i] = static_cast<double>(value);
  }
}

// The conversion kernels write little-endian F64; on a big-endian host the
// bytes are swapped into native doubles afterwards.
void DecodeFloat(DType dtype, const void* source, uint64_t count, double* values) {
  FindConvertKernel(dtype, DType::kF64)(source, values, count);
  if constexpr (std::endian::native == std::endian::big) {
    for (uint64_t i = 0; i < count; ++i) {
      values[i] = std::bit_cast<double>(SwapBytes(std::bit_cast<uint64_t>(values[i])));
    }
  }
}

}  // namespace

bool HasNumericValues(DType dtype) {
  return IsInteger(dtype) || IsConvertibleFloat(dtype) || dtype == DType::kC64;
}

uint32_t ValuesPerElement(DType dtype) { return dtype == DType::kC64 ? 2 : 1; }

void DecodeToDouble(DType dtype, const void* source, uint64_t count, double* values) {
  switch (dtype) {
    case DType::kBool:
    case DType::kU8: DecodeInteger<uint8_t>(source, count, values); return;
    case DType::kI8: DecodeInteger<int8_t>(source, count, values); return;
    case DType::kI16: DecodeInteger<int16_t>(source, count, values); return;
    case DType::kU16: DecodeInteger<uint16_t>(source, count, values); return;
    case DType::kI32: DecodeInteger<int32_t>(source, count, values); return;
    case DType::kU32: DecodeInteger<uint32_t>(source, count, values); return;
    case DType::kI64: DecodeInteger<int64_t>(source, count, values); return;
    case DType::kU64: DecodeInteger<uint64_t>(source, count, values); return;
    case DType::kC64: DecodeFloat(DType::kF32, source, 2 * count, values); return;
    default: DecodeFloat(dtype, source, count, values); return;
  }
}

bool IsWideInteger(DType dtype) { return dtype == DType::kI64 || dtype == DType::kU64; }

long double ExactValue(DType dtype, const void* source, uint64_t index, double decoded) {
  // x86-64 long double has a 64-bit significand, enough for every 64-bit
  // integer and every F64 value.
  static_assert(std::numeric_limits<long double>::digits >= 64);
  const auto* bytes = static_cast<const unsigned char*>(source) + index * 8;
  if (dtype == DType::kI64) {
    int64_t value;
    std::memcpy(&value, bytes, sizeof value);
    if constexpr (std::endian::native == std::endian::big) value = SwapBytes(value);
    return static_cast<long double>(value);
  }
  if (dtype == DType::kU64) {
    uint64_t value;
    std::memcpy(&value, bytes, sizeof value);
    if constexpr (std::endian::native == std::endian::big) value = SwapBytes(value);
    return static_cast<long double>(value);
  }
  return decoded;
}

}  // namespace safeckpt::internal
