#include "load/sha256.h"

#include <gtest/gtest.h>

#include <string>

namespace safeckpt::internal {
namespace {

// Expected digests are the FIPS 180-2 examples and `sha256sum` output.

TEST(Sha256Test, EmptyInput) {
  Result<std::string> digest = Sha256Hex(nullptr, 0);
  ASSERT_TRUE(digest.ok()) << digest.status().ToString();
  EXPECT_EQ(*digest, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Sha256Test, ThreeBytes) {
  const std::string text = "abc";
  Result<std::string> digest = Sha256Hex(text.data(), text.size());
  ASSERT_TRUE(digest.ok()) << digest.status().ToString();
  EXPECT_EQ(*digest, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256Test, MillionLetters) {
  const std::string text(1000000, 'a');
  Result<std::string> digest = Sha256Hex(text.data(), text.size());
  ASSERT_TRUE(digest.ok()) << digest.status().ToString();
  EXPECT_EQ(*digest, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

}  // namespace
}  // namespace safeckpt::internal
