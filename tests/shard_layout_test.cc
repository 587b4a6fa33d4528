// Shard planning: sizes with units, natural order, greedy splitting, layouts
// from a reference index, header order and the index text.
#include "save/shard_layout.h"

#include <gtest/gtest.h>

#include <map>

#include "safeckpt/checkpoint.h"
#include "safeckpt/writer.h"
#include "support/test_support.h"

namespace safeckpt {
namespace {

using internal::LayoutTensor;
using internal::PlanShards;
using internal::ShardPlan;

LayoutTensor Tensor(std::string name, uint64_t nbytes, DType dtype = DType::kU8) {
  uint64_t element_bytes = DTypeBits(dtype) / 8;
  return {std::move(name), dtype, {nbytes / element_bytes}, nbytes, 0, 0};
}

// File name of every tensor in a plan.
std::map<std::string, std::string> FileOf(const ShardPlan& plan) {
  std::map<std::string, std::string> file_of;
  for (const auto& file : plan.files) {
    for (const LayoutTensor& tensor : file.tensors) file_of[tensor.name] = file.name;
  }
  return file_of;
}

TEST(ParseByteSizeTest, AcceptsBytesAndUnits) {
  EXPECT_EQ(*ParseByteSize("1024"), 1024u);
  EXPECT_EQ(*ParseByteSize("5GB"), 5'000'000'000u);
  EXPECT_EQ(*ParseByteSize("500MiB"), 500ull << 20);
  EXPECT_EQ(*ParseByteSize("2 gib"), 2ull << 30);
  EXPECT_EQ(*ParseByteSize("1.5KB"), 1500u);
  EXPECT_EQ(*ParseByteSize("0.5KiB"), 512u);
  EXPECT_EQ(*ParseByteSize("7B"), 7u);
  EXPECT_EQ(*ParseByteSize("1TB"), 1'000'000'000'000u);
  EXPECT_EQ(*ParseByteSize("16TiB"), 16ull << 40);
}

TEST(ParseByteSizeTest, RejectsInvalidSizes) {
  EXPECT_ERROR(ParseByteSize(""), ErrorId::kRuleInvalid, "no number");
  EXPECT_ERROR(ParseByteSize("GB"), ErrorId::kRuleInvalid, "no number");
  EXPECT_ERROR(ParseByteSize("5XB"), ErrorId::kRuleInvalid, "unknown unit 'xb'");
  EXPECT_ERROR(ParseByteSize("-1"), ErrorId::kRuleInvalid, "no number");
  EXPECT_ERROR(ParseByteSize("1e9"), ErrorId::kRuleInvalid, "unknown unit");
  EXPECT_ERROR(ParseByteSize("0"), ErrorId::kRuleInvalid, "at least 1 byte");
  EXPECT_ERROR(ParseByteSize("0.1B"), ErrorId::kRuleInvalid, "at least 1 byte");
  EXPECT_ERROR(ParseByteSize("20000000000000000000"), ErrorId::kRuleInvalid, "too large");
  EXPECT_ERROR(ParseByteSize("17000000TiB"), ErrorId::kRuleInvalid, "too large");
}

TEST(ParseByteSizeTest, ErrorNamesAcceptedUnits) {
  EXPECT_ERROR(ParseByteSize("5 gigs"), ErrorId::kRuleInvalid, "KiB, MiB, GiB, TiB");
}

TEST(NaturalOrderTest, ComparesNumbersByValue) {
  EXPECT_TRUE(internal::NaturalLess("layers.2.w", "layers.10.w"));
  EXPECT_FALSE(internal::NaturalLess("layers.10.w", "layers.2.w"));
  EXPECT_TRUE(internal::NaturalLess("a", "a1"));
  EXPECT_TRUE(internal::NaturalLess("a.bias", "a.weight"));
  EXPECT_FALSE(internal::NaturalLess("x", "x"));
  EXPECT_TRUE(internal::NaturalLess("a1", "a01"));
}

TEST(ShardFileNameTest, UsesFiveDigits) {
  EXPECT_EQ(internal::ShardFileName("model", 1, 7), "model-00002-of-00007.safetensors");
}

TEST(PlanShardsTest, FitsInOneFileWithoutIndex) {
  ShardingOptions options;
  auto plan = PlanShards({Tensor("a", 8), Tensor("b", 8)}, options, "");
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_EQ(plan->files.size(), 1u);
  EXPECT_EQ(plan->files[0].name, "model.safetensors");
  EXPECT_FALSE(plan->write_index);
  EXPECT_EQ(plan->total_size, 16u);
}

TEST(PlanShardsTest, FillsShardsGreedilyInNaturalOrder) {
  ShardingOptions options;
  options.max_shard_bytes = 10;
  auto plan = PlanShards({Tensor("layers.10.w", 4), Tensor("layers.2.w", 4), Tensor("layers.1.w", 4),
                          Tensor("layers.3.w", 4)},
                         options, "");
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->files.size(), 2u);
  EXPECT_TRUE(plan->write_index);
  EXPECT_EQ(plan->files[0].name, "model-00001-of-00002.safetensors");
  EXPECT_EQ(plan->files[1].name, "model-00002-of-00002.safetensors");
  std::map<std::string, std::string> file_of = FileOf(*plan);
  EXPECT_EQ(file_of["layers.1.w"], "model-00001-of-00002.safetensors");
  EXPECT_EQ(file_of["layers.2.w"], "model-00001-of-00002.safetensors");
  EXPECT_EQ(file_of["layers.3.w"], "model-00002-of-00002.safetensors");
  EXPECT_EQ(file_of["layers.10.w"], "model-00002-of-00002.safetensors");
}

TEST(PlanShardsTest, GivesOversizedTensorItsOwnShard) {
  ShardingOptions options;
  options.max_shard_bytes = 10;
  auto plan = PlanShards({Tensor("a", 4), Tensor("b", 50), Tensor("c", 4)}, options, "");
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->files.size(), 2u);
  std::map<std::string, std::string> file_of = FileOf(*plan);
  EXPECT_EQ(file_of["b"], "model-00001-of-00002.safetensors");
  EXPECT_EQ(file_of["a"], "model-00002-of-00002.safetensors");
  EXPECT_EQ(file_of["c"], "model-00002-of-00002.safetensors");
  EXPECT_EQ(plan->files[0].tensor_bytes, 50u);
}

TEST(PlanShardsTest, ExactFitStaysInOneShard) {
  ShardingOptions options;
  options.max_shard_bytes = 8;
  auto plan = PlanShards({Tensor("a", 4), Tensor("b", 4), Tensor("c", 4)}, options, "");
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->files.size(), 2u);
  EXPECT_EQ(plan->files[0].tensors.size(), 2u);
}

TEST(PlanShardsTest, NoTensorsGivesOneMetadataFile) {
  ShardingOptions options;
  options.layout = {{"x", "model-00001-of-00002.safetensors"}};
  auto plan = PlanShards({}, options, "");
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->files.size(), 1u);
  EXPECT_EQ(plan->files[0].name, "model.safetensors");
  EXPECT_TRUE(plan->files[0].tensors.empty());
  EXPECT_FALSE(plan->write_index);
}

TEST(PlanShardsTest, SingleFileNameTakesEverything) {
  ShardingOptions options;
  options.max_shard_bytes = 1;
  auto plan = PlanShards({Tensor("a", 4), Tensor("b", 4)}, options, "out.safetensors");
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->files.size(), 1u);
  EXPECT_EQ(plan->files[0].name, "out.safetensors");
  EXPECT_FALSE(plan->write_index);
}

TEST(PlanShardsTest, RejectsZeroMaximum) {
  ShardingOptions options;
  options.max_shard_bytes = 0;
  EXPECT_ERROR(PlanShards({Tensor("a", 4)}, options, ""), ErrorId::kRuleInvalid, "0 bytes");
}

TEST(PlanShardsTest, FollowsLayoutAndKeepsNamesOpaque) {
  ShardingOptions options;
  options.layout = {{"a", "weights/part one.bin"}, {"b", "z.safetensors"}, {"c", "z.safetensors"},
                    {"unused", "empty.safetensors"}};
  auto plan = PlanShards({Tensor("a", 4), Tensor("b", 4), Tensor("c", 4)}, options, "");
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->write_index);
  ASSERT_EQ(plan->files.size(), 2u) << "a file that receives no tensor is not written";
  std::map<std::string, std::string> file_of = FileOf(*plan);
  EXPECT_EQ(file_of["a"], "weights/part one.bin");
  EXPECT_EQ(file_of["b"], "z.safetensors");
  EXPECT_EQ(file_of["c"], "z.safetensors");
}

TEST(PlanShardsTest, PutsUnknownTensorsInExtraFile) {
  ShardingOptions options;
  options.layout = {{"a", "model-00001-of-00001.safetensors"}};
  auto plan = PlanShards({Tensor("a", 4), Tensor("new.1", 4), Tensor("new.0", 4)}, options, "");
  ASSERT_TRUE(plan.ok());
  std::map<std::string, std::string> file_of = FileOf(*plan);
  EXPECT_EQ(file_of["new.0"], "model-extra.safetensors");
  EXPECT_EQ(file_of["new.1"], "model-extra.safetensors");
  EXPECT_EQ(file_of["a"], "model-00001-of-00001.safetensors");
}

TEST(PlanShardsTest, ExtraFileAvoidsLayoutNames) {
  ShardingOptions options;
  options.layout = {{"a", "model-extra.safetensors"}};
  auto plan = PlanShards({Tensor("a", 4), Tensor("b", 4)}, options, "");
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(FileOf(*plan)["b"], "model-extra-2.safetensors");
}

TEST(PlanShardsTest, SplitsExtraTensorsBySize) {
  ShardingOptions options;
  options.max_shard_bytes = 4;
  options.layout = {{"a", "one.safetensors"}};
  auto plan = PlanShards({Tensor("a", 4), Tensor("b", 4), Tensor("c", 4)}, options, "");
  ASSERT_TRUE(plan.ok());
  std::map<std::string, std::string> file_of = FileOf(*plan);
  EXPECT_EQ(file_of["b"], "model-extra-00001-of-00002.safetensors");
  EXPECT_EQ(file_of["c"], "model-extra-00002-of-00002.safetensors");
}

TEST(PlanShardsTest, RejectsLayoutNamingTensorTwice) {
  ShardingOptions options;
  options.layout = {{"a", "x.safetensors"}, {"a", "y.safetensors"}};
  EXPECT_ERROR(PlanShards({Tensor("a", 4)}, options, ""), ErrorId::kDuplicateName, "'a'");
}

TEST(OrderForHeaderTest, OrdersByAlignmentThenName) {
  std::vector<LayoutTensor> tensors = {Tensor("b8", 3, DType::kU8), Tensor("a16", 2, DType::kBF16),
                                       Tensor("z64", 8, DType::kF64), Tensor("a8", 1, DType::kBool),
                                       Tensor("m32", 4, DType::kF32), Tensor("c64", 16, DType::kI64)};
  internal::OrderForHeader(tensors);
  std::vector<std::string> names;
  for (const LayoutTensor& tensor : tensors) names.push_back(tensor.name);
  EXPECT_EQ(names, (std::vector<std::string>{"c64", "z64", "m32", "a16", "a8", "b8"}));
}

TEST(OrderForHeaderTest, OffsetsAreContiguousAndAligned) {
  std::vector<LayoutTensor> tensors = {Tensor("u8", 3, DType::kU8), Tensor("f16", 6, DType::kF16),
                                       Tensor("f64", 24, DType::kF64), Tensor("f32", 12, DType::kF32)};
  internal::OrderForHeader(tensors);
  uint64_t expected = 0;
  for (const LayoutTensor& tensor : tensors) {
    EXPECT_EQ(tensor.data_begin, expected) << tensor.name;
    EXPECT_EQ(tensor.data_begin % internal::DTypeAlignment(tensor.dtype), 0u) << tensor.name;
    expected += tensor.nbytes;
  }
}

TEST(DTypeAlignmentTest, SubByteTypesAlignToOneByte) {
  EXPECT_EQ(internal::DTypeAlignment(DType::kF4), 1u);
  EXPECT_EQ(internal::DTypeAlignment(DType::kF6_E2M3), 1u);
  EXPECT_EQ(internal::DTypeAlignment(DType::kC64), 8u);
  EXPECT_EQ(internal::DTypeAlignment(DType::kBF16), 2u);
}

TEST(BuildIndexJsonTest, ParsesBackWithTotalSize) {
  ShardingOptions options;
  options.max_shard_bytes = 4;
  auto plan = PlanShards({Tensor("b", 4), Tensor("a", 4)}, options, "");
  ASSERT_TRUE(plan.ok());
  std::string text = internal::BuildIndexJson(*plan);
  auto index = ParseCheckpointIndex(text, "index");
  ASSERT_TRUE(index.ok()) << index.status().ToString() << "\n" << text;
  ASSERT_TRUE(index->total_size.has_value());
  EXPECT_EQ(*index->total_size, 8u);
  ASSERT_EQ(index->weight_map.size(), 2u);
  EXPECT_EQ(index->weight_map[0].first, "a") << "the weight_map is sorted by tensor name";
  EXPECT_EQ(index->weight_map[0].second, "model-00001-of-00002.safetensors");
  EXPECT_EQ(index->weight_map[1].first, "b");
}

}  // namespace
}  // namespace safeckpt
