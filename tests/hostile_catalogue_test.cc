// The hostile-input catalogue: one hand-made input per defect, grouped by
// the stage of reading that rejects it. Every row is opened through
// Checkpoint::Open and through `safeckpt check`, which must exit with code 3
// and print one line on standard error and nothing on standard output.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "safeckpt/checkpoint.h"
#include "support/test_support.h"

namespace safeckpt {
namespace {

namespace fs = std::filesystem;
using testing::CommandResult;
using testing::FileBytes;
using testing::HeaderBytes;
using testing::ShellQuote;
using testing::TempDir;

// The stage of reading that rejects an input, in the order a reader meets them.
enum class Stage {
  kHeaderLength,   // the 8-byte length field and the file size
  kHeaderText,     // the header as UTF-8 JSON text
  kEntries,        // tensor entries, __metadata__ and the data layout
  kForeignFormat,  // files of another format saved under a .safetensors name
  kIndex,          // model.safetensors.index.json and the shards it names
};

std::string_view StageName(Stage stage) {
  switch (stage) {
    case Stage::kHeaderLength: return "header length";
    case Stage::kHeaderText: return "header text";
    case Stage::kEntries: return "entries";
    case Stage::kForeignFormat: return "foreign format";
    case Stage::kIndex: return "index";
  }
  return "?";
}

// One defect: the files to create and the error that opening them must give.
struct HostileInput {
  std::string name;
  Stage stage = Stage::kHeaderLength;
  // Files by path relative to the row's temporary directory.
  std::vector<std::pair<std::string, std::string>> files;
  // The path to open, relative to the row's temporary directory.
  std::string target;
  ErrorId id = ErrorId::kNone;
  std::string message_part;
  // True when the defect is an error only under OpenOptions::strict_index
  // and `check --strict-index`. A normal open warns with `warning_part`.
  bool strict_index = false;
  std::string warning_part;
};

// Prints the row name in failure messages in place of the file bytes.
void PrintTo(const HostileInput& input, std::ostream* out) {
  *out << input.name << " (" << StageName(input.stage) << ")";
}

constexpr std::string_view kFileName = "model.safetensors";
constexpr std::string_view kCheckpointDir = "ckpt";

// A row whose input is the single file model.safetensors.
HostileInput File(std::string name, Stage stage, std::string bytes, ErrorId id,
                  std::string message_part) {
  HostileInput input;
  input.name = std::move(name);
  input.stage = stage;
  input.files = {{std::string(kFileName), std::move(bytes)}};
  input.target = kFileName;
  input.id = id;
  input.message_part = std::move(message_part);
  return input;
}

// A row whose input is the directory ckpt/. Files named "ckpt/..." are
// inside it, and any others lie beside it.
HostileInput Directory(std::string name, std::vector<std::pair<std::string, std::string>> files,
                       ErrorId id, std::string message_part) {
  HostileInput input;
  input.name = std::move(name);
  input.stage = Stage::kIndex;
  input.files = std::move(files);
  input.target = kCheckpointDir;
  input.id = id;
  input.message_part = std::move(message_part);
  return input;
}

// A directory row that is an error only under strict_index.
HostileInput StrictIndexDirectory(std::string name,
                                  std::vector<std::pair<std::string, std::string>> files,
                                  ErrorId id, std::string message_part, std::string warning_part) {
  HostileInput input = Directory(std::move(name), std::move(files), id, std::move(message_part));
  input.strict_index = true;
  input.warning_part = std::move(warning_part);
  return input;
}

std::string LengthField(uint64_t length) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((length >> (8 * i)) & 0xff);
  return bytes;
}

// Returns the JSON of one tensor entry.
std::string Entry(std::string_view dtype, std::string_view shape, std::string_view begin,
                  std::string_view end) {
  return R"({"dtype": ")" + std::string(dtype) + R"(", "shape": )" + std::string(shape) +
         R"(, "data_offsets": [)" + std::string(begin) + ", " + std::string(end) + "]}";
}

std::string Entry(std::string_view dtype, std::string_view shape, uint64_t begin, uint64_t end) {
  return Entry(dtype, shape, std::to_string(begin), std::to_string(end));
}

// Returns a file whose header is {"w": <entry>} followed by `data_bytes`
// zero bytes.
std::string OneTensor(std::string_view entry, size_t data_bytes) {
  return FileBytes(R"({"w": )" + std::string(entry) + "}", std::string(data_bytes, '\0'));
}

// Returns a file of two tensors, "a" and "b", with `data_bytes` zero bytes.
std::string TwoTensors(std::string_view a, std::string_view b, size_t data_bytes) {
  return FileBytes(R"({"a": )" + std::string(a) + R"(, "b": )" + std::string(b) + "}",
                   std::string(data_bytes, '\0'));
}

// Returns a valid shard containing one U8 [1] tensor per name.
std::string Shard(const std::vector<std::string>& names) {
  std::string json = "{";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) json += ", ";
    json += "\"" + names[i] + "\": " + Entry("U8", "[1]", i, i + 1);
  }
  return FileBytes(json + "}", std::string(names.size(), '\x2a'));
}

// Returns an index mapping each (tensor, file) pair, with `metadata` as its
// metadata object.
std::string Index(const std::vector<std::pair<std::string, std::string>>& weight_map,
                  std::string_view metadata) {
  std::string json = R"({"metadata": )" + std::string(metadata) + R"(, "weight_map": {)";
  for (size_t i = 0; i < weight_map.size(); ++i) {
    if (i > 0) json += ", ";
    json += "\"" + weight_map[i].first + "\": \"" + weight_map[i].second + "\"";
  }
  return json + "}}";
}

// Returns the path of `name` inside the checkpoint directory.
std::string InCheckpoint(std::string_view name) {
  return std::string(kCheckpointDir) + "/" + std::string(name);
}

std::string IndexPath() { return InCheckpoint(kIndexFileName); }

// ckpt/ with a.safetensors (x, y), b.safetensors (z) and `index`.
std::vector<std::pair<std::string, std::string>> ShardedFiles(std::string index) {
  return {{InCheckpoint("a.safetensors"), Shard({"x", "y"})},
          {InCheckpoint("b.safetensors"), Shard({"z"})},
          {IndexPath(), std::move(index)}};
}

// The index that matches ShardedFiles' shards exactly.
std::string MatchingIndex(std::string_view metadata = R"({"total_size": 3})") {
  return Index({{"x", "a.safetensors"}, {"y", "a.safetensors"}, {"z", "b.safetensors"}},
               metadata);
}

// Returns the JSON array of `count` ones, a shape of one element.
std::string Ones(size_t count) {
  std::string shape = "[";
  for (size_t i = 0; i < count; ++i) shape += i == 0 ? "1" : ", 1";
  return shape + "]";
}

// Returns {"w": [[[...]]]} nested `depth` levels deep, the object included.
std::string Nested(int depth) {
  return R"({"w": )" + std::string(depth - 1, '[') + std::string(depth - 1, ']') + "}";
}

std::vector<HostileInput> HeaderLengthRows() {
  const Stage stage = Stage::kHeaderLength;
  return {
      File("EmptyFile", stage, "", ErrorId::kFileEmpty, "empty"),
      File("ThreeBytes", stage, "\x01\x02\x03", ErrorId::kFileTooShort, "3 bytes"),
      File("SevenBytes", stage, std::string(7, '\0'), ErrorId::kFileTooShort, "7 bytes"),
      File("LengthPastEnd", stage, LengthField(1000) + "{}", ErrorId::kHeaderPastEnd,
           "header length 1000"),
      File("LengthOnePastEnd", stage, LengthField(3) + "{}", ErrorId::kHeaderPastEnd,
           "header length 3"),
      File("LengthOverCap", stage, LengthField(100'000'001) + "{}", ErrorId::kHeaderTooLarge,
           "limit of 100000000 bytes"),
      File("LengthAllOnes", stage, LengthField(UINT64_MAX) + "{}", ErrorId::kHeaderTooLarge,
           "18446744073709551615"),
      File("LengthZero", stage, LengthField(0) + "{}", ErrorId::kHeaderLengthZero, "length is 0"),
      File("LengthZeroWithoutHeader", stage, LengthField(0), ErrorId::kHeaderLengthZero,
           "length is 0"),
  };
}

std::vector<HostileInput> HeaderTextRows() {
  const Stage stage = Stage::kHeaderText;
  return {
      File("InvalidUtf8", stage, HeaderBytes("{\"a\xff\": 1}"), ErrorId::kHeaderNotUtf8,
           "byte 0xff at header offset 3"),
      File("OverlongUtf8", stage, HeaderBytes("{\"\xc0\xaf\": 1}"), ErrorId::kHeaderNotUtf8,
           "byte 0xc0"),
      File("SurrogateUtf8", stage, HeaderBytes("{\"\xed\xa0\x80\": 1}"), ErrorId::kHeaderNotUtf8,
           "byte 0xed"),
      File("NotJson", stage, HeaderBytes(R"({"w": })"), ErrorId::kHeaderNotJson,
           "not valid JSON"),
      File("UnclosedObject", stage, HeaderBytes(R"({"w": {)"), ErrorId::kHeaderNotJson,
           "not valid JSON"),
      File("ByteOrderMark", stage, HeaderBytes("\xef\xbb\xbf{}"), ErrorId::kHeaderNotJson,
           "byte order mark"),
      File("OnlySpaces", stage, HeaderBytes("        "), ErrorId::kHeaderNotJson,
           "only whitespace"),
      File("IntegerOver64Bits", stage, OneTensor(Entry("U8", "[18446744073709551616]", 0, 0), 0),
           ErrorId::kHeaderNotJson, "fit in 64 bits"),
      File("HeaderIsArray", stage, HeaderBytes("[1, 2]"), ErrorId::kHeaderNotObject,
           "is an array"),
      File("HeaderIsNumber", stage, HeaderBytes("42"), ErrorId::kHeaderNotObject,
           "header is an integer, expected an object"),
      File("TrailingBytes", stage, HeaderBytes("{}  x"), ErrorId::kHeaderTrailingBytes,
           "header offset 4"),
      File("SecondObject", stage, HeaderBytes("{} {}"), ErrorId::kHeaderTrailingBytes,
           "header offset 3"),
      File("NestingTooDeep", stage, HeaderBytes(Nested(65)), ErrorId::kHeaderTooDeep,
           "limit of 64 levels"),
      File("NestingFarTooDeep", stage, HeaderBytes(std::string(100'000, '[')),
           ErrorId::kHeaderTooDeep, "limit of 64 levels"),
  };
}

std::vector<HostileInput> EntryRows() {
  const Stage stage = Stage::kEntries;
  const std::string duplicate_names_json = R"({"a": )" + Entry("U8", "[1]", 0, 1) + R"(, "a": )" +
                                Entry("U8", "[1]", 1, 2) + "}";
  return {
      // Fields.
      File("EntryNotObject", stage, HeaderBytes(R"({"w": [1]})"), ErrorId::kEntryNotObject,
           "tensor 'w': entry is an array"),
      File("MissingDtype", stage, HeaderBytes(R"({"w": {"shape": [], "data_offsets": [0, 1]}})"),
           ErrorId::kEntryMissingField, "missing field 'dtype'"),
      File("MissingShape", stage, HeaderBytes(R"({"w": {"dtype": "U8", "data_offsets": [0, 1]}})"),
           ErrorId::kEntryMissingField, "missing field 'shape'"),
      File("MissingOffsets", stage, HeaderBytes(R"({"w": {"dtype": "U8", "shape": []}})"),
           ErrorId::kEntryMissingField, "missing field 'data_offsets'"),
      File("ExtraField", stage,
           OneTensor(R"({"dtype": "U8", "shape": [1], "data_offsets": [0, 1], "offset": 0})", 1),
           ErrorId::kEntryUnknownField, "unknown field 'offset'"),
      File("FieldTwice", stage,
           OneTensor(R"({"dtype": "U8", "dtype": "U8", "shape": [1], "data_offsets": [0, 1]})", 1),
           ErrorId::kDuplicateName, "field 'dtype' is given twice"),

      // Types and numbers.
      File("DtypeNotString", stage,
           OneTensor(R"({"dtype": 8, "shape": [], "data_offsets": [0, 1]})", 1),
           ErrorId::kEntryWrongType, "dtype is an integer (8), expected a string"),
      File("ShapeNotArray", stage, OneTensor(Entry("U8", "4", 0, 4), 4), ErrorId::kEntryWrongType,
           "shape is an integer (4)"),
      File("ShapeDimensionString", stage, OneTensor(Entry("U8", R"(["2"])", 0, 2), 2),
           ErrorId::kShapeInvalid, "shape dimension 0 is \"2\""),
      File("ShapeDimensionNull", stage, OneTensor(Entry("U8", "[null]", 0, 2), 2),
           ErrorId::kShapeInvalid, "shape dimension 0"),
      File("ShapeNegative", stage, OneTensor(Entry("U8", "[2, -1]", 0, 2), 2),
           ErrorId::kShapeInvalid, "shape dimension 1 is -1"),
      File("ShapeFractional", stage, OneTensor(Entry("U8", "[2.5]", 0, 2), 2),
           ErrorId::kShapeInvalid, "shape dimension 0 is 2.5"),
      File("ShapeExponent", stage, OneTensor(Entry("U8", "[1e1]", 0, 10), 10),
           ErrorId::kShapeInvalid, "shape dimension 0"),
      File("ShapeTooManyDimensions", stage, OneTensor(Entry("U8", Ones(65), 0, 1), 1),
           ErrorId::kShapeInvalid, "shape has 65 dimensions, over the limit of 64"),
      File("OffsetsNotArray", stage,
           OneTensor(R"({"dtype": "U8", "shape": [1], "data_offsets": "0-1"})", 1),
           ErrorId::kOffsetsInvalid, R"(data_offsets is "0-1")"),
      File("OffsetsOneNumber", stage,
           OneTensor(R"({"dtype": "U8", "shape": [1], "data_offsets": [0]})", 1),
           ErrorId::kOffsetsInvalid, "expected two non-negative integers"),
      File("OffsetsNegative", stage, OneTensor(Entry("U8", "[1]", "-1", "0"), 1),
           ErrorId::kOffsetsInvalid, "data_offsets is [-1,0]"),
      File("OffsetsFractional", stage, OneTensor(Entry("U8", "[1]", "0", "1.5"), 1),
           ErrorId::kOffsetsInvalid, "data_offsets is [0,1.5]"),

      // Dtypes and sizes.
      File("UnknownDtype", stage, OneTensor(Entry("F128", "[]", 0, 16), 16),
           ErrorId::kDtypeUnknown, "unknown dtype 'F128'"),
      File("LowercaseDtype", stage, OneTensor(Entry("bf16", "[2]", 0, 4), 4),
           ErrorId::kDtypeUnknown, "unknown dtype 'bf16'"),
      File("ElementCountOverflow", stage,
           OneTensor(Entry("U8", "[4294967296, 4294967296]", 0, 0), 0), ErrorId::kShapeOverflow,
           "does not fit in 64 bits"),
      File("BitCountOverflow", stage, OneTensor(Entry("F32", "[1152921504606846976]", 0, 0), 0),
           ErrorId::kShapeOverflow, "F32 [1152921504606846976]"),
      File("F4OddElementCount", stage, OneTensor(Entry("F4", "[3]", 0, 2), 2),
           ErrorId::kBitsNotByteAligned, "F4 [3] has 3 elements of 4 bits = 12 bits"),
      File("F4Scalar", stage, OneTensor(Entry("F4", "[]", 0, 1), 1), ErrorId::kBitsNotByteAligned,
           "4 bits"),
      File("F6E2M3ThreeElements", stage, OneTensor(Entry("F6_E2M3", "[3]", 0, 3), 3),
           ErrorId::kBitsNotByteAligned, "18 bits"),
      File("F6E3M2FiveElements", stage, OneTensor(Entry("F6_E3M2", "[5, 1]", 0, 4), 4),
           ErrorId::kBitsNotByteAligned, "30 bits"),
      File("SizeNotMatchingOffsets", stage, OneTensor(Entry("F32", "[2]", 0, 4), 4),
           ErrorId::kSizeMismatch, "span 4 bytes, but F32 [2] needs 8 bytes"),

      // Data layout.
      File("BeginAfterEnd", stage, OneTensor(Entry("U8", "[16]", 96, 80), 96),
           ErrorId::kOffsetsReversed, "data_offsets [96, 80]: end before begin"),
      File("GapAtStart", stage, OneTensor(Entry("U8", "[4]", 4, 8), 8), ErrorId::kDataGap,
           "data bytes [0, 4) belong to no tensor"),
      File("GapBetweenTensors", stage,
           TwoTensors(Entry("U8", "[4]", 0, 4), Entry("U8", "[4]", 8, 12), 12), ErrorId::kDataGap,
           "data bytes [4, 8) belong to no tensor"),
      File("Overlap", stage, TwoTensors(Entry("U8", "[8]", 0, 8), Entry("U8", "[8]", 4, 12), 12),
           ErrorId::kDataOverlap, "tensor 'b' [4, 12) overlaps tensor 'a' [0, 8)"),
      File("TwoNamesOneRange", stage,
           TwoTensors(Entry("U8", "[8]", 0, 8), Entry("U8", "[8]", 0, 8), 8),
           ErrorId::kDataOverlap, "tensor 'b' [0, 8) overlaps tensor 'a' [0, 8)"),
      File("EmptyTensorInsideAnother", stage,
           TwoTensors(Entry("U8", "[8]", 0, 8), Entry("U8", "[0]", 4, 4), 8),
           ErrorId::kDataOverlap, "tensor 'b' [4, 4) overlaps tensor 'a' [0, 8)"),
      File("DataPastEnd", stage, OneTensor(Entry("U8", "[8]", 0, 8), 4), ErrorId::kDataPastEnd,
           "ends past the data section, which has 4 bytes"),
      File("OffsetsPast64Bits", stage,
           OneTensor(Entry("U8", "[1]", "18446744073709551615", "18446744073709551616"), 0),
           ErrorId::kHeaderNotJson, "fit in 64 bits"),
      File("TrailingData", stage, OneTensor(Entry("U8", "[8]", 0, 8), 12), ErrorId::kTrailingData,
           "4 extra bytes at data offsets [8, 12)"),
      File("TrailingDataWithoutTensors", stage, FileBytes("{}", "abc"), ErrorId::kTrailingData,
           "3 extra bytes"),

      // Names.
      File("DuplicateName", stage, FileBytes(duplicate_names_json, "xy"), ErrorId::kDuplicateName,
           "tensor 'a' appears twice"),
      File("DuplicateNameByEscape", stage,
           FileBytes(R"({"a": )" + Entry("U8", "[1]", 0, 1) + R"(, "\u0061": )" +
                         Entry("U8", "[1]", 1, 2) + "}",
                     "xy"),
           ErrorId::kDuplicateName, "tensor 'a' appears twice"),
      File("NameTooLong", stage,
           FileBytes("{\"" + std::string(4097, 'n') + "\": " + Entry("U8", "[1]", 0, 1) + "}",
                     "x"),
           ErrorId::kNameTooLong, "limit of 4096 bytes"),
      File("NameWithNewline", stage,
           HeaderBytes(R"({"a\nsafeckpt: error: forged": {"dtype": "U8"}})"),
           ErrorId::kEntryMissingField, "'a\\nsafeckpt: error: forged'"),

      // __metadata__.
      File("MetadataArray", stage, HeaderBytes(R"({"__metadata__": ["pt"]})"),
           ErrorId::kMetadataNotObject, "__metadata__ is an array"),
      File("MetadataString", stage, HeaderBytes(R"({"__metadata__": "pt"})"),
           ErrorId::kMetadataNotObject, "__metadata__ is a string"),
      File("MetadataValueInteger", stage,
           HeaderBytes(R"({"__metadata__": {"format": "pt", "step": 7}})"),
           ErrorId::kMetadataValueNotString, "key 'step' has an integer value (7)"),
      File("MetadataValueObject", stage,
           HeaderBytes(R"({"__metadata__": {"config": {"layers": 2}}})"),
           ErrorId::kMetadataValueNotString, "key 'config'"),
      File("MetadataKeyTwice", stage, HeaderBytes(R"({"__metadata__": {"a": "1", "a": "2"}})"),
           ErrorId::kDuplicateName, "__metadata__ key 'a' appears twice"),
      File("MetadataTwice", stage, HeaderBytes(R"({"__metadata__": {}, "__metadata__": {}})"),
           ErrorId::kDuplicateName, "'__metadata__' appears twice"),
  };
}

std::vector<HostileInput> ForeignFormatRows() {
  const Stage stage = Stage::kForeignFormat;
  std::string zip("PK\x03\x04\x14\x00\x00\x00\x08\x00", 10);
  zip += "archive/data.pkl" + std::string(200, '\0');
  std::string gguf("GGUF\x03\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00", 16);
  gguf += std::string(64, '\0');
  std::string pickle("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 14);
  pickle += std::string(100, 'x');
  return {
      File("GitLfsPointer", stage,
           "version https://git-lfs.github.com/spec/v1\n"
           "oid sha256:4d7a2144b3f1c2bd1b2e6d1e0a0c2d1f8b4e0e0f4c9b2e6b5a3d2c1b0a9f8e7d\n"
           "size 5283287392\n",
           ErrorId::kNotSafetensors, "git lfs pull"),
      File("ZipArchive", stage, zip, ErrorId::kNotSafetensors, "a zip archive"),
      File("Gguf", stage, gguf, ErrorId::kNotSafetensors, "a GGUF file"),
      File("Pickle", stage, pickle, ErrorId::kNotSafetensors, "a Python pickle (protocol 2)"),
      File("HtmlErrorPage", stage,
           "<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>"
           "<body>Not Found</body></html>\n",
           ErrorId::kNotSafetensors, "an HTML page"),
  };
}

std::vector<HostileInput> IndexRows() {
  const std::string outside = "../outside.safetensors";
  return {
      Directory("IndexNotJson",
                ShardedFiles(R"({"weight_map": {"x": "a.safetensors")"),
                ErrorId::kIndexNotJson, "the index is not valid JSON"),
      Directory("IndexIsArray", ShardedFiles("[]"), ErrorId::kIndexInvalid,
                "the index is an array"),
      Directory("IndexWithoutWeightMap", ShardedFiles(R"({"metadata": {"total_size": 3}})"),
                ErrorId::kIndexMissingWeightMap, "has no weight_map"),
      Directory("WeightMapNotObject", ShardedFiles(R"({"weight_map": ["a.safetensors"]})"),
                ErrorId::kIndexInvalid, "weight_map is an array, expected an object"),
      Directory("ShardFileMissing",
                ShardedFiles(Index({{"x", "a.safetensors"},
                                    {"y", "a.safetensors"},
                                    {"z", "gone.safetensors"}},
                                   "{}")),
                ErrorId::kIndexShardMissing, "'gone.safetensors'"),
      Directory("ShardOutsideDirectory",
                {{InCheckpoint("a.safetensors"), Shard({"x", "y"})},
                 {"outside.safetensors", Shard({"z"})},
                 {IndexPath(),
                  Index({{"x", "a.safetensors"}, {"y", "a.safetensors"}, {"z", outside}}, "{}")}},
                ErrorId::kIndexPathOutside, "contains a '..' component"),
      Directory("ShardAbsolutePath",
                ShardedFiles(Index({{"x", "a.safetensors"}, {"z", "/etc/passwd"}}, "{}")),
                ErrorId::kIndexPathOutside, "is an absolute path"),
      Directory("TensorNotInItsShard",
                ShardedFiles(Index({{"x", "a.safetensors"},
                                    {"y", "b.safetensors"},
                                    {"z", "b.safetensors"}},
                                   "{}")),
                ErrorId::kIndexTensorNotInShard,
                "maps tensor 'y' to 'b.safetensors', but that shard's header has no such tensor"),
      Directory("ShardIsInvalid",
                {{InCheckpoint("a.safetensors"), Shard({"x", "y"})},
                 {InCheckpoint("b.safetensors"), LengthField(1000) + "{}"},
                 {IndexPath(), MatchingIndex()}},
                ErrorId::kHeaderPastEnd, "b.safetensors: header length 1000"),
      Directory("TensorInTwoFilesWithoutIndex",
                {{InCheckpoint("one.safetensors"), Shard({"a", "shared"})},
                 {InCheckpoint("two.safetensors"), Shard({"shared"})}},
                ErrorId::kTensorInTwoFiles,
                "tensor 'shared' is in both 'one.safetensors' and 'two.safetensors'"),
      Directory("NoSafetensorsFiles", {{InCheckpoint("config.json"), "{}"}},
                ErrorId::kNoSafetensorsFiles, "ckpt"),
      Directory("IncompleteCheckpoint",
                {{InCheckpoint("model.safetensors"), Shard({"x"})},
                 {InCheckpoint(kIncompleteMarkerName), ""}},
                ErrorId::kIncompleteCheckpoint, "incomplete checkpoint"),

      // Real checkpoints have these; a normal open only warns.
      StrictIndexDirectory(
          "StaleCopyInOtherShard",
          {{InCheckpoint("a.safetensors"), Shard({"x", "y"})},
           {InCheckpoint("b.safetensors"), Shard({"z", "x"})},
           {IndexPath(), MatchingIndex()}},
          ErrorId::kIndexStaleCopy, "contains a copy of tensor 'x' that the index maps to",
          "'b.safetensors' contains a copy of tensor 'x'"),
      StrictIndexDirectory(
          "TensorNotInIndex",
          {{InCheckpoint("a.safetensors"), Shard({"x", "y"})},
           {InCheckpoint("b.safetensors"), Shard({"z", "extra"})},
           {IndexPath(), MatchingIndex()}},
          ErrorId::kIndexUnlistedTensor, "contains a tensor that the index does not list",
          "contains a tensor that the index does not list"),
      StrictIndexDirectory("WrongTotalSize", ShardedFiles(MatchingIndex(R"({"total_size": 4})")),
                           ErrorId::kIndexTotalSize,
                           "metadata.total_size is 4 bytes, but the tensors in weight_map take 3",
                           "metadata.total_size is 4 bytes"),
      StrictIndexDirectory("TotalSizeNotANumber",
                           ShardedFiles(MatchingIndex(R"({"total_size": "3 B"})")),
                           ErrorId::kIndexTotalSize, "not a byte count",
                           "not a byte count"),
  };
}

std::vector<HostileInput> Catalogue() {
  std::vector<HostileInput> rows;
  for (std::vector<HostileInput> stage :
       {HeaderLengthRows(), HeaderTextRows(), EntryRows(), ForeignFormatRows(), IndexRows()}) {
    for (HostileInput& row : stage) rows.push_back(std::move(row));
  }
  return rows;
}

// Creates a row's files in `dir` and returns the path to open.
std::string CreateFiles(const TempDir& dir, const HostileInput& input) {
  fs::create_directories(dir.Join(std::string(kCheckpointDir)));
  for (const auto& [name, bytes] : input.files) testing::WriteFileBytes(dir.Join(name), bytes);
  return dir.Join(input.target);
}

OpenOptions Options(bool strict_index, Logger* logger) {
  OpenOptions options;
  options.strict_index = strict_index;
  options.logger = logger;
  return options;
}

class HostileInputTest : public ::testing::TestWithParam<HostileInput> {};

TEST_P(HostileInputTest, OpenRejectsWithItsErrorId) {
  const HostileInput& input = GetParam();
  TempDir dir;
  std::string path = CreateFiles(dir, input);

  Result<Checkpoint> checkpoint = Checkpoint::Open(path, Options(input.strict_index, nullptr));
  ASSERT_FALSE(checkpoint.ok()) << "opened without error";
  const Status& status = checkpoint.status();
  EXPECT_EQ(ErrorIdName(status.id()), ErrorIdName(input.id)) << status.ToString();
  EXPECT_NE(status.message().find(input.message_part), std::string::npos)
      << "message: " << status.message() << "\nexpected to contain: " << input.message_part;
  EXPECT_NE(status.message().find(path), std::string::npos)
      << "message: " << status.message() << "\nexpected to name: " << path;
  EXPECT_EQ(status.message().find('\n'), std::string::npos) << status.message();
}

TEST_P(HostileInputTest, CheckCommandPrintsOneLine) {
  const HostileInput& input = GetParam();
  TempDir dir;
  std::string path = CreateFiles(dir, input);

  std::string options = input.strict_index ? " --strict-index " : " ";
  CommandResult result = testing::RunCommand(ShellQuote(testing::SafeckptBinary()) + " check" +
                                             options + ShellQuote(path));
  RecordProperty("stderr", result.err);
  EXPECT_EQ(result.exit_code, 3) << result.err;
  EXPECT_EQ(result.out, "");
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
  EXPECT_TRUE(result.err.ends_with('\n')) << result.err;
  EXPECT_TRUE(result.err.starts_with("safeckpt: error: ")) << result.err;
  EXPECT_NE(result.err.find(path), std::string::npos) << result.err;
  EXPECT_NE(result.err.find(input.message_part), std::string::npos)
      << "stderr: " << result.err << "expected to contain: " << input.message_part;
}

INSTANTIATE_TEST_SUITE_P(Catalogue, HostileInputTest, ::testing::ValuesIn(Catalogue()),
                         [](const ::testing::TestParamInfo<HostileInput>& info) {
                           return info.param.name;
                         });

TEST(HostileCatalogueTest, HasARowForEveryStage) {
  std::vector<HostileInput> rows = Catalogue();
  EXPECT_GE(rows.size(), 40u);
  for (Stage stage : {Stage::kHeaderLength, Stage::kHeaderText, Stage::kEntries,
                      Stage::kForeignFormat, Stage::kIndex}) {
    EXPECT_TRUE(std::any_of(rows.begin(), rows.end(),
                            [&](const HostileInput& row) { return row.stage == stage; }))
        << StageName(stage);
  }
}

// The strict-index rows describe checkpoints that exist in the wild, so
// without strict_index they open, with a warning.
TEST(HostileCatalogueTest, StrictIndexRowsOnlyWarnByDefault) {
  for (const HostileInput& input : Catalogue()) {
    if (!input.strict_index) continue;
    SCOPED_TRACE(input.name);
    TempDir dir;
    std::string path = CreateFiles(dir, input);
    testing::CapturingLogger logger;

    Result<Checkpoint> checkpoint = Checkpoint::Open(path, Options(false, &logger));
    ASSERT_TRUE(checkpoint.ok()) << checkpoint.status().ToString();
    EXPECT_EQ(checkpoint->tensors().size(), 3u);
    EXPECT_TRUE(logger.Contains(input.warning_part)) << ::testing::PrintToString(logger.Messages());
    EXPECT_EQ(checkpoint->warnings().size(), 1u);
  }
}

TEST(HostileCatalogueTest, StrictIndexRowsPassCheckWithWarning) {
  for (const HostileInput& input : Catalogue()) {
    if (!input.strict_index) continue;
    SCOPED_TRACE(input.name);
    TempDir dir;
    std::string path = CreateFiles(dir, input);

    CommandResult result = testing::RunCommand(ShellQuote(testing::SafeckptBinary()) +
                                               " check " + ShellQuote(path));
    EXPECT_EQ(result.exit_code, 0) << result.err;
    EXPECT_TRUE(result.err.starts_with("warning: ")) << result.err;
    EXPECT_NE(result.err.find(input.warning_part), std::string::npos) << result.err;
    EXPECT_NE(result.out.find("valid: 3 tensors in 2 files"), std::string::npos) << result.out;
  }
}

}  // namespace
}  // namespace safeckpt
