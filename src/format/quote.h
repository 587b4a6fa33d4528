// Quoting of names and values taken from files, for error messages.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/terminal_text.h"
#include "safeckpt/dtype.h"

namespace safeckpt::internal {

// Returns `text` in single quotes, ready to embed in a message. Quotes and
// backslashes get a backslash, and newline and tab are written as \n and
// \t. Every other byte that could corrupt a terminal or a log line is
// escaped as EscapeForTerminal does, so a hostile name prints on one line.
// Text longer than `max_bytes` is cut and marked with "..." and its full
// length.
inline std::string Quote(std::string_view text, size_t max_bytes = 200) {
  size_t shown = text.size() < max_bytes ? text.size() : max_bytes;
  // Cut at a character boundary so valid UTF-8 stays valid.
  while (shown < text.size() && shown > 0 &&
         (static_cast<unsigned char>(text[shown]) & 0xc0) == 0x80) {
    --shown;
  }

  std::string escaped;
  for (char byte : text.substr(0, shown)) {
    if (byte == '\'' || byte == '\\') {
      escaped += '\\';
      escaped += byte;
    } else if (byte == '\n') {
      escaped += "\\n";
    } else if (byte == '\t') {
      escaped += "\\t";
    } else {
      escaped += byte;
    }
  }

  std::string quoted = "'" + EscapeForTerminal(escaped) + "'";
  if (shown < text.size()) quoted += "... (" + std::to_string(text.size()) + " bytes)";
  return quoted;
}

// Formats a shape for a message like FormatShape, but a shape of more than
// `max_dims` dimensions shows only its first `max_dims`, then "..." and the
// count, as in "[1, 1, ...] (5000 dimensions)".
inline std::string FormatShapeForMessage(const Shape& shape, size_t max_dims = 16) {
  if (shape.size() <= max_dims) return FormatShape(shape);
  std::string text = "[";
  for (size_t i = 0; i < max_dims; ++i) text += std::to_string(shape[i]) + ", ";
  return text + "...] (" + std::to_string(shape.size()) + " dimensions)";
}

}  // namespace safeckpt::internal
