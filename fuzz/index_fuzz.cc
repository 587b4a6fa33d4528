// libFuzzer target: ParseCheckpointIndex on the input text.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_inputs.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Errors are the expected result of most inputs.
  (void)safeckpt::fuzz::RunIndexInput(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
