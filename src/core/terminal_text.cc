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
// character or DEL.
bool IsControlCharacter(std::string_view sequence) {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(sequence[i]); };
  if (sequence.size() == 1) return byte(0) < 0x20 || byte(0) == 0x7f;
  return sequence.size() == 2 && byte(0) == 0xc2 && byte(1) < 0xa0;
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
    if (IsControlCharacter(sequence)) {
      AppendHexEscapes(out, sequence);
    } else {
      out += sequence;
    }
    i += length;
  }
  return out;
}

}  // namespace safeckpt::internal
