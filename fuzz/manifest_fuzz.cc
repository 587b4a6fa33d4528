// libFuzzer target: ParseManifest on the input text, and a format-and-parse
// round trip of every manifest it accepts.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_inputs.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Errors are the expected result of most inputs.
  (void)safeckpt::fuzz::RunManifestInput(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
