#include "safeckpt/dtype.h"

#include <array>
#include <string>

namespace safeckpt {
namespace {

struct DTypeSpec {
  DType dtype;
  std::string_view name;
  uint32_t bits;
};

// Order matches the enum, so the table is indexed by the enum value.
constexpr std::array<DTypeSpec, kDTypeCount> kSpecs = {{
    {DType::kBool, "BOOL", 8},
    {DType::kU8, "U8", 8},
    {DType::kI8, "I8", 8},
    {DType::kI16, "I16", 16},
    {DType::kU16, "U16", 16},
    {DType::kF16, "F16", 16},
    {DType::kBF16, "BF16", 16},
    {DType::kI32, "I32", 32},
    {DType::kU32, "U32", 32},
    {DType::kF32, "F32", 32},
    {DType::kF64, "F64", 64},
    {DType::kI64, "I64", 64},
    {DType::kU64, "U64", 64},
    {DType::kC64, "C64", 64},
    {DType::kF8_E4M3, "F8_E4M3", 8},
    {DType::kF8_E5M2, "F8_E5M2", 8},
    {DType::kF8_E8M0, "F8_E8M0", 8},
    {DType::kF8_E4M3FNUZ, "F8_E4M3FNUZ", 8},
    {DType::kF8_E5M2FNUZ, "F8_E5M2FNUZ", 8},
    {DType::kF4, "F4", 4},
    {DType::kF6_E2M3, "F6_E2M3", 6},
    {DType::kF6_E3M2, "F6_E3M2", 6},
}};

const DTypeSpec& SpecOf(DType dtype) { return kSpecs[static_cast<size_t>(dtype)]; }

}  // namespace

std::string_view DTypeName(DType dtype) { return SpecOf(dtype).name; }

uint32_t DTypeBits(DType dtype) { return SpecOf(dtype).bits; }

std::optional<DType> ParseDType(std::string_view name) {
  for (const DTypeSpec& spec : kSpecs) {
    if (spec.name == name) return spec.dtype;
  }
  return std::nullopt;
}

std::string AllDTypeNames() {
  std::string names;
  for (const DTypeSpec& spec : kSpecs) {
    if (!names.empty()) names += ", ";
    names += spec.name;
  }
  return names;
}

bool IsConvertibleFloat(DType dtype) {
  switch (dtype) {
    case DType::kF64:
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
    case DType::kF8_E4M3:
    case DType::kF8_E5M2:
      return true;
    default:
      return false;
  }
}

bool IsSignedInteger(DType dtype) {
  return dtype == DType::kI8 || dtype == DType::kI16 || dtype == DType::kI32 ||
         dtype == DType::kI64;
}

bool IsInteger(DType dtype) {
  return IsSignedInteger(dtype) || dtype == DType::kBool || dtype == DType::kU8 ||
         dtype == DType::kU16 || dtype == DType::kU32 || dtype == DType::kU64;
}

std::string FormatShape(const Shape& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) text += ", ";
    text += std::to_string(shape[i]);
  }
  text += "]";
  return text;
}

std::optional<uint64_t> ElementCount(const Shape& shape) {
  uint64_t count = 1;
  for (uint64_t dim : shape) {
    if (__builtin_mul_overflow(count, dim, &count)) return std::nullopt;
  }
  return count;
}

std::optional<uint64_t> ByteSize(DType dtype, const Shape& shape) {
  std::optional<uint64_t> count = ElementCount(shape);
  if (!count) return std::nullopt;
  uint64_t bits = 0;
  if (__builtin_mul_overflow(*count, uint64_t{DTypeBits(dtype)}, &bits)) return std::nullopt;
  if (bits % 8 != 0) return std::nullopt;
  return bits / 8;
}

}  // namespace safeckpt
