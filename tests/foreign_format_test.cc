#include <gtest/gtest.h>

#include <string>

#include "safeckpt/safetensors.h"
#include "support/test_support.h"

namespace safeckpt {
namespace {

using testing::TempDir;

// Writes `bytes` to a file and reads it as a safetensors file.
Result<SafetensorsHeader> ReadBytes(const TempDir& dir, std::string_view bytes) {
  std::string path = dir.Join("model.safetensors");
  testing::WriteFileBytes(path, bytes);
  return ReadSafetensorsHeader(path);
}

const std::string kLfsPointer =
    "version https://git-lfs.github.com/spec/v1\n"
    "oid sha256:4d7a2144b3f1c2bd1b2e6d1e0a0c2d1f8b4e0e0f4c9b2e6b5a3d2c1b0a9f8e7d\n"
    "size 5283287392\n";

TEST(ForeignFormatTest, LfsPointer) {
  TempDir dir;
  Result<SafetensorsHeader> header = ReadBytes(dir, kLfsPointer);
  EXPECT_ERROR(header, ErrorId::kNotSafetensors, "model.safetensors: not a safetensors file");
  EXPECT_ERROR(header, ErrorId::kNotSafetensors, "a Git LFS pointer, not the file itself");
  EXPECT_ERROR(header, ErrorId::kNotSafetensors, "run `git lfs pull`");
}

TEST(ForeignFormatTest, ZipArchive) {
  TempDir dir;
  std::string zip("PK\x03\x04\x00\x00\x08\x00", 8);
  zip += "archive/data.pkl";
  zip += std::string(200, '\0');
  Result<SafetensorsHeader> header = ReadBytes(dir, zip);
  EXPECT_ERROR(header, ErrorId::kNotSafetensors, "a zip archive, which is what torch.save writes");
  EXPECT_ERROR(header, ErrorId::kNotSafetensors, "torch.load");
}

TEST(ForeignFormatTest, Gguf) {
  TempDir dir;
  std::string gguf("GGUF\x03\x00\x00\x00", 8);
  gguf += std::string(64, '\0');
  EXPECT_ERROR(ReadBytes(dir, gguf), ErrorId::kNotSafetensors, "a GGUF file");
}

TEST(ForeignFormatTest, PickleProtocols) {
  TempDir dir;
  // torch.save with _use_new_zipfile_serialization=False starts with the
  // pickled magic number: PROTO 2, LONG1.
  std::string legacy_torch("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 14);
  EXPECT_ERROR(ReadBytes(dir, legacy_torch + std::string(100, 'x')), ErrorId::kNotSafetensors,
               "a Python pickle (protocol 2)");

  std::string protocol_4("\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00}", 12);
  EXPECT_ERROR(ReadBytes(dir, protocol_4 + std::string(100, 'x')), ErrorId::kNotSafetensors,
               "a Python pickle (protocol 4)");

  std::string protocol_5("\x80\x05\x95\x10\x00\x00\x00\x00\x00\x00\x00}", 12);
  EXPECT_ERROR(ReadBytes(dir, protocol_5 + std::string(100, 'x')), ErrorId::kNotSafetensors,
               "protocol 5");
}

TEST(ForeignFormatTest, HtmlPage) {
  TempDir dir;
  EXPECT_ERROR(ReadBytes(dir, "<!DOCTYPE html>\n<html><body>404 Not Found</body></html>\n"),
               ErrorId::kNotSafetensors, "an HTML page");
  EXPECT_ERROR(ReadBytes(dir, "\n\n  <html lang=\"en\"><head><title>Error</title></head></html>"),
               ErrorId::kNotSafetensors, "download the file again");
  EXPECT_ERROR(ReadBytes(dir, "<!doctype HTML><title>x</title>" + std::string(40, ' ')),
               ErrorId::kNotSafetensors, "an HTML page");
}

TEST(ForeignFormatTest, JsonTextFile) {
  TempDir dir;
  EXPECT_ERROR(ReadBytes(dir, "{\n  \"metadata\": {\"total_size\": 1},\n  \"weight_map\": {}\n}\n"),
               ErrorId::kNotSafetensors, "model.safetensors.index.json");
}

TEST(ForeignFormatTest, DescribeReturnsEmptyForSafetensors) {
  std::string valid =
      testing::FileBytes(R"({"w": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}})", "x");
  EXPECT_EQ(DescribeForeignFormat(valid), "");
  EXPECT_EQ(DescribeForeignFormat(""), "");
  EXPECT_EQ(DescribeForeignFormat("random bytes"), "");
}

// A safetensors file whose header length starts with the bytes of a pickle
// PROTO opcode is still a safetensors file: 0x80 0x02 0x00 is a length of
// 640 bytes, and 0x00 is no pickle opcode.
TEST(ForeignFormatTest, PickleLikeHeaderLengthIsNotAPickle) {
  std::string json = R"({"w": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}})";
  json.resize(640, ' ');
  std::string bytes = testing::FileBytes(json, "x");
  ASSERT_EQ(static_cast<unsigned char>(bytes[0]), 0x80);
  ASSERT_EQ(bytes[1], 0x02);
  EXPECT_EQ(DescribeForeignFormat(bytes), "");
  EXPECT_TRUE(ParseSafetensorsHeader(bytes, bytes.size(), "w.safetensors").ok());
}

// The same shape of header length, but the file is cut short: the error
// stays a header error and does not claim the file is a pickle.
TEST(ForeignFormatTest, TruncatedSafetensorsIsNotMistaken) {
  TempDir dir;
  std::string json = R"({"w": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}})";
  json.resize(640, ' ');
  std::string bytes = testing::FileBytes(json, "x").substr(0, 100);
  EXPECT_ERROR(ReadBytes(dir, bytes), ErrorId::kHeaderPastEnd, "truncated");
}

TEST(ForeignFormatTest, ShortForeignFileIsRecognised) {
  TempDir dir;
  EXPECT_ERROR(ReadBytes(dir, "GGUF"), ErrorId::kNotSafetensors, "a GGUF file");
}

}  // namespace
}  // namespace safeckpt
