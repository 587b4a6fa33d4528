#include "core/terminal_text.h"

#include "core/utf8.h"

namespace safeckpt::internal {
namespace {

void AppendHexEscapes(std::string& out, std::string_view bytes) {
  static constexpr char kHexDigits[] = "0123456789abcdef";
  for (char byte : bytes) {
    unsigned value = static_cast<unsigned char>(byte);
    out += "\\x";
    out += kHexDigits[value >> 4];
    out += kHexDigits[value & 0xf];
  }
}

// True for a well-formed UTF-8 sequence that encodes a C0 or C1 control
// character, DEL, or a bidirectional control that reorders the text around it.
bool IsUnsafeForTerminal(std::string_view sequence) {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(sequence[i]); };
  if (sequence.size() == 1) return byte(0) < 0x20 || byte(0) == 0x7f;
  if (sequence.size() == 2) {
    // C1 controls, and U+061C ARABIC LETTER MARK.
    return IsC1Control(sequence) || (byte(0) == 0xd8 && byte(1) == 0x9c);
  }
  if (sequence.size() != 3 || byte(0) != 0xe2) return false;
  // U+200E and U+200F (marks), U+202A to U+202E (embeddings and overrides),
  // U+2066 to U+2069 (isolates).
  if (byte(1) == 0x80) return byte(2) == 0x8e || byte(2) == 0x8f || (byte(2) >= 0xaa && byte(2) <= 0xae);
  return byte(1) == 0x81 && byte(2) >= 0xa6 && byte(2) <= 0xa9;
}

}  // namespace

std::string EscapeForTerminal(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    size_t length = Utf8SequenceLength(text, i);

    // A byte that starts no well-formed sequence is escaped on its own, so
    // the bytes after it are judged afresh.
    if (length == 0) {
      AppendHexEscapes(out, text.substr(i, 1));
      ++i;
      continue;
    }

    std::string_view sequence = text.substr(i, length);
    if (IsUnsafeForTerminal(sequence)) {
      AppendHexEscapes(out, sequence);
    } else {
      out += sequence;
    }
    i += length;
  }
  return out;
}

}  // namespace safeckpt::internal
