// Validation of where tensors sit in the data section of a safetensors file.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "safeckpt/safetensors.h"
#include "safeckpt/status.h"

namespace safeckpt::internal {

// Sorts `tensors` by (data_begin, data_end, name) and checks that their
// byte ranges tile the data section of `data_size` bytes exactly. The first
// range starts at 0 and each starts where the previous one ended. None ends
// past the data section, and the last ends at its end. Zero-size tensors
// may sit on any boundary between ranges. Errors name `display_name`.
Status SortAndCheckDataLayout(std::vector<TensorInfo>& tensors, uint64_t data_size,
                              std::string_view display_name);

}  // namespace safeckpt::internal
