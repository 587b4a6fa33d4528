// Escaping of untrusted text, such as tensor names, metadata values and
// shard names, before a text output prints it on a terminal.
#pragma once

#include <string>
#include <string_view>

namespace safeckpt::internal {

// Returns `text` with every character a terminal could act on written as
// \xNN escapes (two lowercase hex digits per byte), so a hostile name can
// neither start a line of its own nor move the cursor or clear the screen.
// These are escaped:
//   - the C0 control characters 0x00 to 0x1f, tab and newline included,
//     and DEL (0x7f);
//   - the C1 control characters U+0080 to U+009F, which some terminals obey
//     (U+009B is CSI, like ESC [), both in their UTF-8 form (c2 80 to c2 9f)
//     and as single bytes 0x80 to 0x9f;
//   - the bidirectional controls U+061C, U+200E, U+200F, U+202A to U+202E
//     and U+2066 to U+2069, which make a name display as another name;
//   - every other byte that is not part of well-formed UTF-8.
// All other well-formed UTF-8 is copied unchanged, so the result is always
// valid UTF-8. Escaping twice gives the same text as escaping once.
//
// NOTE: backslashes are copied as they are, so a name containing the four
// characters \x1b prints like one containing ESC.
//
// Pure function; safe to call from any thread.
std::string EscapeForTerminal(std::string_view text);

}  // namespace safeckpt::internal
