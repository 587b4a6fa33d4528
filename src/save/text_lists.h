// Helpers shared by the text forms of the convert and compare reports.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "safeckpt/load_report.h"

namespace safeckpt::internal {

// Lists longer than this many grouped lines are cut in text reports, while
// the JSON forms list every name.
inline constexpr size_t kMaxTextLines = 20;

// "512 B", "1.5 KiB", "700.0 MiB", "2.00 GiB".
inline std::string FormatByteCount(uint64_t bytes) {
  constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) return fmt::format("{} B", bytes);
  double value = static_cast<double>(bytes) / 1024;
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  if (unit >= 2) return fmt::format("{:.2f} {}", value, kUnits[unit]);
  return fmt::format("{:.1f} {}", value, kUnits[unit]);
}

// Appends up to kMaxTextLines lines indented by `indent`, then a line
// counting the lines left out.
inline void AppendCappedLines(std::string& out, const std::vector<std::string>& lines,
                              std::string_view indent = "  ") {
  size_t printed = std::min(lines.size(), kMaxTextLines);
  for (size_t i = 0; i < printed; ++i) out += fmt::format("{}{}\n", indent, lines[i]);
  if (lines.size() > printed) {
    out += fmt::format("{}... {} more lines; --format json lists every name\n", indent,
                       lines.size() - printed);
  }
}

// Appends "<title> (<count>):" and the names grouped by GroupNames.
inline void AppendGroupedNames(std::string& out, std::string_view title,
                               const std::vector<std::string>& names) {
  if (names.empty()) return;
  out += fmt::format("{} ({}):\n", title, names.size());
  AppendCappedLines(out, GroupNames(names));
}

}  // namespace safeckpt::internal
