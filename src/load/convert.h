// Element conversion between dtypes: the kernels the load executor runs on
// staged bytes, and the table of which conversions exist.
//
// Supported conversions:
//   - identity for every dtype: a raw byte copy (F4, F6 and F8_E8M0 too);
//   - F8_E4M3, F8_E5M2, BF16, F16, F32 to any wider float among F16, BF16,
//     F32, F64: exact, keeping subnormals, infinities, NaN and signed zeros;
//   - narrowing among F64, F32, F16, BF16 (and F16 <-> BF16): round to
//     nearest, ties to even; values beyond the target's range become
//     infinities, and NaN stays a quiet NaN with its sign;
//   - integer widening: signed to wider signed, unsigned to wider unsigned or
//     to wider signed.
// Everything else (integers to floats, narrowing to F8, BOOL, C64, the FNUZ
// and sub-byte types) is unsupported.
//
// Byte order: sources are little-endian as in safetensors files, and kernels
// write destinations little-endian too, so identity stays a raw copy. On a
// big-endian host the kernels swap bytes while decoding and encoding; such
// destinations hold file byte order, not host order.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "safeckpt/dtype.h"
#include "safeckpt/status.h"

namespace safeckpt::internal {

// Converts `count` elements from `source` to `destination`. Neither pointer
// needs any alignment, and the ranges must not overlap. For sub-byte dtypes
// (identity only) `count` times the bit width must be a multiple of 8.
using ConvertKernel = void (*)(const void* source, void* destination, uint64_t count);

// Returns the kernel converting `from` to `to`, or null when the pair is
// unsupported.
ConvertKernel FindConvertKernel(DType from, DType to);

// True when FindConvertKernel(from, to) is not null.
bool CanConvert(DType from, DType to);

// Every dtype `from` converts to, in enum order (always includes `from`).
std::vector<DType> ConversionTargets(DType from);

// Returns OK when `from` converts to `to`; otherwise kUnsupportedConversion
// naming `tensor`, both dtypes and the dtypes `from` converts to.
Status CheckConversion(DType from, DType to, std::string_view tensor);

}  // namespace safeckpt::internal
