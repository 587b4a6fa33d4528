#include "core/utf8.h"

namespace safeckpt::internal {

// The ranges of the second byte exclude overlong forms (E0, F0),
// surrogates (ED) and code points above U+10FFFF (F4), as in RFC 3629
// section 4.
size_t Utf8SequenceLength(std::string_view text, size_t i) {
  auto byte_at = [&](size_t k) -> unsigned {
    return k < text.size() ? static_cast<unsigned char>(text[k]) : 0x100;
  };
  auto in_range = [](unsigned byte, unsigned low, unsigned high) {
    return byte >= low && byte <= high;
  };

  unsigned lead = byte_at(i);
  if (lead < 0x80) return 1;
  if (in_range(lead, 0xc2, 0xdf)) return in_range(byte_at(i + 1), 0x80, 0xbf) ? 2 : 0;

  if (in_range(lead, 0xe0, 0xef)) {
    unsigned low = lead == 0xe0 ? 0xa0 : 0x80;
    unsigned high = lead == 0xed ? 0x9f : 0xbf;
    bool valid = in_range(byte_at(i + 1), low, high) && in_range(byte_at(i + 2), 0x80, 0xbf);
    return valid ? 3 : 0;
  }

  if (in_range(lead, 0xf0, 0xf4)) {
    unsigned low = lead == 0xf0 ? 0x90 : 0x80;
    unsigned high = lead == 0xf4 ? 0x8f : 0xbf;
    bool valid = in_range(byte_at(i + 1), low, high) && in_range(byte_at(i + 2), 0x80, 0xbf) &&
                 in_range(byte_at(i + 3), 0x80, 0xbf);
    return valid ? 4 : 0;
  }
  return 0;
}

std::optional<size_t> FindInvalidUtf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    size_t length = Utf8SequenceLength(text, i);
    if (length == 0) return i;
    i += length;
  }
  return std::nullopt;
}

}  // namespace safeckpt::internal
