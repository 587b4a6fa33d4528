#include "safeckpt/writer.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "support/test_support.h"

namespace safeckpt {
namespace {

using testing::TempDir;

TEST(WriterTest, HeaderIsPaddedToEightBytes) {
  float values[3] = {1, 2, 3};
  std::string header = BuildSafetensorsHeader({{"a", DType::kF32, {3}, values}}, {});
  EXPECT_EQ(header.size() % 8, 0u);
  uint64_t length = 0;
  std::memcpy(&length, header.data(), 8);
  EXPECT_EQ(length + 8, header.size());
  EXPECT_NE(header.find(R"("__metadata__":{"format":"pt"})"), std::string::npos) << header;
  EXPECT_NE(header.find(R"("data_offsets":[0,12])"), std::string::npos) << header;
}

TEST(WriterTest, RejectsTensorNamedMetadata) {
  TempDir dir;
  uint8_t byte = 0;
  Status status = WriteSafetensors(dir.Join("x.safetensors"), {{"__metadata__", DType::kU8, {1}, &byte}});
  EXPECT_EQ(status.id(), ErrorId::kDuplicateName);
  EXPECT_FALSE(std::filesystem::exists(dir.Join("x.safetensors")));
}

TEST(WriterTest, RejectsDuplicateNames) {
  TempDir dir;
  uint8_t byte = 0;
  Status status = WriteSafetensors(dir.Join("x.safetensors"),
                                   {{"a", DType::kU8, {1}, &byte}, {"a", DType::kU8, {1}, &byte}});
  EXPECT_EQ(status.id(), ErrorId::kDuplicateName);
  EXPECT_NE(status.message().find("'a'"), std::string::npos);
}

TEST(WriterTest, WritesDataAfterHeader) {
  TempDir dir;
  uint16_t values[2] = {0x1234, 0xabcd};
  std::string path = dir.Join("x.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {{"w", DType::kU16, {2}, values}}).ok());
  std::string bytes = testing::ReadFileBytes(path);
  ASSERT_GE(bytes.size(), 4u);
  EXPECT_EQ(bytes.substr(bytes.size() - 4), std::string("\x34\x12\xcd\xab", 4));
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    EXPECT_EQ(entry.path().filename(), "x.safetensors") << "temporary file left behind";
  }
}

}  // namespace
}  // namespace safeckpt
