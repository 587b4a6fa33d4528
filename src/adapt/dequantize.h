// Decoding of the block-scaled formats that adapters dequantize: OCP MX
// E8M0 scales and E2M1 (MXFP4) values, and DeepSeek-V3's FP8 weights with one
// scale per 128 x 128 block.
#pragma once

#include <cstdint>

#include "safeckpt/dtype.h"

namespace safeckpt::internal {

// Rows and columns of one FP8 scale block in DeepSeek-V3 checkpoints: scale
// [i, j] applies to rows [128 i, 128 i + 128) and columns [128 j, 128 j + 128).
inline constexpr uint64_t kFp8BlockSize = 128;

// Elements that share one MXFP4 scale, and the bytes that hold them (two
// E2M1 values per byte, the low nibble first).
inline constexpr uint64_t kMxfp4BlockElements = 32;
inline constexpr uint64_t kMxfp4BlockBytes = 16;

// Decodes an E8M0 scale: 2^(bits - 127), and NaN for 255 as the OCP
// Microscaling Formats (MX) v1.0 specification defines.
double DecodeE8M0(uint8_t bits);

// Decodes one E2M1 value from the low four bits of `nibble`: sign, two
// exponent bits (bias 1) and one mantissa bit, so 0, 0.5, 1, 1.5, 2, 3, 4, 6
// and their negatives.
double DecodeE2M1(uint8_t nibble);

// Decodes `count` elements of a float dtype that convert.h widens to F64
// (F8_E4M3, F8_E5M2, F16, BF16, F32, F64) from little-endian `source` into
// `destination`. Returns false for any other dtype.
bool DecodeToDouble(DType dtype, const void* source, double* destination, uint64_t count);

}  // namespace safeckpt::internal
