// Quoting of names and values taken from files, for error messages.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace safeckpt::internal {

// Returns `text` in single quotes, ready to embed in a message. Bytes that
// could corrupt a terminal or a log line (control characters, quotes and
// backslashes) are written as escapes such as \n or \x1b, so a hostile name
// prints on one line. Text longer than `max_bytes` is cut and marked with
// "..." and its full length.
inline std::string Quote(std::string_view text, size_t max_bytes = 200) {
  static constexpr char kHexDigits[] = "0123456789abcdef";
  std::string quoted = "'";
  size_t shown = text.size() < max_bytes ? text.size() : max_bytes;
  // Cut at a character boundary so valid UTF-8 stays valid.
  while (shown < text.size() && shown > 0 &&
         (static_cast<unsigned char>(text[shown]) & 0xc0) == 0x80) {
    --shown;
  }
  for (size_t i = 0; i < shown; ++i) {
    unsigned char byte = static_cast<unsigned char>(text[i]);
    if (byte == '\'' || byte == '\\') {
      quoted += '\\';
      quoted += static_cast<char>(byte);
    } else if (byte == '\n') {
      quoted += "\\n";
    } else if (byte == '\t') {
      quoted += "\\t";
    } else if (byte < 0x20 || byte == 0x7f) {
      quoted += "\\x";
      quoted += kHexDigits[byte >> 4];
      quoted += kHexDigits[byte & 0xf];
    } else {
      quoted += static_cast<char>(byte);
    }
  }
  quoted += "'";
  if (shown < text.size()) quoted += "... (" + std::to_string(text.size()) + " bytes)";
  return quoted;
}

}  // namespace safeckpt::internal
