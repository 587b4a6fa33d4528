// Decoding tensor elements to F64 for comparison.
#pragma once

#include <cstdint>

#include "safeckpt/dtype.h"

namespace safeckpt::internal {

// True for dtypes with a numeric decoding: BOOL, the integers, F64, F32,
// F16, BF16, F8_E4M3, F8_E5M2 and C64.
bool HasNumericValues(DType dtype);

// Values per element: 2 for C64 (real and imaginary part), otherwise 1.
uint32_t ValuesPerElement(DType dtype);

// Decodes `count` elements of `dtype` from little-endian bytes at `source`
// (any alignment) into `count * ValuesPerElement(dtype)` doubles. Floats
// convert exactly; 64-bit integers beyond 2^53 round to the nearest double.
// Requires HasNumericValues(dtype).
void DecodeToDouble(DType dtype, const void* source, uint64_t count, double* values);

// True for I64 and U64, whose values a double cannot always hold.
bool IsWideInteger(DType dtype);

// Returns value `index` of the elements at `source` exactly. For I64 and U64
// it decodes the integer again. For every other dtype `decoded`, the value
// DecodeToDouble gave, is already exact and is returned as it is.
long double ExactValue(DType dtype, const void* source, uint64_t index, double decoded);

}  // namespace safeckpt::internal
