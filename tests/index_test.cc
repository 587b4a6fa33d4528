#include <gtest/gtest.h>

#include <string>

#include "safeckpt/checkpoint.h"
#include "support/test_support.h"

namespace safeckpt {
namespace {

constexpr std::string_view kIndexName = "ckpt/model.safetensors.index.json";

Result<CheckpointIndex> Parse(std::string_view text) {
  return ParseCheckpointIndex(text, kIndexName);
}

TEST(IndexTest, ParsesWeightMapInFileOrder) {
  Result<CheckpointIndex> index = Parse(R"({
    "metadata": {"total_size": 4305},
    "weight_map": {"b": "model-00002.safetensors", "a": "model-00001.safetensors"}})");
  ASSERT_TRUE(index.ok()) << index.status().ToString();
  EXPECT_EQ(index->total_size, 4305u);
  ASSERT_EQ(index->weight_map.size(), 2u);
  EXPECT_EQ(index->weight_map[0],
            (std::pair<std::string, std::string>{"b", "model-00002.safetensors"}));
  EXPECT_EQ(index->weight_map[1],
            (std::pair<std::string, std::string>{"a", "model-00001.safetensors"}));
  EXPECT_TRUE(index->warnings.empty());
}

TEST(IndexTest, MetadataIsOptional) {
  Result<CheckpointIndex> index = Parse(R"({"weight_map": {"a": "a.safetensors"}})");
  ASSERT_TRUE(index.ok()) << index.status().ToString();
  EXPECT_FALSE(index->total_size.has_value());
  EXPECT_TRUE(index->warnings.empty());
}

TEST(IndexTest, ExtraMetadataAndKeysAreIgnored) {
  Result<CheckpointIndex> index =
      Parse(R"({"metadata": {"mergekit_version": "0.0.4.4", "total_size": 7642159104},)"
            R"( "format": "x", "weight_map": {"a": "a.safetensors"}})");
  ASSERT_TRUE(index.ok()) << index.status().ToString();
  EXPECT_EQ(index->total_size, 7642159104u);
}

TEST(IndexTest, TotalSizeZeroIsParsed) {
  Result<CheckpointIndex> index =
      Parse(R"({"metadata": {"total_size": 0}, "weight_map": {"a": "a.safetensors"}})");
  ASSERT_TRUE(index.ok()) << index.status().ToString();
  EXPECT_EQ(index->total_size, 0u);
  EXPECT_TRUE(index->warnings.empty());
}

TEST(IndexTest, TotalSizeAsWholeFloatIsAccepted) {
  Result<CheckpointIndex> index =
      Parse(R"({"metadata": {"total_size": 1.6e10}, "weight_map": {"a": "a.safetensors"}})");
  ASSERT_TRUE(index.ok()) << index.status().ToString();
  EXPECT_EQ(index->total_size, 16'000'000'000u);
  EXPECT_TRUE(index->warnings.empty());
}

TEST(IndexTest, NonsenseTotalSizeIsWarnedAndIgnored) {
  for (std::string_view value : {"-5", "12.5", "\"16 GB\"", "null", "[1]"}) {
    std::string text = R"({"metadata": {"total_size": )" + std::string(value) +
                       R"(}, "weight_map": {"a": "a.safetensors"}})";
    Result<CheckpointIndex> index = Parse(text);
    ASSERT_TRUE(index.ok()) << value << ": " << index.status().ToString();
    EXPECT_FALSE(index->total_size.has_value()) << value;
    ASSERT_EQ(index->warnings.size(), 1u) << value;
    EXPECT_NE(index->warnings[0].find("metadata.total_size is"), std::string::npos)
        << index->warnings[0];
    EXPECT_NE(index->warnings[0].find("not a byte count; it is ignored"), std::string::npos)
        << index->warnings[0];
    EXPECT_EQ(index->warnings[0], index->total_size_problem + "; it is ignored") << value;
  }
}

TEST(IndexTest, ValidTotalSizeHasNoProblem) {
  Result<CheckpointIndex> index =
      Parse(R"({"metadata": {"total_size": 8}, "weight_map": {"a": "a.safetensors"}})");
  ASSERT_TRUE(index.ok()) << index.status().ToString();
  EXPECT_EQ(index->total_size_problem, "");
}

TEST(IndexTest, NotJson) {
  EXPECT_ERROR(Parse("{\"weight_map\": {"), ErrorId::kIndexNotJson,
               "ckpt/model.safetensors.index.json: the index is not valid JSON: ");
  EXPECT_ERROR(Parse(""), ErrorId::kIndexNotJson, "not valid JSON");
  EXPECT_ERROR(Parse("{} {}"), ErrorId::kIndexNotJson, "not valid JSON");
}

TEST(IndexTest, NotAnObject) {
  EXPECT_ERROR(Parse("[]"), ErrorId::kIndexInvalid, "the index is an array");
}

TEST(IndexTest, MissingWeightMap) {
  EXPECT_ERROR(Parse(R"({"metadata": {"total_size": 1}})"), ErrorId::kIndexMissingWeightMap,
               "has no weight_map");
}

TEST(IndexTest, WeightMapNotAnObject) {
  EXPECT_ERROR(Parse(R"({"weight_map": ["a.safetensors"]})"), ErrorId::kIndexInvalid,
               "weight_map is an array, expected an object");
}

TEST(IndexTest, WeightMapGivenTwice) {
  EXPECT_ERROR(Parse(R"({"weight_map": {"a": "a.safetensors"}, "weight_map": {}})"),
               ErrorId::kIndexInvalid, "'weight_map' is given twice");
}

TEST(IndexTest, MetadataNotAnObject) {
  EXPECT_ERROR(Parse(R"({"metadata": 5, "weight_map": {"a": "a.safetensors"}})"),
               ErrorId::kIndexInvalid, "metadata is an integer, expected an object");
}

TEST(IndexTest, EmptyWeightMap) {
  EXPECT_ERROR(Parse(R"({"weight_map": {}})"), ErrorId::kIndexInvalid, "weight_map is empty");
}

TEST(IndexTest, FileNameNotString) {
  EXPECT_ERROR(Parse(R"({"weight_map": {"a": 3}})"), ErrorId::kIndexInvalid,
               "maps tensor 'a' to an integer (3), expected a file name");
}

TEST(IndexTest, TensorListedTwice) {
  EXPECT_ERROR(Parse(R"({"weight_map": {"a": "x.safetensors", "a": "y.safetensors"}})"),
               ErrorId::kIndexInvalid, "lists tensor 'a' twice");
}

TEST(IndexTest, PathsOutsideDirectoryAreRejected) {
  struct Case {
    std::string file;
    std::string reason;
  };
  for (const Case& bad :
       {Case{"/etc/passwd", "is an absolute path"},
        Case{"../model.safetensors", "contains a '..' component"},
        Case{"shards/../../model.safetensors", "contains a '..' component"},
        Case{"shards/../model.safetensors", "contains a '..' component"},
        Case{"..", "contains a '..' component"}, Case{"", "is empty"},
        Case{".", "does not name a file"}, Case{"shards/", "does not name a file"},
        Case{"a\\u0000b", "contains a NUL byte"}}) {
    Result<CheckpointIndex> index = Parse(R"({"weight_map": {"w": ")" + bad.file + "\"}}");
    EXPECT_ERROR(index, ErrorId::kIndexPathOutside, bad.reason);
    EXPECT_ERROR(index, ErrorId::kIndexPathOutside, "maps tensor 'w' to ");
  }
}

TEST(IndexTest, SubdirectoryNamesAreNormalized) {
  Result<CheckpointIndex> index =
      Parse(R"({"weight_map": {"a": "shards/a.safetensors", "b": "./shards//b.safetensors",)"
            R"( "c": "..hidden.safetensors"}})");
  ASSERT_TRUE(index.ok()) << index.status().ToString();
  EXPECT_EQ(index->weight_map[0].second, "shards/a.safetensors");
  EXPECT_EQ(index->weight_map[1].second, "shards/b.safetensors");
  EXPECT_EQ(index->weight_map[2].second, "..hidden.safetensors");
}

TEST(IndexTest, AnyTopLevelKeyGivenTwiceIsRejected) {
  for (std::string_view key : {"metadata", "format", "weight_map"}) {
    std::string text = R"({"weight_map": {"a": "a.safetensors"}, "metadata": {}, "format": 1, ")" +
                       std::string(key) + R"(": {}})";
    EXPECT_ERROR(Parse(text), ErrorId::kIndexInvalid,
                 "top-level key '" + std::string(key) + "' is given twice");
  }
}

TEST(IndexTest, EscapedTopLevelKeyCountsAsRepeat) {
  EXPECT_ERROR(Parse(R"({"weight_map": {"a": "a.safetensors"}, "weight\u005fmap": {}})"),
               ErrorId::kIndexInvalid, "'weight_map' is given twice");
}

TEST(IndexTest, TotalSizeGivenTwiceIsRejected) {
  EXPECT_ERROR(Parse(R"({"metadata": {"total_size": 8, "total_size": 16},)"
                     R"( "weight_map": {"a": "a.safetensors"}})"),
               ErrorId::kIndexInvalid, "metadata key 'total_size' is given twice");
}

TEST(IndexTest, ByteOrderMarkIsExplained) {
  Result<CheckpointIndex> index =
      Parse("\xef\xbb\xbf" R"({"weight_map": {"a": "a.safetensors"}})");
  EXPECT_ERROR(index, ErrorId::kIndexNotJson,
               "not valid JSON: it starts with a UTF-8 byte order mark");
  EXPECT_ERROR(index, ErrorId::kIndexNotJson, "the writer added a BOM");
}

TEST(IndexTest, ByteThatCannotStartJsonIsNamed) {
  EXPECT_ERROR(Parse("\f{\"weight_map\": {}}"), ErrorId::kIndexNotJson,
               "byte '\\x0c' at offset 0 cannot begin a JSON value");
  EXPECT_ERROR(Parse("  \n"), ErrorId::kIndexNotJson, "empty or contains only whitespace");
}

// simdjson 3.0.1 rejects the whole document for such numbers, so the
// warning that other bad total_size values give is not possible.
TEST(IndexTest, TotalSizeBeyondRangeMakesIndexInvalidJson) {
  for (std::string_view value : {"18446744073709551616", "1e400", "-9223372036854775809"}) {
    std::string text = R"({"metadata": {"total_size": )" + std::string(value) +
                       R"(}, "weight_map": {"a": "a.safetensors"}})";
    EXPECT_ERROR(Parse(text), ErrorId::kIndexNotJson, "does not fit in 64 bits");
  }
}

TEST(IndexTest, TensorMappedToIndexItselfIsExplained) {
  for (std::string_view file : {"model.safetensors.index.json", "./model.safetensors.index.json"}) {
    Result<CheckpointIndex> index =
        Parse(R"({"weight_map": {"w": ")" + std::string(file) + "\"}}");
    EXPECT_ERROR(index, ErrorId::kIndexInvalid,
                 "maps tensor 'w' to '" + std::string(file) +
                     "', which is this index file, not a shard");
  }
}

TEST(IndexTest, IndexFileNameInSubdirectoryIsAShard) {
  Result<CheckpointIndex> index =
      Parse(R"({"weight_map": {"w": "old/model.safetensors.index.json"}})");
  ASSERT_TRUE(index.ok()) << index.status().ToString();
}

TEST(IndexTest, OverlongFileNameIsRejectedWithShortMessage) {
  std::string file(100'000, 'f');
  Result<CheckpointIndex> index = Parse(R"({"weight_map": {"w": ")" + file + "\"}}");
  EXPECT_ERROR(index, ErrorId::kIndexInvalid, "a file name of 100000 bytes, longer than the 4096");
  EXPECT_ERROR(index, ErrorId::kIndexInvalid, "... (100000 bytes)");
  EXPECT_LT(index.status().message().size(), 1000u);
}

TEST(IndexTest, FileNameWithControlCharacterIsRejected) {
  Result<CheckpointIndex> index =
      Parse(R"({"weight_map": {"w": "a\nsafeckpt: error: fake.safetensors"}})");
  EXPECT_ERROR(index, ErrorId::kIndexInvalid, "'a\\nsafeckpt: error: fake.safetensors'");
  EXPECT_ERROR(index, ErrorId::kIndexInvalid, "contains a control character");
}

TEST(IndexTest, DeepNestingIsRejected) {
  std::string deep = R"({"metadata": {"x": )" + std::string(100, '[') + std::string(100, ']') +
                     R"(}, "weight_map": {"a": "a.safetensors"}})";
  Result<CheckpointIndex> index = ParseCheckpointIndex(deep, "model.safetensors.index.json");
  EXPECT_ERROR(index, ErrorId::kIndexNotJson, "nests deeper than the limit of 64 levels");
}

TEST(IndexTest, NestingCapComesFromReaderLimits) {
  std::string text = R"({"metadata": {"x": [[1]]}, "weight_map": {"a": "a.safetensors"}})";
  ReaderLimits shallow;
  shallow.max_json_depth = 3;
  EXPECT_ERROR(ParseCheckpointIndex(text, "i.json", shallow), ErrorId::kIndexNotJson,
               "limit of 3 levels");
  EXPECT_TRUE(ParseCheckpointIndex(text, "i.json").ok());
}

}  // namespace
}  // namespace safeckpt
