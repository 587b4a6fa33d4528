// Validation of one tensor entry of a safetensors header.
#pragma once

#include <simdjson.h>

#include <string_view>

#include "safeckpt/safetensors.h"
#include "safeckpt/status.h"

namespace safeckpt::internal {

// Validates the header entry `entry` of the tensor `name` and returns it as
// a TensorInfo. Checks, in this order: the entry is an object; each field,
// in file order, is dtype, shape or data_offsets, given once, of the right
// type and value; no field is missing; the element count and bit size fit
// in 64 bits, the bit size is a whole number of bytes and equals
// end - begin. Errors start with "<display_name>: tensor '<name>': ".
Result<TensorInfo> ParseTensorEntry(std::string_view name, simdjson::dom::element entry,
                                    std::string_view display_name);

}  // namespace safeckpt::internal
