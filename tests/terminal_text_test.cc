#include "core/terminal_text.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "format/quote.h"

namespace safeckpt::internal {
namespace {

TEST(EscapeForTerminalTest, PlainTextIsUnchanged) {
  EXPECT_EQ(EscapeForTerminal("model.layers.0.mlp.up_proj.weight"),
            "model.layers.0.mlp.up_proj.weight");
  EXPECT_EQ(EscapeForTerminal(""), "");
}

TEST(EscapeForTerminalTest, NewlineCannotStartAFakeLine) {
  EXPECT_EQ(EscapeForTerminal("a\nsafeckpt: error: fake"), "a\\x0asafeckpt: error: fake");
}

TEST(EscapeForTerminalTest, EscapeSequenceIsDefused) {
  EXPECT_EQ(EscapeForTerminal("\x1b[2Jname"), "\\x1b[2Jname");
}

TEST(EscapeForTerminalTest, EveryC0ControlAndDelIsEscaped) {
  for (int byte = 0; byte < 0x20; ++byte) {
    char hex[8];
    std::snprintf(hex, sizeof(hex), "\\x%02x", byte);
    EXPECT_EQ(EscapeForTerminal(std::string(1, static_cast<char>(byte))), hex) << byte;
  }
  EXPECT_EQ(EscapeForTerminal("\x7f"), "\\x7f");
  EXPECT_EQ(EscapeForTerminal(std::string("a\0b", 3)), "a\\x00b");
}

TEST(EscapeForTerminalTest, RawC1ByteIsEscaped) {
  EXPECT_EQ(EscapeForTerminal("a\x9b" "2Jb"), "a\\x9b2Jb");
  EXPECT_EQ(EscapeForTerminal("\x80"), "\\x80");
}

TEST(EscapeForTerminalTest, C1ControlInUtf8IsEscaped) {
  // U+009B is CSI, which some terminals treat like ESC [.
  EXPECT_EQ(EscapeForTerminal("a\xc2\x9b" "2J"), "a\\xc2\\x9b2J");
  EXPECT_EQ(EscapeForTerminal("\xc2\x80"), "\\xc2\\x80");
}

TEST(EscapeForTerminalTest, ValidUtf8IsKept) {
  // U+00A0 (the first code point after C1), U+00E9, U+4E2D and U+1F600.
  const std::string text = "\xc2\xa0 caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80";
  EXPECT_EQ(EscapeForTerminal(text), text);
}

TEST(EscapeForTerminalTest, InvalidUtf8BytesAreEscaped) {
  EXPECT_EQ(EscapeForTerminal("a\xff" "b"), "a\\xffb");
  // An overlong encoding of '/'.
  EXPECT_EQ(EscapeForTerminal("\xc0\xaf"), "\\xc0\\xaf");
  // A sequence cut off by the end of the text.
  EXPECT_EQ(EscapeForTerminal("x\xe4\xb8"), "x\\xe4\\xb8");
}

TEST(EscapeForTerminalTest, TextAfterInvalidByteIsJudgedAgain) {
  // The lead byte e4 lacks its continuation bytes, so "A" and the valid
  // U+00E9 after it are kept.
  EXPECT_EQ(EscapeForTerminal("\xe4" "A\xc3\xa9"), "\\xe4A\xc3\xa9");
}

TEST(EscapeForTerminalTest, BidirectionalControlsAreEscaped) {
  // U+202E RIGHT-TO-LEFT OVERRIDE would print "ab" + reversed rest.
  EXPECT_EQ(EscapeForTerminal("ab\xe2\x80\xae" "cd"), "ab\\xe2\\x80\\xaecd");
  EXPECT_EQ(EscapeForTerminal("\xe2\x80\x8e"), "\\xe2\\x80\\x8e");  // U+200E
  EXPECT_EQ(EscapeForTerminal("\xe2\x81\xa6"), "\\xe2\\x81\\xa6");  // U+2066
  EXPECT_EQ(EscapeForTerminal("\xe2\x81\xa9"), "\\xe2\\x81\\xa9");  // U+2069
  EXPECT_EQ(EscapeForTerminal("\xd8\x9c"), "\\xd8\\x9c");              // U+061C
}

TEST(EscapeForTerminalTest, NeighboursOfBidirectionalControlsAreKept) {
  EXPECT_EQ(EscapeForTerminal("\xe2\x80\x94"), "\xe2\x80\x94");  // U+2014 EM DASH
  EXPECT_EQ(EscapeForTerminal("\xe2\x81\xb0"), "\xe2\x81\xb0");  // U+2070 SUPERSCRIPT ZERO
}

TEST(EscapeForTerminalTest, EscapingTwiceChangesNothing) {
  std::string once = EscapeForTerminal("a\x1b[2J\n\xe2\x80\xae\xff");
  EXPECT_EQ(EscapeForTerminal(once), once);
}

TEST(EscapeForTerminalTest, BackslashIsKept) {
  EXPECT_EQ(EscapeForTerminal("a\\b"), "a\\b");
}

TEST(QuoteTest, EscapesLikeTerminalTextAndQuotes) {
  EXPECT_EQ(Quote("it's"), "'it\\'s'");
  EXPECT_EQ(Quote("a\nb\tc"), "'a\\nb\\tc'");
  EXPECT_EQ(Quote("\x1b[2J"), "'\\x1b[2J'");
  EXPECT_EQ(Quote("\xc2\x9b"), "'\\xc2\\x9b'");
  EXPECT_EQ(Quote("\xff"), "'\\xff'");
}

TEST(QuoteTest, LongTextIsCutWithItsLength) {
  std::string quoted = Quote(std::string(5000, 'n'));
  EXPECT_EQ(quoted, "'" + std::string(200, 'n') + "'... (5000 bytes)");
}

TEST(QuoteTest, CutKeepsUtf8Characters) {
  // 150 two-byte characters: a cut at byte 199 would split one.
  std::string text;
  for (int i = 0; i < 150; ++i) text += "\xc3\xa9";
  std::string quoted = Quote(text, 199);
  EXPECT_EQ(quoted, "'" + text.substr(0, 198) + "'... (300 bytes)");
}

TEST(FormatShapeForMessageTest, ShortShapeIsComplete) {
  EXPECT_EQ(FormatShapeForMessage({2, 3}), "[2, 3]");
  EXPECT_EQ(FormatShapeForMessage({}), "[]");
}

TEST(FormatShapeForMessageTest, LongShapeShowsFirstDimensionsAndCount) {
  Shape shape(5000, 1);
  shape[0] = 7;
  EXPECT_EQ(FormatShapeForMessage(shape, 3), "[7, 1, 1, ...] (5000 dimensions)");
}

}  // namespace
}  // namespace safeckpt::internal
