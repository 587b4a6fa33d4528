// ConvertCheckpoint and SaveCheckpoint: layouts, header order and padding,
// metadata, dtype changes with known values, exclusions, renames, edge cases
// and the rules for an existing destination.
#include "safeckpt/convert.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>

#include "io/file.h"
#include "safeckpt/checkpoint.h"
#include "safeckpt/writer.h"
#include "support/test_support.h"

namespace safeckpt {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

// Every tensor's bytes, by name.
std::map<std::string, std::string> TensorBytes(const Checkpoint& checkpoint) {
  std::map<std::string, std::string> bytes;
  for (const CheckpointTensor& tensor : checkpoint.tensors()) {
    auto file = internal::File::OpenForRead(checkpoint.files()[tensor.file].path);
    EXPECT_TRUE(file.ok()) << file.status().ToString();
    std::string data(tensor.nbytes, '\0');
    EXPECT_TRUE(file->ReadAt(tensor.offset, data.data(), tensor.nbytes).ok());
    bytes[tensor.name] = data;
  }
  return bytes;
}

Checkpoint OpenOrDie(const std::string& path) {
  Result<Checkpoint> checkpoint = Checkpoint::Open(path);
  EXPECT_TRUE(checkpoint.ok()) << checkpoint.status().ToString();
  return std::move(checkpoint).value();
}

// Expects the same names, dtypes, shapes and bytes on both sides.
void ExpectSameTensors(const Checkpoint& a, const Checkpoint& b) {
  ASSERT_EQ(a.tensors().size(), b.tensors().size());
  for (const CheckpointTensor& tensor : a.tensors()) {
    const CheckpointTensor* other = b.Find(tensor.name);
    ASSERT_NE(other, nullptr) << tensor.name;
    EXPECT_EQ(other->dtype, tensor.dtype) << tensor.name;
    EXPECT_EQ(other->shape, tensor.shape) << tensor.name;
  }
  EXPECT_EQ(TensorBytes(a), TensorBytes(b));
}

std::vector<std::string> DirectoryEntries(const std::string& path) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(path)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

template <typename T>
std::string Bytes(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

// A small checkpoint with several dtypes, written in an order that the
// output's header order differs from.
class ConvertTest : public ::testing::Test {
 protected:
  void SetUp() override {
    source_ = dir_.Join("source.safetensors");
    for (int i = 0; i < 24; ++i) floats_.push_back(static_cast<float>(i) * 0.25f - 1.0f);
    for (int i = 0; i < 6; ++i) ints_.push_back(1000 * i - 7);
    WriteOptions options;
    options.metadata = {{"producer", "test"}};
    ASSERT_TRUE(WriteSafetensors(source_,
                                 {{"model.layers.1.flag", DType::kBool, {2}, flags_},
                                  {"model.layers.0.weight", DType::kF32, {4, 6}, floats_.data()},
                                  {"model.layers.0.count", DType::kI64, {6}, ints_.data()},
                                  {"model.layers.0.attn._extra_state", DType::kU8, {3}, extra_},
                                  {"model.norm.weight", DType::kBF16, {4}, bf16_}},
                                 options)
                    .ok());
  }

  Result<ConvertReport> Convert(const std::string& destination, const ConvertOptions& options = {}) {
    Checkpoint source = OpenOrDie(source_);
    return ConvertCheckpoint(source, destination, options);
  }

  TempDir dir_;
  std::string source_;
  std::vector<float> floats_;
  std::vector<int64_t> ints_;
  uint8_t flags_[2] = {1, 0};
  uint8_t extra_[3] = {9, 9, 9};
  uint16_t bf16_[4] = {0x3f80, 0x4000, 0xbf80, 0x0000};
};

TEST_F(ConvertTest, WritesOneFileWithoutIndex) {
  std::string out = dir_.Join("out");
  auto report = Convert(out);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(DirectoryEntries(out), std::vector<std::string>{"model.safetensors"});
  EXPECT_FALSE(report->output.has_index);
  EXPECT_EQ(report->output.tensor_count, 4u);
  EXPECT_EQ(report->output.files.size(), 1u);
}

TEST_F(ConvertTest, CopiesEveryTensorBitExact) {
  std::string out = dir_.Join("out");
  ConvertOptions options;
  options.exclude_patterns.clear();
  ASSERT_TRUE(Convert(out, options).ok());
  ExpectSameTensors(OpenOrDie(source_), OpenOrDie(out));
}

TEST_F(ConvertTest, OrdersHeaderByAlignmentThenName) {
  std::string out = dir_.Join("out");
  ASSERT_TRUE(Convert(out).ok());
  auto header = ReadSafetensorsHeader(out + "/model.safetensors");
  ASSERT_TRUE(header.ok()) << header.status().ToString();
  std::vector<std::string> order;
  for (const TensorInfo& tensor : header->tensors) order.push_back(tensor.name);
  EXPECT_EQ(order, (std::vector<std::string>{"model.layers.0.count", "model.layers.0.weight",
                                             "model.norm.weight", "model.layers.1.flag"}));
  EXPECT_EQ(header->tensors[0].data_begin, 0u);
}

TEST_F(ConvertTest, PadsHeaderSoDataIsAligned) {
  std::string out = dir_.Join("out");
  ASSERT_TRUE(Convert(out).ok());
  std::string bytes = testing::ReadFileBytes(out + "/model.safetensors");
  auto header = ReadSafetensorsHeader(out + "/model.safetensors");
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(header->data_start() % 8, 0u);
  EXPECT_EQ(bytes[header->data_start() - 1], ' ') << "padding is spaces";
  for (const TensorInfo& tensor : header->tensors) {
    uint64_t element = std::max<uint64_t>(1, DTypeBits(tensor.dtype) / 8);
    EXPECT_EQ((header->data_start() + tensor.data_begin) % element, 0u) << tensor.name;
  }
}

TEST_F(ConvertTest, KeepsSourceMetadataWithFormatPt) {
  std::string out = dir_.Join("out");
  ASSERT_TRUE(Convert(out).ok());
  auto header = ReadSafetensorsHeader(out + "/model.safetensors");
  ASSERT_TRUE(header.ok());
  Metadata expected = {{"format", "pt"}, {"producer", "test"}};
  EXPECT_EQ(header->metadata, expected);
}

TEST_F(ConvertTest, ReplacesOtherFormatWithPt) {
  std::string source = dir_.Join("np.safetensors");
  float value = 1;
  WriteOptions options;
  options.metadata = {{"format", "np"}, {"note", "x"}};
  ASSERT_TRUE(WriteSafetensors(source, {{"w", DType::kF32, {1}, &value}}, options).ok());
  std::string out = dir_.Join("out.safetensors");
  ASSERT_TRUE(ConvertCheckpoint(OpenOrDie(source), out).ok());
  auto header = ReadSafetensorsHeader(out);
  ASSERT_TRUE(header.ok());
  Metadata expected = {{"format", "pt"}, {"note", "x"}};
  EXPECT_EQ(header->metadata, expected);
}

TEST_F(ConvertTest, ExcludesBookkeepingByDefault) {
  std::string out = dir_.Join("out");
  auto report = Convert(out);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->excluded, std::vector<std::string>{"model.layers.0.attn._extra_state"});
  EXPECT_EQ(OpenOrDie(out).Find("model.layers.0.attn._extra_state"), nullptr);
}

TEST_F(ConvertTest, KeepsBookkeepingWithoutDefaultExclusion) {
  std::string out = dir_.Join("out");
  ConvertOptions options;
  options.exclude_patterns.clear();
  ASSERT_TRUE(Convert(out, options).ok());
  EXPECT_NE(OpenOrDie(out).Find("model.layers.0.attn._extra_state"), nullptr);
}

TEST_F(ConvertTest, ExcludesByPattern) {
  std::string out = dir_.Join("out");
  ConvertOptions options;
  options.exclude_patterns.push_back(R"(\.flag$)");
  auto report = Convert(out, options);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->excluded.size(), 2u);
  EXPECT_EQ(OpenOrDie(out).Find("model.layers.1.flag"), nullptr);
}

TEST_F(ConvertTest, RejectsInvalidExcludePattern) {
  ConvertOptions options;
  options.exclude_patterns.push_back("(");
  EXPECT_ERROR(Convert(dir_.Join("out"), options), ErrorId::kRuleInvalid, "--exclude pattern '('");
  EXPECT_FALSE(fs::exists(dir_.Join("out")));
}

TEST_F(ConvertTest, RenamesTensors) {
  std::string out = dir_.Join("out");
  ConvertOptions options;
  options.renames = {{R"(^model\.)", "backbone."}};
  auto report = Convert(out, options);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  Checkpoint converted = OpenOrDie(out);
  EXPECT_NE(converted.Find("backbone.norm.weight"), nullptr);
  EXPECT_EQ(converted.Find("model.norm.weight"), nullptr);
  EXPECT_EQ(report->renamed.size(), 4u);
}

TEST_F(ConvertTest, RejectsTwoTensorsRenamedToOneName) {
  ConvertOptions options;
  options.renames = {{R"(\.(weight|count)$)", ".x"}};
  EXPECT_ERROR(Convert(dir_.Join("out"), options), ErrorId::kDuplicateName, "both renamed to 'model.layers.0.x'");
  EXPECT_FALSE(fs::exists(dir_.Join("out")));
}

TEST_F(ConvertTest, RejectsRenameToMetadataBeforeWriting) {
  ConvertOptions options;
  options.renames = {{R"(^model\.norm\.weight$)", "__metadata__"}};
  EXPECT_ERROR(Convert(dir_.Join("out"), options), ErrorId::kDuplicateName, "'__metadata__'");
  EXPECT_FALSE(fs::exists(dir_.Join("out")));
}

TEST_F(ConvertTest, DTypeConvertsOnlyFloats) {
  std::string out = dir_.Join("out");
  ConvertOptions options;
  options.dtype = DType::kF16;
  auto report = Convert(out, options);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  Checkpoint converted = OpenOrDie(out);
  EXPECT_EQ(converted.Find("model.layers.0.weight")->dtype, DType::kF16);
  EXPECT_EQ(converted.Find("model.norm.weight")->dtype, DType::kF16);
  EXPECT_EQ(converted.Find("model.layers.0.count")->dtype, DType::kI64);
  EXPECT_EQ(converted.Find("model.layers.1.flag")->dtype, DType::kBool);
  EXPECT_EQ(report->conversions.size(), 2u);
}

TEST_F(ConvertTest, DTypeRuleConvertsNamedInteger) {
  std::string out = dir_.Join("out");
  ConvertOptions options;
  options.dtype = DType::kBF16;
  options.dtype_rules = {{R"(\.weight$)", DType::kF64}};
  auto report = Convert(out, options);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  Checkpoint converted = OpenOrDie(out);
  EXPECT_EQ(converted.Find("model.layers.0.weight")->dtype, DType::kF64) << "the rule wins over --dtype";
  EXPECT_EQ(converted.Find("model.norm.weight")->dtype, DType::kF64);
  EXPECT_EQ(converted.Find("model.layers.0.count")->dtype, DType::kI64);

  std::vector<double> expected(floats_.begin(), floats_.end());
  EXPECT_EQ(TensorBytes(converted)["model.layers.0.weight"], Bytes(expected));
}

TEST_F(ConvertTest, RejectsUnsupportedConversionBeforeWriting) {
  ConvertOptions options;
  options.dtype_rules = {{"count", DType::kF32}};
  EXPECT_ERROR(Convert(dir_.Join("out"), options), ErrorId::kUnsupportedConversion, "model.layers.0.count");
  EXPECT_FALSE(fs::exists(dir_.Join("out")));
}

TEST_F(ConvertTest, RejectsQuantizedTargetDType) {
  ConvertOptions options;
  options.dtype = DType::kF8_E4M3;
  EXPECT_ERROR(Convert(dir_.Join("out"), options), ErrorId::kRuleInvalid, "F8_E4M3");
}

TEST_F(ConvertTest, ShardsAndMergesBackBitExact) {
  ConvertOptions options;
  options.exclude_patterns.clear();
  options.sharding.max_shard_bytes = 40;
  std::string sharded = dir_.Join("sharded");
  auto report = Convert(sharded, options);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->output.has_index);
  EXPECT_GE(report->output.files.size(), 3u);
  EXPECT_TRUE(fs::exists(sharded + "/model.safetensors.index.json"));

  Checkpoint middle = OpenOrDie(sharded);
  ASSERT_TRUE(middle.declared_total_size().has_value());
  EXPECT_EQ(*middle.declared_total_size(), middle.tensor_bytes());

  std::string merged = dir_.Join("merged.safetensors");
  ConvertOptions merge;
  merge.exclude_patterns.clear();
  ASSERT_TRUE(ConvertCheckpoint(middle, merged, merge).ok());
  ExpectSameTensors(OpenOrDie(source_), OpenOrDie(merged));
}

TEST_F(ConvertTest, FollowsReferenceLayout) {
  ConvertOptions options;
  options.sharding.layout = {{"model.layers.0.weight", "part-a.safetensors"},
                             {"model.norm.weight", "part-b.safetensors"},
                             {"model.layers.0.count", "part-b.safetensors"}};
  std::string out = dir_.Join("out");
  ASSERT_TRUE(Convert(out, options).ok());
  Checkpoint converted = OpenOrDie(out);
  auto file_of = [&](const std::string& name) {
    return converted.files()[converted.Find(name)->file].name;
  };
  EXPECT_EQ(file_of("model.layers.0.weight"), "part-a.safetensors");
  EXPECT_EQ(file_of("model.norm.weight"), "part-b.safetensors");
  EXPECT_EQ(file_of("model.layers.0.count"), "part-b.safetensors");
  EXPECT_EQ(file_of("model.layers.1.flag"), "model-extra.safetensors");
}

TEST_F(ConvertTest, RejectsLayoutForSingleFile) {
  ConvertOptions options;
  options.sharding.layout = {{"model.norm.weight", "a.safetensors"}};
  EXPECT_ERROR(Convert(dir_.Join("out.safetensors"), options), ErrorId::kRuleInvalid, "one .safetensors file");
}

TEST_F(ConvertTest, RefusesExistingCheckpointWithoutOverwrite) {
  std::string out = dir_.Join("out");
  ASSERT_TRUE(Convert(out).ok());
  std::string before = testing::ReadFileBytes(out + "/model.safetensors");
  ConvertOptions options;
  options.dtype = DType::kF64;
  auto again = Convert(out, options);
  EXPECT_ERROR(again, ErrorId::kDestinationExists, "pass --force");
  EXPECT_EQ(again.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(testing::ReadFileBytes(out + "/model.safetensors"), before);
  EXPECT_EQ(DirectoryEntries(out), std::vector<std::string>{"model.safetensors"});
}

TEST_F(ConvertTest, OverwriteReplacesCheckpointAndKeepsOtherFiles) {
  std::string out = dir_.Join("out");
  ConvertOptions sharded;
  sharded.sharding.max_shard_bytes = 40;
  ASSERT_TRUE(Convert(out, sharded).ok());
  testing::WriteFileBytes(out + "/config.json", "{\"model_type\": \"test\"}");
  fs::create_directory(out + "/tokenizer");
  testing::WriteFileBytes(out + "/tokenizer/vocab.txt", "a\nb\n");

  ConvertOptions options;
  options.overwrite = true;
  auto report = Convert(out, options);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->output.replaced_existing);
  EXPECT_EQ(DirectoryEntries(out), (std::vector<std::string>{"config.json", "model.safetensors", "tokenizer"}));
  EXPECT_EQ(testing::ReadFileBytes(out + "/config.json"), "{\"model_type\": \"test\"}");
  EXPECT_EQ(testing::ReadFileBytes(out + "/tokenizer/vocab.txt"), "a\nb\n");
  EXPECT_EQ(DirectoryEntries(dir_.path()), (std::vector<std::string>{"out", "source.safetensors"}))
      << "no staging or old directory is left beside the destination";
}

TEST_F(ConvertTest, OverwriteCanRewriteSourceInPlace) {
  std::string out = dir_.Join("out");
  ASSERT_TRUE(Convert(out).ok());
  Checkpoint first = OpenOrDie(out);
  ConvertOptions options;
  options.overwrite = true;
  options.dtype = DType::kF64;
  ASSERT_TRUE(ConvertCheckpoint(first, out, options).ok());
  EXPECT_EQ(OpenOrDie(out).Find("model.layers.0.weight")->dtype, DType::kF64);
}

TEST_F(ConvertTest, WritesIntoDirectoryWithoutCheckpoint) {
  std::string out = dir_.Join("out");
  fs::create_directory(out);
  testing::WriteFileBytes(out + "/config.json", "{}");
  auto report = Convert(out);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_FALSE(report->output.replaced_existing);
  EXPECT_EQ(DirectoryEntries(out), (std::vector<std::string>{"config.json", "model.safetensors"}));
}

TEST_F(ConvertTest, RefusesIncompleteCheckpointWithoutOverwrite) {
  std::string out = dir_.Join("out");
  fs::create_directory(out);
  testing::WriteFileBytes(out + "/" + std::string(kIncompleteMarkerName), "");
  EXPECT_ERROR(Convert(out), ErrorId::kDestinationExists, "incomplete checkpoint");

  ConvertOptions options;
  options.overwrite = true;
  ASSERT_TRUE(Convert(out, options).ok());
  EXPECT_EQ(DirectoryEntries(out), std::vector<std::string>{"model.safetensors"});
}

TEST_F(ConvertTest, RejectsDirectoryDestinationThatIsFile) {
  std::string out = dir_.Join("out");
  testing::WriteFileBytes(out, "x");
  EXPECT_ERROR(Convert(out), ErrorId::kDestinationExists, "is not a directory");
}

TEST_F(ConvertTest, SingleFileDestinationRespectsOverwrite) {
  std::string out = dir_.Join("nested/out.safetensors");
  ASSERT_TRUE(Convert(out).ok());
  EXPECT_TRUE(OpenOrDie(out).Find("model.norm.weight") != nullptr);
  EXPECT_ERROR(Convert(out), ErrorId::kDestinationExists, "exists");

  ConvertOptions options;
  options.overwrite = true;
  options.dtype = DType::kF64;
  auto report = Convert(out, options);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->output.replaced_existing);
  EXPECT_EQ(OpenOrDie(out).Find("model.norm.weight")->dtype, DType::kF64);
  EXPECT_EQ(DirectoryEntries(dir_.Join("nested")), std::vector<std::string>{"out.safetensors"});
}

TEST_F(ConvertTest, CopiesLargeTensorThroughSmallBuffers) {
  std::vector<float> large(300'000);
  for (size_t i = 0; i < large.size(); ++i) large[i] = static_cast<float>(i) * 0.5f;
  std::string source = dir_.Join("large.safetensors");
  ASSERT_TRUE(WriteSafetensors(source, {{"w", DType::kF32, {large.size()}, large.data()}}).ok());

  ConvertOptions options;
  options.buffer_bytes = 4096;
  options.threads = 3;
  options.dtype = DType::kF64;
  std::string out = dir_.Join("out");
  ASSERT_TRUE(ConvertCheckpoint(OpenOrDie(source), out, options).ok());
  std::vector<double> expected(large.begin(), large.end());
  EXPECT_EQ(TensorBytes(OpenOrDie(out))["w"], Bytes(expected));
}

TEST(ConvertEdgeTest, ZeroTensorsWithMetadataRoundTrip) {
  TempDir dir;
  std::string source = dir.Join("empty.safetensors");
  WriteOptions options;
  options.metadata = {{"format", "pt"}, {"step", "7"}};
  ASSERT_TRUE(WriteSafetensors(source, {}, options).ok());
  auto report = ConvertCheckpoint(OpenOrDie(source), dir.Join("out"));
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  auto header = ReadSafetensorsHeader(dir.Join("out/model.safetensors"));
  ASSERT_TRUE(header.ok()) << header.status().ToString();
  EXPECT_TRUE(header->tensors.empty());
  Metadata expected = {{"format", "pt"}, {"step", "7"}};
  EXPECT_EQ(header->metadata, expected);
}

TEST(ConvertEdgeTest, ZeroElementTensorsRoundTrip) {
  TempDir dir;
  std::string source = dir.Join("zero.safetensors");
  float scalar = 3.5f;
  ASSERT_TRUE(WriteSafetensors(source, {{"empty", DType::kF32, {0, 4}, nullptr},
                                        {"scalar", DType::kF32, {}, &scalar},
                                        {"none", DType::kI8, {3, 0}, nullptr}})
                  .ok());
  ConvertOptions options;
  options.dtype = DType::kBF16;
  ASSERT_TRUE(ConvertCheckpoint(OpenOrDie(source), dir.Join("out"), options).ok());
  Checkpoint converted = OpenOrDie(dir.Join("out"));
  ASSERT_NE(converted.Find("empty"), nullptr);
  EXPECT_EQ(converted.Find("empty")->shape, (Shape{0, 4}));
  EXPECT_EQ(converted.Find("empty")->nbytes, 0u);
  EXPECT_EQ(converted.Find("none")->shape, (Shape{3, 0}));
  EXPECT_EQ(TensorBytes(converted)["scalar"], std::string("\x60\x40", 2));
}

// Known F32 inputs and their correctly rounded results.
struct RoundingCase {
  uint32_t f32;
  uint16_t expected;
  const char* what;
};

class DTypeRoundingTest : public ::testing::Test {
 protected:
  // Converts F32 bit patterns to `dtype` through ConvertCheckpoint and
  // returns the output bit patterns.
  std::vector<uint16_t> ConvertBits(const std::vector<uint32_t>& bits, DType dtype) {
    std::string source = dir_.Join("f32-" + std::to_string(count_) + ".safetensors");
    std::string out = dir_.Join("out-" + std::to_string(count_++) + ".safetensors");
    EXPECT_TRUE(WriteSafetensors(source, {{"v", DType::kF32, {bits.size()}, bits.data()}}).ok());
    ConvertOptions options;
    options.dtype = dtype;
    auto report = ConvertCheckpoint(OpenOrDie(source), out, options);
    EXPECT_TRUE(report.ok()) << report.status().ToString();
    std::string bytes = TensorBytes(OpenOrDie(out))["v"];
    std::vector<uint16_t> result(bits.size());
    EXPECT_EQ(bytes.size(), result.size() * 2);
    std::memcpy(result.data(), bytes.data(), std::min(bytes.size(), result.size() * 2));
    return result;
  }

  void ExpectRounding(const std::vector<RoundingCase>& cases, DType dtype) {
    std::vector<uint32_t> inputs;
    for (const RoundingCase& c : cases) inputs.push_back(c.f32);
    std::vector<uint16_t> results = ConvertBits(inputs, dtype);
    for (size_t i = 0; i < cases.size(); ++i) {
      EXPECT_EQ(results[i], cases[i].expected)
          << cases[i].what << ": F32 0x" << std::hex << cases[i].f32 << " to " << DTypeName(dtype);
    }
  }

  TempDir dir_;
  int count_ = 0;
};

TEST_F(DTypeRoundingTest, F32ToBF16RoundsToNearestEven) {
  ExpectRounding({{0x3f800000, 0x3f80, "1.0"},
                  {0x3f808000, 0x3f80, "tie, down to even"},
                  {0x3f818000, 0x3f82, "tie, up to even"},
                  {0x3f808001, 0x3f81, "just above a tie"},
                  {0x3f807fff, 0x3f80, "just below a tie"},
                  {0x80000000, 0x8000, "-0"},
                  {0x7f800000, 0x7f80, "+inf"},
                  {0xff800000, 0xff80, "-inf"},
                  {0x7f7fffff, 0x7f80, "largest float rounds to inf"},
                  {0x00010000, 0x0001, "subnormal, exact"},
                  {0x00018000, 0x0002, "subnormal tie, up to even"},
                  {0x00008000, 0x0000, "half the smallest subnormal, down to even 0"},
                  {0x00000001, 0x0000, "smallest subnormal"},
                  {0x807fffff, 0x8080, "negative subnormal rounding up to the smallest normal"}},
                 DType::kBF16);
}

TEST_F(DTypeRoundingTest, F32ToBF16KeepsNaN) {
  std::vector<uint16_t> results = ConvertBits({0x7fc00000, 0xffc00000, 0x7f800001}, DType::kBF16);
  for (uint16_t bits : results) {
    EXPECT_EQ(bits & 0x7f80, 0x7f80) << std::hex << bits;
    EXPECT_NE(bits & 0x007f, 0) << "still a NaN: " << std::hex << bits;
  }
  EXPECT_EQ(results[0] & 0x8000, 0);
  EXPECT_EQ(results[1] & 0x8000, 0x8000) << "the sign is kept";
}

TEST_F(DTypeRoundingTest, F32ToF16RoundsToNearestEven) {
  ExpectRounding({{0x3f800000, 0x3c00, "1.0"},
                  {0x3f801000, 0x3c00, "1 + 2^-11, tie down to even"},
                  {0x3f803000, 0x3c02, "1 + 3*2^-11, tie up to even"},
                  {0x477fe000, 0x7bff, "65504, the largest F16"},
                  {0x477ff000, 0x7c00, "65520, tie rounds up to inf"},
                  {0x477fefff, 0x7bff, "just below 65520"},
                  {0x7f800000, 0x7c00, "+inf"},
                  {0xff800000, 0xfc00, "-inf"},
                  {0x33800000, 0x0001, "2^-24, the smallest subnormal"},
                  {0x33000000, 0x0000, "2^-25, tie down to 0"},
                  {0x33c00000, 0x0002, "3*2^-25, tie up to even"},
                  {0x38800000, 0x0400, "2^-14, the smallest normal"},
                  {0x80000000, 0x8000, "-0"}},
                 DType::kF16);
}

TEST_F(DTypeRoundingTest, F32ToF16KeepsNaN) {
  std::vector<uint16_t> results = ConvertBits({0x7fc00000, 0xff800001}, DType::kF16);
  for (uint16_t bits : results) {
    EXPECT_EQ(bits & 0x7c00, 0x7c00) << std::hex << bits;
    EXPECT_NE(bits & 0x03ff, 0) << "still a NaN: " << std::hex << bits;
  }
  EXPECT_EQ(results[1] & 0x8000, 0x8000);
}

// Every 16-bit pattern widened to F32 and narrowed back is unchanged, except
// that signalling NaNs become quiet NaNs of the same sign.
void ExpectHalfRoundTrip(DType dtype, uint16_t exponent_mask, uint16_t quiet_bit) {
  TempDir dir;
  std::vector<uint16_t> all(65536);
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<uint16_t>(i);
  std::string source = dir.Join("all.safetensors");
  ASSERT_TRUE(WriteSafetensors(source, {{"v", dtype, {all.size()}, all.data()}}).ok());

  ConvertOptions widen;
  widen.dtype = DType::kF32;
  ASSERT_TRUE(ConvertCheckpoint(OpenOrDie(source), dir.Join("wide"), widen).ok());
  ConvertOptions narrow;
  narrow.dtype = dtype;
  ASSERT_TRUE(ConvertCheckpoint(OpenOrDie(dir.Join("wide")), dir.Join("back"), narrow).ok());

  std::string bytes = TensorBytes(OpenOrDie(dir.Join("back")))["v"];
  ASSERT_EQ(bytes.size(), all.size() * 2);
  std::vector<uint16_t> back(all.size());
  std::memcpy(back.data(), bytes.data(), bytes.size());
  int mismatches = 0;
  for (size_t i = 0; i < all.size(); ++i) {
    bool nan = (all[i] & exponent_mask) == exponent_mask && (all[i] & ~exponent_mask & 0x7fff) != 0;
    uint16_t expected = nan ? static_cast<uint16_t>(all[i] | quiet_bit) : all[i];
    if (back[i] != expected && ++mismatches <= 5) {
      ADD_FAILURE() << DTypeName(dtype) << " 0x" << std::hex << all[i] << " came back as 0x" << back[i];
    }
  }
  EXPECT_EQ(mismatches, 0);
}

TEST(DTypeRoundTripTest, EveryBF16ValueSurvivesF32) { ExpectHalfRoundTrip(DType::kBF16, 0x7f80, 0x0040); }

TEST(DTypeRoundTripTest, EveryF16ValueSurvivesF32) { ExpectHalfRoundTrip(DType::kF16, 0x7c00, 0x0200); }

TEST(SaveCheckpointTest, WritesShardsFromMemory) {
  TempDir dir;
  std::vector<float> a(100, 1.5f);
  std::vector<int32_t> b(50, -3);
  SaveOptions options;
  options.sharding.max_shard_bytes = 300;
  options.metadata = {{"epoch", "3"}};
  auto summary = SaveCheckpoint(dir.Join("out"), {{"layers.0.a", DType::kF32, {10, 10}, a.data()},
                                                  {"layers.1.b", DType::kI32, {50}, b.data()}},
                                options);
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->files.size(), 2u);
  EXPECT_TRUE(summary->has_index);
  EXPECT_EQ(summary->tensor_bytes, 600u);
  Checkpoint saved = OpenOrDie(dir.Join("out"));
  EXPECT_EQ(TensorBytes(saved)["layers.0.a"], Bytes(a));
  EXPECT_EQ(TensorBytes(saved)["layers.1.b"], Bytes(b));
  EXPECT_EQ(saved.files()[0].metadata, (Metadata{{"format", "pt"}, {"epoch", "3"}}));
}

TEST(SaveCheckpointTest, RejectsMetadataNameBeforeWriting) {
  TempDir dir;
  uint8_t byte = 0;
  auto summary = SaveCheckpoint(dir.Join("out"), {{"__metadata__", DType::kU8, {1}, &byte}});
  EXPECT_ERROR(summary, ErrorId::kDuplicateName, "__metadata__");
  EXPECT_FALSE(fs::exists(dir.Join("out")));
}

TEST(SaveCheckpointTest, RejectsMissingData) {
  TempDir dir;
  auto summary = SaveCheckpoint(dir.Join("out"), {{"w", DType::kF32, {2}, nullptr}});
  EXPECT_ERROR(summary, ErrorId::kDestinationInvalid, "'w' has no data");
  EXPECT_FALSE(fs::exists(dir.Join("out")));
}

TEST(ReadShardLayoutTest, ReadsIndexFromDirectory) {
  TempDir dir;
  testing::WriteFileBytes(dir.Join("model.safetensors.index.json"),
                          R"({"metadata": {"total_size": 8}, "weight_map": {"a": "x.safetensors"}})");
  auto layout = ReadShardLayout(dir.path());
  ASSERT_TRUE(layout.ok()) << layout.status().ToString();
  ASSERT_EQ(layout->size(), 1u);
  EXPECT_EQ((*layout)[0], (LayoutEntry{"a", "x.safetensors"}));
}

TEST(ReadShardLayoutTest, RejectsPathOutsideDirectory) {
  TempDir dir;
  testing::WriteFileBytes(dir.Join("index.json"), R"({"weight_map": {"a": "../x.safetensors"}})");
  EXPECT_ERROR(ReadShardLayout(dir.Join("index.json")), ErrorId::kIndexPathOutside, "../x.safetensors");
}

}  // namespace
}  // namespace safeckpt
