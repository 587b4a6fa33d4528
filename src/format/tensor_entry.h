// Validation of one tensor entry of a safetensors header.
#pragma once

#include <simdjson.h>

#include <string_view>

#include "safeckpt/safetensors.h"
#include "safeckpt/status.h"

namespace safeckpt::internal {

// Validates the header entry `entry` of the tensor `name` and returns it as
// a TensorInfo. The checks run in this order:
//   1. The entry is an object.
//   2. Each field, in file order, is dtype, shape or data_offsets, given
//      once, with a valid type and value.
//   3. No field is missing.
//   4. The element count and bit size fit in 64 bits, and the bit size is
//      a whole number of bytes equal to 8 * (end - begin).
// A shape of more than limits.max_dims dimensions fails in step 2, before
// any dimension is read. Errors start with "<display_name>: tensor '<name>': ".
Result<TensorInfo> ParseTensorEntry(std::string_view name, simdjson::dom::element entry,
                                    std::string_view display_name, const ReaderLimits& limits);

}  // namespace safeckpt::internal
