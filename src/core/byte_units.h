// Human-readable byte counts for text output.
#pragma once

#include <cstdint>
#include <string>

namespace safeckpt::internal {

// Formats a byte count as "512 B" below 1 KiB, else with one decimal in the
// largest binary unit that keeps the value at least 1: "3.3 MiB", "2.0 GiB".
std::string FormatBytes(uint64_t bytes);

}  // namespace safeckpt::internal
