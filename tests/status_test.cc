#include "safeckpt/status.h"

#include <gtest/gtest.h>

namespace safeckpt {
namespace {

TEST(StatusTest, DefaultIsOk) {
  Status status;
  EXPECT_TRUE(status.ok());
  EXPECT_EQ(status.ToString(), "ok");
}

TEST(StatusTest, WithContextPrependsContext) {
  Status status = Corruption(ErrorId::kDataGap, "gap of 4 bytes");
  Status wrapped = status.WithContext("shard-1.safetensors");
  EXPECT_EQ(wrapped.message(), "shard-1.safetensors: gap of 4 bytes");
  EXPECT_EQ(wrapped.id(), ErrorId::kDataGap);
  EXPECT_EQ(wrapped.code(), StatusCode::kCorruption);
}

TEST(StatusTest, ToStringNamesCodeAndId) {
  Status status = OutOfRange(ErrorId::kHeaderTooLarge, "too big");
  EXPECT_EQ(status.ToString(), "out of range (header_too_large): too big");
}

Result<int> Half(int value) {
  if (value % 2 != 0) return InvalidArgument(ErrorId::kInternal, "odd value " + std::to_string(value));
  return value / 2;
}

Result<int> Quarter(int value) {
  SAFECKPT_ASSIGN_OR_RETURN(int half, Half(value));
  return Half(half);
}

TEST(ResultTest, AssignOrReturnPropagatesErrors) {
  EXPECT_EQ(Quarter(8).value(), 2);
  Result<int> failed = Quarter(6);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().message(), "odd value 3");
}

TEST(ResultTest, OkStatusBecomesInternalError) {
  Result<int> result{Status::Ok()};
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(result.status().id(), ErrorId::kInternal);
}

TEST(StatusTest, EveryErrorIdHasAName) {
  for (int id = 0; id <= static_cast<int>(ErrorId::kInternal); ++id) {
    EXPECT_NE(ErrorIdName(static_cast<ErrorId>(id)), "unknown") << id;
  }
}

}  // namespace
}  // namespace safeckpt
