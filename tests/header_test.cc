#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "safeckpt/safetensors.h"
#include "safeckpt/writer.h"
#include "support/test_support.h"

namespace safeckpt {
namespace {

using testing::FileBytes;
using testing::HeaderBytes;

constexpr std::string_view kFileName = "test.safetensors";

// Returns the JSON of one tensor entry.
std::string Entry(std::string_view dtype, std::string_view shape, uint64_t begin, uint64_t end) {
  return R"({"dtype": ")" + std::string(dtype) + R"(", "shape": )" + std::string(shape) +
         R"(, "data_offsets": [)" + std::to_string(begin) + ", " + std::to_string(end) + "]}";
}

// Returns a file whose header is {"w": <entry>} followed by `data_bytes`
// zero bytes.
std::string OneTensorFile(std::string_view entry, size_t data_bytes) {
  return FileBytes(R"({"w": )" + std::string(entry) + "}", std::string(data_bytes, '\0'));
}

Result<SafetensorsHeader> Parse(std::string_view bytes, const ReaderLimits& limits = {}) {
  return ParseSafetensorsHeader(bytes, bytes.size(), kFileName, limits);
}

// One hand-made file that breaks one rule.
struct BadFile {
  std::string name;
  std::string bytes;
  ErrorId id;
  std::vector<std::string> message_parts;
  ReaderLimits limits = {};
};

// Prints the case name in failure messages in place of the raw bytes.
void PrintTo(const BadFile& bad, std::ostream* out) { *out << bad.name; }

std::string LengthField(uint64_t length) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((length >> (8 * i)) & 0xff);
  return bytes;
}

std::string Nested(int depth) {
  return R"({"w": )" + std::string(depth - 1, '[') + std::string(depth - 1, ']') + "}";
}

// Returns the JSON array of `count` ones, a shape of one element.
std::string Ones(size_t count) {
  std::string shape = "[";
  for (size_t i = 0; i < count; ++i) shape += i == 0 ? "1" : ", 1";
  return shape + "]";
}

std::vector<BadFile> BadFiles() {
  ReaderLimits one_tensor;
  one_tensor.max_tensors_per_file = 1;
  ReaderLimits short_names;
  short_names.max_name_bytes = 4;
  ReaderLimits small_header;
  small_header.max_header_bytes = 16;
  ReaderLimits two_dims;
  two_dims.max_dims = 2;

  std::string two_tensors =
      R"({"a": )" + Entry("U8", "[1]", 0, 1) + R"(, "b": )" + Entry("U8", "[1]", 1, 2) + "}";
  return {
      {"FileEmpty", "", ErrorId::kFileEmpty, {"test.safetensors: ", "empty"}},
      {"FileTooShort", "\x01\x02\x03", ErrorId::kFileTooShort, {"3 bytes", "8-byte header"}},
      {"HeaderLengthZero", LengthField(0) + "{}", ErrorId::kHeaderLengthZero, {"length is 0"}},
      {"HeaderTooLarge",
       LengthField(100'000'001) + "{}",
       ErrorId::kHeaderTooLarge,
       {"100000001", "limit of 100000000 bytes"}},
      {"HeaderOverConfiguredCap",
       HeaderBytes(std::string(17, ' ') + "{}"),
       ErrorId::kHeaderTooLarge,
       {"header length 19 bytes", "limit of 16 bytes"},
       small_header},
      {"HeaderPastEnd",
       LengthField(1000) + "{}",
       ErrorId::kHeaderPastEnd,
       {"header length 1000", "file size 10 bytes", "truncated"}},
      {"HeaderNotUtf8",
       HeaderBytes("{\"a\xff\": 1}"),
       ErrorId::kHeaderNotUtf8,
       {"byte 0xff at header offset 3 (file offset 11)"}},
      {"HeaderOverlongUtf8",
       HeaderBytes("{\"\xc0\xaf\": 1}"),
       ErrorId::kHeaderNotUtf8,
       {"byte 0xc0 at header offset 2"}},
      {"HeaderSurrogateUtf8",
       HeaderBytes("{\"\xed\xa0\x80\": 1}"),
       ErrorId::kHeaderNotUtf8,
       {"byte 0xed at header offset 2"}},
      {"HeaderTruncatedUtf8",
       HeaderBytes("{\"\xe2\x82"),
       ErrorId::kHeaderNotUtf8,
       {"byte 0xe2 at header offset 2"}},
      {"HeaderTooDeep",
       HeaderBytes(Nested(65)),
       ErrorId::kHeaderTooDeep,
       {"limit of 64 levels", "header offset 69"}},
      {"HeaderByteOrderMark",
       HeaderBytes("\xef\xbb\xbf{}"),
       ErrorId::kHeaderNotJson,
       {"header starts with a UTF-8 byte order mark", "the writer added a BOM"}},
      {"HeaderLeadingFormFeed",
       HeaderBytes("\f{}"),
       ErrorId::kHeaderNotJson,
       {"byte 0x0c at header offset 0 cannot begin a JSON value"}},
      {"HeaderOnlyWhitespace",
       HeaderBytes("  \n"),
       ErrorId::kHeaderNotJson,
       {"contains only whitespace"}},
      {"HeaderNotJson", HeaderBytes(R"({"w": })"), ErrorId::kHeaderNotJson, {"not valid JSON: "}},
      {"HeaderUnclosed", HeaderBytes(R"({"w": {)"), ErrorId::kHeaderNotJson, {"not valid JSON"}},
      {"HeaderIntegerOver64Bits",
       OneTensorFile(Entry("U8", "[18446744073709551616]", 0, 0), 0),
       ErrorId::kHeaderNotJson,
       {"fit in 64 bits"}},
      {"HeaderTrailingBytes",
       HeaderBytes("{}  x"),
       ErrorId::kHeaderTrailingBytes,
       {"header offset 4: 'x'"}},
      {"HeaderSecondObject",
       HeaderBytes("{} {}"),
       ErrorId::kHeaderTrailingBytes,
       {"header offset 3: '{}'"}},
      {"HeaderNotObject", HeaderBytes("[1, 2]"), ErrorId::kHeaderNotObject, {"is an array"}},
      {"HeaderString", HeaderBytes(R"("text")"), ErrorId::kHeaderNotObject, {"is a string"}},
      {"DuplicateName",
       FileBytes(
           R"({"w": )" + Entry("U8", "[1]", 0, 1) + R"(, "w": )" + Entry("U8", "[1]", 1, 2) + "}",
           "xy"),
       ErrorId::kDuplicateName,
       {"tensor 'w' appears twice"}},
      {"DuplicateMetadata",
       HeaderBytes(R"({"__metadata__": {}, "__metadata__": {}})"),
       ErrorId::kDuplicateName,
       {"'__metadata__' appears twice"}},
      {"TooManyTensors",
       FileBytes(two_tensors, "xy"),
       ErrorId::kTooManyTensors,
       {"more tensors than the limit of 1"},
       one_tensor},
      {"NameTooLong",
       FileBytes(R"({"abcde": )" + Entry("U8", "[]", 0, 1) + "}", "x"),
       ErrorId::kNameTooLong,
       {"'abcde'", "limit of 4 bytes"},
       short_names},
      {"MetadataKeyTwice",
       HeaderBytes(R"({"__metadata__": {"a": "1", "b": "2", "a": "3"}})"),
       ErrorId::kDuplicateName,
       {"__metadata__ key 'a' appears twice"}},
      {"MetadataEscapedKeyTwice",
       HeaderBytes(R"({"__metadata__": {"a": "1", "\u0061": "2"}})"),
       ErrorId::kDuplicateName,
       {"__metadata__ key 'a' appears twice"}},
      {"MetadataNotObject",
       HeaderBytes(R"({"__metadata__": ["pt"]})"),
       ErrorId::kMetadataNotObject,
       {"__metadata__ is an array"}},
      {"MetadataValueNotString",
       HeaderBytes(R"({"__metadata__": {"format": "pt", "step": 7}})"),
       ErrorId::kMetadataValueNotString,
       {"key 'step' has an integer value (7)"}},
      {"EntryNotObject",
       HeaderBytes(R"({"w": [1]})"),
       ErrorId::kEntryNotObject,
       {"tensor 'w': entry is an array"}},
      {"EntryMissingOffsets",
       HeaderBytes(R"({"w": {"dtype": "U8", "shape": []}})"),
       ErrorId::kEntryMissingField,
       {"tensor 'w': missing field 'data_offsets'"}},
      {"EntryMissingDtype",
       HeaderBytes(R"({"w": {"shape": [], "data_offsets": [0, 1]}})"),
       ErrorId::kEntryMissingField,
       {"missing field 'dtype'"}},
      {"EntryMissingShape",
       HeaderBytes(R"({"w": {"dtype": "U8", "data_offsets": [0, 1]}})"),
       ErrorId::kEntryMissingField,
       {"missing field 'shape'"}},
      {"EntryUnknownField",
       HeaderBytes(R"({"w": {"dtype": "U8", "shape": [], "data_offsets": [0, 1], "offset": 0}})"),
       ErrorId::kEntryUnknownField,
       {"tensor 'w': unknown field 'offset'"}},
      {"EntryFieldTwice",
       HeaderBytes(R"({"w": {"dtype": "U8", "dtype": "U8", "shape": [], "data_offsets": [0, 1]}})"),
       ErrorId::kDuplicateName,
       {"tensor 'w': field 'dtype' is given twice"}},
      {"DtypeNotString",
       OneTensorFile(R"({"dtype": 8, "shape": [], "data_offsets": [0, 1]})", 1),
       ErrorId::kEntryWrongType,
       {"dtype is an integer (8), expected a string"}},
      {"DtypeUnknown",
       OneTensorFile(Entry("F128", "[]", 0, 16), 16),
       ErrorId::kDtypeUnknown,
       {"unknown dtype 'F128'", "accepted: BOOL, U8", "F6_E3M2"}},
      {"DtypeWrongCase",
       OneTensorFile(Entry("f32", "[]", 0, 4), 4),
       ErrorId::kDtypeUnknown,
       {"'f32'"}},
      {"ShapeNotArray",
       OneTensorFile(Entry("U8", "4", 0, 4), 4),
       ErrorId::kEntryWrongType,
       {"shape is an integer (4)"}},
      {"ShapeNegative",
       OneTensorFile(Entry("U8", "[2, -1]", 0, 2), 2),
       ErrorId::kShapeInvalid,
       {"shape dimension 1 is -1"}},
      {"ShapeFractional",
       OneTensorFile(Entry("U8", "[2.5]", 0, 2), 2),
       ErrorId::kShapeInvalid,
       {"shape dimension 0 is 2.5"}},
      {"ShapeWholeFloat",
       OneTensorFile(Entry("U8", "[2.0]", 0, 2), 2),
       ErrorId::kShapeInvalid,
       {"shape dimension 0 is 2.0", "fraction or exponent"}},
      {"ShapeString",
       OneTensorFile(Entry("U8", R"(["2"])", 0, 2), 2),
       ErrorId::kShapeInvalid,
       {R"(shape dimension 0 is "2" (a string))"}},
      {"ShapeNull",
       OneTensorFile(Entry("U8", "[null]", 0, 1), 1),
       ErrorId::kShapeInvalid,
       {"shape dimension 0 is null, expected a non-negative integer"}},
      {"ShapeOverDimensionCap",
       OneTensorFile(Entry("U8", Ones(65), 0, 1), 1),
       ErrorId::kShapeInvalid,
       {"tensor 'w': shape has 65 dimensions, over the limit of 64 (ReaderLimits::max_dims)"}},
      {"ShapeOverConfiguredDimensionCap",
       OneTensorFile(Entry("U8", "[1, 1, 1]", 0, 1), 1),
       ErrorId::kShapeInvalid,
       {"shape has 3 dimensions, over the limit of 2"},
       two_dims},
      {"OffsetsOneNumber",
       OneTensorFile(R"({"dtype": "U8", "shape": [1], "data_offsets": [0]})", 1),
       ErrorId::kOffsetsInvalid,
       {"data_offsets is [0], expected two non-negative integers"}},
      {"OffsetsThreeNumbers",
       OneTensorFile(R"({"dtype": "U8", "shape": [1], "data_offsets": [0, 1, 2]})", 1),
       ErrorId::kOffsetsInvalid,
       {"data_offsets is [0,1,2]"}},
      {"OffsetsNegative",
       OneTensorFile(R"({"dtype": "U8", "shape": [1], "data_offsets": [-1, 0]})", 1),
       ErrorId::kOffsetsInvalid,
       {"data_offsets is [-1,0]"}},
      {"OffsetsNotArray",
       OneTensorFile(R"({"dtype": "U8", "shape": [1], "data_offsets": "0-1"})", 1),
       ErrorId::kOffsetsInvalid,
       {R"(data_offsets is "0-1")"}},
      {"OffsetsReversed",
       OneTensorFile(Entry("U8", "[16]", 96, 80), 96),
       ErrorId::kOffsetsReversed,
       {"tensor 'w': data_offsets [96, 80]: end before begin"}},
      {"ElementCountOverflow",
       OneTensorFile(Entry("U8", "[4294967296, 4294967296]", 0, 0), 0),
       ErrorId::kShapeOverflow,
       {"U8 [4294967296, 4294967296]", "does not fit in 64 bits"}},
      {"BitSizeOverflow",
       OneTensorFile(Entry("F32", "[1152921504606846976]", 0, 0), 0),
       ErrorId::kShapeOverflow,
       {"F32 [1152921504606846976]"}},
      {"F4OddCount",
       OneTensorFile(Entry("F4", "[3]", 0, 2), 2),
       ErrorId::kBitsNotByteAligned,
       {"F4 [3] has 3 elements of 4 bits = 12 bits"}},
      {"F4Scalar",
       OneTensorFile(Entry("F4", "[]", 0, 1), 1),
       ErrorId::kBitsNotByteAligned,
       {"F4 [] has 1 element of 4 bits = 4 bits"}},
      {"F6OddCount",
       OneTensorFile(Entry("F6_E2M3", "[3]", 0, 3), 3),
       ErrorId::kBitsNotByteAligned,
       {"18 bits"}},
      {"SizeMismatch",
       OneTensorFile(Entry("F32", "[2]", 0, 4), 4),
       ErrorId::kSizeMismatch,
       {"data_offsets [0, 4] span 4 bytes, but F32 [2] needs 8 bytes"}},
      {"GapAtStart",
       OneTensorFile(Entry("U8", "[4]", 4, 8), 8),
       ErrorId::kDataGap,
       {"data bytes [0, 4) belong to no tensor", "tensor 'w' [4, 8)"}},
      {"GapBetween",
       FileBytes(
           R"({"a": )" + Entry("U8", "[4]", 0, 4) + R"(, "b": )" + Entry("U8", "[4]", 8, 12) + "}",
           std::string(12, '\0')),
       ErrorId::kDataGap,
       {"data bytes [4, 8) belong to no tensor",
        "between tensor 'a' [0, 4) and tensor 'b' [8, 12)"}},
      {"Overlap",
       FileBytes(
           R"({"a": )" + Entry("U8", "[8]", 0, 8) + R"(, "b": )" + Entry("U8", "[8]", 4, 12) + "}",
           std::string(12, '\0')),
       ErrorId::kDataOverlap,
       {"tensor 'b' [4, 12) overlaps tensor 'a' [0, 8)"}},
      {"TwoNamesOneRange",
       FileBytes(
           R"({"a": )" + Entry("U8", "[8]", 0, 8) + R"(, "b": )" + Entry("U8", "[8]", 0, 8) + "}",
           std::string(8, '\0')),
       ErrorId::kDataOverlap,
       {"tensor 'b' [0, 8) overlaps tensor 'a' [0, 8)"}},
      {"EmptyTensorInsideRange",
       FileBytes(
           R"({"a": )" + Entry("U8", "[8]", 0, 8) + R"(, "e": )" + Entry("U8", "[0]", 4, 4) + "}",
           std::string(8, '\0')),
       ErrorId::kDataOverlap,
       {"tensor 'e' [4, 4) overlaps tensor 'a' [0, 8)"}},
      {"DataPastEnd",
       OneTensorFile(Entry("U8", "[8]", 0, 8), 4),
       ErrorId::kDataPastEnd,
       {"tensor 'w' [0, 8) ends past the data section, which has 4 bytes", "truncated"}},
      {"TrailingData",
       OneTensorFile(Entry("U8", "[8]", 0, 8), 12),
       ErrorId::kTrailingData,
       {"4 extra bytes at data offsets [8, 12) after the last tensor, tensor 'w' [0, 8)"}},
      {"TrailingDataWithoutTensors",
       FileBytes("{}", "abc"),
       ErrorId::kTrailingData,
       {"3 extra bytes", "no tensor data"}},
      {"LfsPointerInsteadOfFile",
       "version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n",
       ErrorId::kNotSafetensors,
       {"test.safetensors: not a safetensors file", "git lfs pull"}},
  };
}

class HeaderRuleTest : public ::testing::TestWithParam<BadFile> {};

TEST_P(HeaderRuleTest, RejectsWithItsErrorId) {
  const BadFile& bad = GetParam();
  Result<SafetensorsHeader> header = Parse(bad.bytes, bad.limits);
  ASSERT_FALSE(header.ok());
  EXPECT_EQ(ErrorIdName(header.status().id()), ErrorIdName(bad.id)) << header.status().ToString();
  for (const std::string& part : bad.message_parts) {
    EXPECT_NE(header.status().message().find(part), std::string::npos)
        << "message: " << header.status().message() << "\nexpected to contain: " << part;
  }
  EXPECT_EQ(header.status().message().rfind("test.safetensors: ", 0), 0u)
      << header.status().message();
}

INSTANTIATE_TEST_SUITE_P(Catalogue, HeaderRuleTest, ::testing::ValuesIn(BadFiles()),
                         [](const ::testing::TestParamInfo<BadFile>& info) {
                           return info.param.name;
                         });

TEST(HeaderTest, StatusCodeByRuleKind) {
  EXPECT_EQ(Parse(LengthField(100'000'001) + "{}").status().code(), StatusCode::kOutOfRange);
  EXPECT_EQ(Parse(HeaderBytes(Nested(65))).status().code(), StatusCode::kOutOfRange);
  EXPECT_EQ(Parse(LengthField(1000) + "{}").status().code(), StatusCode::kCorruption);
  EXPECT_EQ(Parse(OneTensorFile(Entry("U8", "[8]", 0, 8), 4)).status().code(),
            StatusCode::kCorruption);
}

TEST(HeaderTest, ShapeAtDimensionCapIsAccepted) {
  Result<SafetensorsHeader> header = Parse(OneTensorFile(Entry("U8", Ones(64), 0, 1), 1));
  ASSERT_TRUE(header.ok()) << header.status().ToString();
  EXPECT_EQ(header->tensors[0].shape.size(), 64u);
}

TEST(HeaderTest, DimensionCapIsOutOfRange) {
  Result<SafetensorsHeader> header = Parse(OneTensorFile(Entry("U8", Ones(1'000'000), 0, 1), 1));
  EXPECT_ERROR(header, ErrorId::kShapeInvalid, "shape has 1000000 dimensions");
  EXPECT_EQ(header.status().code(), StatusCode::kOutOfRange);
  EXPECT_LT(header.status().message().size(), 200u);
}

// With the caps raised, a message still quotes a long shape and a long
// name in a few hundred bytes.
TEST(HeaderTest, LongShapeAndNameAreShortenedInMessages) {
  ReaderLimits limits;
  limits.max_dims = 10'000;
  limits.max_name_bytes = 100'000;
  std::string name(100'000, 'n');
  std::string json = "{\"" + name + "\": " + Entry("U8", Ones(5000), 0, 2) + "}";

  Result<SafetensorsHeader> header = Parse(FileBytes(json, "xy"), limits);
  EXPECT_ERROR(header, ErrorId::kSizeMismatch, "... (100000 bytes)");
  EXPECT_ERROR(header, ErrorId::kSizeMismatch, "U8 [1, 1, ");
  EXPECT_ERROR(header, ErrorId::kSizeMismatch, "...] (5000 dimensions) needs 1 bytes");
  EXPECT_LT(header.status().message().size(), 1000u);
}

TEST(HeaderTest, NestingAtCapIsAccepted) {
  // 64 levels: the top-level object plus 63 nested arrays. The entry is
  // still invalid, but the depth rule passes.
  Result<SafetensorsHeader> header = Parse(HeaderBytes(Nested(64)));
  EXPECT_ERROR(header, ErrorId::kEntryNotObject, "entry is an array");
}

TEST(HeaderTest, BracketsInsideStringsDoNotCountAsNesting) {
  std::string name = std::string(100, '[') + "\\\"{";
  std::string json = "{\"" + name + "\": " + Entry("U8", "[1]", 0, 1) + "}";
  Result<SafetensorsHeader> header = Parse(FileBytes(json, "x"));
  ASSERT_TRUE(header.ok()) << header.status().ToString();
  EXPECT_EQ(header->tensors[0].name, std::string(100, '[') + "\"{");
}

TEST(HeaderTest, ParsesValidFile) {
  std::string json = R"({"__metadata__": {"format": "pt"}, "b": )" + Entry("F32", "[2, 3]", 0, 24) +
                     R"(, "a": )" + Entry("BF16", "[4]", 24, 32) + "}";
  std::string bytes = FileBytes(json, std::string(32, '\0'));
  Result<SafetensorsHeader> header = Parse(bytes);
  ASSERT_TRUE(header.ok()) << header.status().ToString();

  EXPECT_EQ(header->header_length, json.size());
  EXPECT_EQ(header->file_size, bytes.size());
  EXPECT_EQ(header->data_start(), 8 + json.size());
  EXPECT_TRUE(header->has_metadata);
  EXPECT_EQ(header->metadata, (Metadata{{"format", "pt"}}));
  ASSERT_EQ(header->tensors.size(), 2u);
  EXPECT_EQ(header->tensors[0].name, "b");
  EXPECT_EQ(header->tensors[0].dtype, DType::kF32);
  EXPECT_EQ(header->tensors[0].shape, (Shape{2, 3}));
  EXPECT_EQ(header->tensors[0].data_begin, 0u);
  EXPECT_EQ(header->tensors[0].data_end, 24u);
  EXPECT_EQ(header->tensors[1].name, "a");
  EXPECT_EQ(header->tensors[1].nbytes(), 8u);
}

TEST(HeaderTest, TensorsComeInDataOffsetsOrder) {
  std::string json = R"({"c": )" + Entry("U8", "[1]", 2, 3) + R"(, "a": )" +
                     Entry("U8", "[1]", 0, 1) + R"(, "b": )" + Entry("U8", "[1]", 1, 2) + "}";
  Result<SafetensorsHeader> header = Parse(FileBytes(json, "xyz"));
  ASSERT_TRUE(header.ok()) << header.status().ToString();
  ASSERT_EQ(header->tensors.size(), 3u);
  EXPECT_EQ(header->tensors[0].name, "a");
  EXPECT_EQ(header->tensors[1].name, "b");
  EXPECT_EQ(header->tensors[2].name, "c");
}

TEST(HeaderTest, ZeroSizeTensorsAnywhereOnABoundary) {
  std::string json = R"({"start": )" + Entry("F32", "[0]", 0, 0) + R"(, "a": )" +
                     Entry("U8", "[4]", 0, 4) + R"(, "middle": )" + Entry("F16", "[3, 0]", 4, 4) +
                     R"(, "middle2": )" + Entry("I64", "[0, 7]", 4, 4) + R"(, "b": )" +
                     Entry("U8", "[4]", 4, 8) + R"(, "end": )" + Entry("BF16", "[0]", 8, 8) + "}";
  Result<SafetensorsHeader> header = Parse(FileBytes(json, std::string(8, '\0')));
  ASSERT_TRUE(header.ok()) << header.status().ToString();
  ASSERT_EQ(header->tensors.size(), 6u);
  EXPECT_EQ(header->tensors[0].name, "start");
  EXPECT_EQ(header->tensors[2].name, "middle");
  EXPECT_EQ(header->tensors[2].shape, (Shape{3, 0}));
  EXPECT_EQ(header->tensors[5].name, "end");
  EXPECT_EQ(header->tensors[5].nbytes(), 0u);
}

TEST(HeaderTest, OnlyZeroSizeTensors) {
  std::string json =
      R"({"a": )" + Entry("F32", "[0]", 0, 0) + R"(, "b": )" + Entry("F32", "[0, 2]", 0, 0) + "}";
  Result<SafetensorsHeader> header = Parse(HeaderBytes(json));
  ASSERT_TRUE(header.ok()) << header.status().ToString();
  EXPECT_EQ(header->tensors.size(), 2u);
}

TEST(HeaderTest, ScalarHasOneElement) {
  Result<SafetensorsHeader> header = Parse(OneTensorFile(Entry("I64", "[]", 0, 8), 8));
  ASSERT_TRUE(header.ok()) << header.status().ToString();
  EXPECT_TRUE(header->tensors[0].shape.empty());
  EXPECT_EQ(header->tensors[0].nbytes(), 8u);
}

TEST(HeaderTest, MetadataAnywhereInHeader) {
  std::string entry_a = R"("a": )" + Entry("U8", "[1]", 0, 1);
  std::string entry_b = R"("b": )" + Entry("U8", "[1]", 1, 2);
  std::string metadata = R"("__metadata__": {"format": "pt", "note": "x"})";
  for (const std::string& json : {"{" + metadata + ", " + entry_a + ", " + entry_b + "}",
                                  "{" + entry_a + ", " + metadata + ", " + entry_b + "}",
                                  "{" + entry_a + ", " + entry_b + ", " + metadata + "}"}) {
    Result<SafetensorsHeader> header = Parse(FileBytes(json, "xy"));
    ASSERT_TRUE(header.ok()) << json << "\n" << header.status().ToString();
    EXPECT_TRUE(header->has_metadata) << json;
    EXPECT_EQ(header->metadata, (Metadata{{"format", "pt"}, {"note", "x"}})) << json;
    EXPECT_EQ(header->tensors.size(), 2u) << json;
  }
}

TEST(HeaderTest, EmptyMetadataIsPresent) {
  Result<SafetensorsHeader> header = Parse(HeaderBytes(R"({"__metadata__": {}})"));
  ASSERT_TRUE(header.ok()) << header.status().ToString();
  EXPECT_TRUE(header->has_metadata);
  EXPECT_TRUE(header->metadata.empty());
  EXPECT_TRUE(header->tensors.empty());
}

TEST(HeaderTest, AbsentMetadataIsRecorded) {
  Result<SafetensorsHeader> header = Parse(OneTensorFile(Entry("U8", "[1]", 0, 1), 1));
  ASSERT_TRUE(header.ok()) << header.status().ToString();
  EXPECT_FALSE(header->has_metadata);
}

TEST(HeaderTest, EmptyNameIsAccepted) {
  Result<SafetensorsHeader> header =
      Parse(FileBytes(R"({"": )" + Entry("U8", "[1]", 0, 1) + "}", "x"));
  ASSERT_TRUE(header.ok()) << header.status().ToString();
  EXPECT_EQ(header->tensors[0].name, "");
}

TEST(HeaderTest, UnpaddedHeaderWithOddDataOffset) {
  std::string json = R"({"wx":{"dtype":"U16","shape":[2],"data_offsets":[0,4]}})";
  ASSERT_EQ(json.size() % 2, 1u);
  Result<SafetensorsHeader> header = Parse(FileBytes(json, "abcd"));
  ASSERT_TRUE(header.ok()) << header.status().ToString();
  EXPECT_EQ(header->data_start() % 2, 1u);
}

TEST(HeaderTest, WhitespaceAroundObjectIsAllowed) {
  std::string json = " \n\t{\"w\": " + Entry("U8", "[1]", 0, 1) + "} \r\n   ";
  Result<SafetensorsHeader> header = Parse(FileBytes(json, "x"));
  ASSERT_TRUE(header.ok()) << header.status().ToString();
  EXPECT_EQ(header->header_length, json.size());
}

TEST(HeaderTest, EveryDtypeIsAccepted) {
  for (int i = 0; i < kDTypeCount; ++i) {
    DType dtype = static_cast<DType>(i);
    // Eight elements of b bits take exactly b bytes, also for F4 and F6.
    uint64_t bytes = DTypeBits(dtype);
    std::string entry = Entry(DTypeName(dtype), "[8]", 0, bytes);
    Result<SafetensorsHeader> header = Parse(OneTensorFile(entry, bytes));
    ASSERT_TRUE(header.ok()) << DTypeName(dtype) << ": " << header.status().ToString();
    EXPECT_EQ(header->tensors[0].dtype, dtype);
  }
}

TEST(HeaderTest, ReadsHeaderWrittenByWriter) {
  testing::TempDir dir;
  std::string path = dir.Join("w.safetensors");
  std::vector<uint16_t> values(5, 7);
  ASSERT_TRUE(WriteSafetensors(path, {{"w", DType::kBF16, {5}, values.data()}}).ok());

  Result<SafetensorsHeader> header = ReadSafetensorsHeader(path);
  ASSERT_TRUE(header.ok()) << header.status().ToString();
  EXPECT_EQ(header->data_start() % 8, 0u);
  EXPECT_EQ(header->file_size, header->data_start() + 10);
  EXPECT_EQ(header->tensors[0].shape, (Shape{5}));
}

TEST(HeaderTest, ReadNamesMissingFile) {
  testing::TempDir dir;
  Result<SafetensorsHeader> header = ReadSafetensorsHeader(dir.Join("absent.safetensors"));
  EXPECT_ERROR(header, ErrorId::kReadFailed, "absent.safetensors");
  EXPECT_EQ(header.status().code(), StatusCode::kNotFound);
}

TEST(HeaderTest, ReadReportsRulesWithPath) {
  testing::TempDir dir;
  std::string path = dir.Join("short.safetensors");
  testing::WriteFileBytes(path, LengthField(50) + "{}");
  EXPECT_ERROR(ReadSafetensorsHeader(path), ErrorId::kHeaderPastEnd, path + ": header length 50");
}

TEST(HeaderTest, CallerPassingTooFewBytesIsAnError) {
  std::string bytes = OneTensorFile(Entry("U8", "[4]", 0, 4), 4);
  Result<SafetensorsHeader> header =
      ParseSafetensorsHeader(std::string_view(bytes).substr(0, 12), bytes.size(), kFileName);
  EXPECT_ERROR(header, ErrorId::kInternal, "fewer than the 8 + ");
}

// Truncations and random byte changes of a valid file must produce either
// a header or an error, never a crash or a hang.
TEST(HeaderTest, MutatedFilesNeverCrash) {
  std::string json = R"({"__metadata__": {"format": "pt"}, "a": )" + Entry("F16", "[2, 2]", 0, 8) +
                     R"(, "b": )" + Entry("I8", "[3]", 8, 11) + "}";
  std::string valid = FileBytes(json, std::string(11, '\x01'));
  for (size_t length = 0; length <= valid.size(); ++length) {
    std::string_view prefix = std::string_view(valid).substr(0, length);
    (void)ParseSafetensorsHeader(prefix, length, kFileName).ok();
  }

  std::mt19937 random(1234);
  static constexpr char kInteresting[] = "{}[]\",:-0123456789e.\x80\xff \\";
  for (int round = 0; round < 20000; ++round) {
    std::string mutated = valid;
    int changes = 1 + static_cast<int>(random() % 4);
    for (int i = 0; i < changes; ++i) {
      size_t position = random() % mutated.size();
      mutated[position] = kInteresting[random() % (sizeof(kInteresting) - 1)];
    }
    (void)Parse(mutated).ok();
  }
}

}  // namespace
}  // namespace safeckpt
