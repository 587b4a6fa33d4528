// UTF-8 validation shared by the header reader, the JSON writer and the
// terminal escaping.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace safeckpt::internal {

// Returns the length (1 to 4) of the well-formed UTF-8 sequence that starts
// at text[i], or 0 when the bytes there do not form one. Well-formed means
// RFC 3629: no overlong forms, no UTF-16 surrogates, nothing above
// U+10FFFF, and no sequence cut off by the end of `text`. Requires
// i < text.size().
size_t Utf8SequenceLength(std::string_view text, size_t i);

// Returns the offset of the first byte of `text` that is not part of
// well-formed UTF-8, or nullopt when all of `text` is valid.
std::optional<size_t> FindInvalidUtf8(std::string_view text);

// True when `sequence`, one well-formed UTF-8 sequence, encodes a C1 control
// character (U+0080 to U+009F, bytes c2 80 to c2 9f). Some terminals obey
// them: U+009B acts as ESC [.
inline bool IsC1Control(std::string_view sequence) {
  return sequence.size() == 2 && static_cast<unsigned char>(sequence[0]) == 0xc2 &&
         static_cast<unsigned char>(sequence[1]) < 0xa0;
}

}  // namespace safeckpt::internal
