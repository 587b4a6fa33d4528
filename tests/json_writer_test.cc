#include "core/json_writer.h"

#include <gtest/gtest.h>

#include <string>

namespace safeckpt::internal {
namespace {

std::string Quoted(std::string_view text) {
  std::string out;
  AppendJsonString(out, text);
  return out;
}

TEST(JsonStringTest, PlainAndMultibyteTextIsCopied) {
  EXPECT_EQ(Quoted("model.layers.0"), "\"model.layers.0\"");
  EXPECT_EQ(Quoted("\xc3\xa9\xe2\x82\xac"), "\"\xc3\xa9\xe2\x82\xac\"");
}

TEST(JsonStringTest, QuotesBackslashesAndControlsAreEscaped) {
  EXPECT_EQ(Quoted("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(Quoted("\n\r\t"), "\"\\n\\r\\t\"");
  EXPECT_EQ(Quoted(std::string("\x01\x1b", 2)), "\"\\u0001\\u001b\"");
}

TEST(JsonStringTest, C1ControlIsEscaped) {
  EXPECT_EQ(Quoted("a\xc2\x9b" "b"), "\"a\\u009bb\"");
  EXPECT_EQ(Quoted("\xc2\xa0"), "\"\xc2\xa0\"");  // U+00A0 is printable
}

TEST(JsonStringTest, InvalidUtf8BecomesReplacementCharacter) {
  EXPECT_EQ(Quoted("dir/\xff.safetensors"), "\"dir/\\ufffd.safetensors\"");
  EXPECT_EQ(Quoted("\xe4\xb8"), "\"\\ufffd\\ufffd\"");
}

}  // namespace
}  // namespace safeckpt::internal
