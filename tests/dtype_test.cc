#include "safeckpt/dtype.h"

#include <gtest/gtest.h>

#include <limits>

namespace safeckpt {
namespace {

TEST(DTypeTest, NamesRoundTrip) {
  for (int i = 0; i < kDTypeCount; ++i) {
    DType dtype = static_cast<DType>(i);
    std::optional<DType> parsed = ParseDType(DTypeName(dtype));
    ASSERT_TRUE(parsed.has_value()) << DTypeName(dtype);
    EXPECT_EQ(*parsed, dtype);
  }
}

TEST(DTypeTest, ParseIsCaseSensitive) {
  EXPECT_FALSE(ParseDType("bf16").has_value());
  EXPECT_FALSE(ParseDType("F128").has_value());
  EXPECT_FALSE(ParseDType("").has_value());
}

TEST(DTypeTest, BitWidths) {
  EXPECT_EQ(DTypeBits(DType::kBool), 8u);
  EXPECT_EQ(DTypeBits(DType::kBF16), 16u);
  EXPECT_EQ(DTypeBits(DType::kC64), 64u);
  EXPECT_EQ(DTypeBits(DType::kF4), 4u);
  EXPECT_EQ(DTypeBits(DType::kF6_E2M3), 6u);
  EXPECT_EQ(DTypeBits(DType::kF8_E8M0), 8u);
}

TEST(DTypeTest, ScalarHasOneElement) {
  EXPECT_EQ(ElementCount({}), 1u);
  EXPECT_EQ(ByteSize(DType::kF32, {}), 4u);
}

TEST(DTypeTest, ZeroDimensionGivesZeroBytes) {
  EXPECT_EQ(ByteSize(DType::kF32, {3, 0, 5}), 0u);
}

TEST(DTypeTest, SubByteSizes) {
  EXPECT_EQ(ByteSize(DType::kF4, {4}), 2u);
  EXPECT_FALSE(ByteSize(DType::kF4, {3}).has_value());
  EXPECT_EQ(ByteSize(DType::kF6_E3M2, {4}), 3u);
  EXPECT_FALSE(ByteSize(DType::kF6_E3M2, {2}).has_value());
}

TEST(DTypeTest, OverflowIsDetected) {
  uint64_t big = std::numeric_limits<uint64_t>::max() / 2;
  EXPECT_FALSE(ElementCount({big, 3}).has_value());
  EXPECT_FALSE(ByteSize(DType::kF64, {big}).has_value());
}

TEST(DTypeTest, FormatShape) {
  EXPECT_EQ(FormatShape({}), "[]");
  EXPECT_EQ(FormatShape({2, 3}), "[2, 3]");
}

}  // namespace
}  // namespace safeckpt
