// Element types of the safetensors format and the arithmetic on shapes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace safeckpt {

// Every dtype the safetensors format defines, spelled as in file headers.
enum class DType : uint8_t {
  kBool,
  kU8,
  kI8,
  kI16,
  kU16,
  kF16,
  kBF16,
  kI32,
  kU32,
  kF32,
  kF64,
  kI64,
  kU64,
  kC64,
  kF8_E4M3,
  kF8_E5M2,
  kF8_E8M0,
  kF8_E4M3FNUZ,
  kF8_E5M2FNUZ,
  kF4,
  kF6_E2M3,
  kF6_E3M2,
};

inline constexpr int kDTypeCount = 22;

// Returns the header spelling, e.g. "BF16".
std::string_view DTypeName(DType dtype);

// Parses a header spelling; names are case-sensitive as in the format.
std::optional<DType> ParseDType(std::string_view name);

// Returns all accepted spellings joined by ", ", for error messages.
std::string AllDTypeNames();

// Size of one element in bits (4 for F4, 6 for the F6 types).
uint32_t DTypeBits(DType dtype);

// True for the IEEE-style and bfloat16 types that conversions handle
// (F64, F32, F16, BF16, F8_E4M3, F8_E5M2).
bool IsConvertibleFloat(DType dtype);

// True for BOOL and the signed and unsigned integer types.
bool IsInteger(DType dtype);
bool IsSignedInteger(DType dtype);

using Shape = std::vector<uint64_t>;

// Formats a shape as "[2, 3]" ("[]" for a scalar).
std::string FormatShape(const Shape& shape);

// Number of elements, or nullopt when it overflows 64 bits. A scalar has 1.
std::optional<uint64_t> ElementCount(const Shape& shape);

// Bytes that `shape` of `dtype` occupies, or nullopt when the bit count
// overflows 64 bits or is not a multiple of 8.
std::optional<uint64_t> ByteSize(DType dtype, const Shape& shape);

}  // namespace safeckpt
