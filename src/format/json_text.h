// Byte-level checks on JSON text that run before the JSON parser reads it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace safeckpt::internal {

// Result of ScanJsonNesting.
struct JsonNesting {
  // Offset of the first '{' or '[' that nests deeper than the cap, if any.
  std::optional<size_t> too_deep_at;
  // Offset just past the bracket that closes the first top-level object or
  // array, or text.size() when no top-level container closes.
  size_t value_end = 0;
};

// Scans the brackets of `text` outside string literals, stopping where the
// first top-level object or array closes, so the parser can be given that
// prefix alone and the bytes after it checked separately. The scan trusts
// nothing: on malformed JSON its result still bounds the nesting of the
// prefix, which is what keeps deep input away from the parser.
JsonNesting ScanJsonNesting(std::string_view text, uint32_t max_depth);

// True when `text` starts with the UTF-8 byte order mark (ef bb bf), which
// some Windows tools write and JSON parsers reject.
inline bool StartsWithByteOrderMark(std::string_view text) {
  return text.starts_with("\xef\xbb\xbf");
}

// True for a byte that can begin a JSON value: '{', '[', '"', '-', a digit,
// or the first letter of true, false or null.
bool CanStartJsonValue(char c);

// True for the four whitespace bytes JSON allows between tokens.
inline bool IsJsonWhitespace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Returns the offset of the first byte of `text` at or after `from` that is
// not JSON whitespace, or text.size() when there is none.
size_t SkipJsonWhitespace(std::string_view text, size_t from = 0);

}  // namespace safeckpt::internal
