#include "adapt/dequantize.h"

#include <cmath>
#include <limits>

#include "load/convert.h"

namespace safeckpt::internal {

double DecodeE8M0(uint8_t bits) {
  if (bits == 0xff) return std::numeric_limits<double>::quiet_NaN();
  return std::ldexp(1.0, static_cast<int>(bits) - 127);
}

double DecodeE2M1(uint8_t nibble) {
  static constexpr double kMagnitudes[8] = {0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0};
  const double magnitude = kMagnitudes[nibble & 0x7];
  return (nibble & 0x8) != 0 ? -magnitude : magnitude;
}

bool DecodeToDouble(DType dtype, const void* source, double* destination, uint64_t count) {
  ConvertKernel kernel = FindConvertKernel(dtype, DType::kF64);
  if (kernel == nullptr || !IsConvertibleFloat(dtype)) return false;
  kernel(source, destination, count);
  return true;
}

}  // namespace safeckpt::internal
