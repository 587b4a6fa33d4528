// The command's --adapter, --rank and --world-size options end to end.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>

#include "adapter_fixtures.h"
#include "support/test_support.h"

namespace safeckpt {
namespace {

using testing::CommandResult;
using testing::MakeTensor;
using testing::ShellQuote;
using testing::TempDir;

// A one-layer Mixtral-style checkpoint: three experts of [4, 6] and [6, 4],
// a router and an embedding of ten rows.
class ShardCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::HfTensors tensors;
    uint32_t seed = 0;
    testing::Add(tensors, MakeTensor("model.embed_tokens.weight", DType::kBF16, {10, 6}, ++seed));
    testing::Add(tensors, MakeTensor("model.layers.0.block_sparse_moe.gate.weight", DType::kBF16,
                                     {3, 6}, ++seed));
    for (int expert = 0; expert < 3; ++expert) {
      const std::string base =
          "model.layers.0.block_sparse_moe.experts." + std::to_string(expert) + ".";
      testing::Add(tensors, MakeTensor(base + "w1.weight", DType::kBF16, {4, 6}, ++seed));
      testing::Add(tensors, MakeTensor(base + "w3.weight", DType::kBF16, {4, 6}, ++seed));
      testing::Add(tensors, MakeTensor(base + "w2.weight", DType::kBF16, {6, 4}, ++seed));
    }
    testing::WriteCheckpoint(dir_, tensors, "mixtral");
    manifest_ = dir_.Join("native.json");
    testing::WriteFileBytes(manifest_, R"({"safeckpt_manifest": 1,
      "sharding": [{"pattern": "\\.experts\\.", "shard": {"dim": 0}},
                   {"pattern": "embed_tokens", "shard": {"dim": 0}}],
      "tensors": {
        "model.embed_tokens.weight": {"dtype": "BF16", "shape": [10, 6]},
        "model.layers.0.mlp.gate.weight": {"dtype": "BF16", "shape": [3, 6]},
        "model.layers.0.mlp.experts.gate_and_up_projs": {"dtype": "F32", "shape": [3, 6, 8]},
        "model.layers.0.mlp.experts.down_projs": {"dtype": "BF16", "shape": [3, 4, 6]}}})");
  }

  CommandResult Safeckpt(const std::string& arguments) {
    return testing::RunCommand(ShellQuote(testing::SafeckptBinary()) + " " + arguments);
  }

  std::string LoadArguments(const std::string& options) {
    return "load " + ShellQuote(dir_.path()) + " --model " + ShellQuote(manifest_) + " " + options;
  }

  TempDir dir_;
  std::string manifest_;
};

TEST_F(ShardCliTest, AutoAdapterLoadsRankSlice) {
  CommandResult result =
      Safeckpt(LoadArguments("--adapter auto --rank 1 --world-size 2 --policy strict --format json"));

  ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(result.out).get(root), simdjson::SUCCESS) << result.out;
  uint64_t rank = 0;
  uint64_t world_size = 0;
  uint64_t sliced = 0;
  uint64_t loaded = 0;
  std::string_view adapter;
  ASSERT_EQ(root["rank"]["rank"].get(rank), simdjson::SUCCESS);
  ASSERT_EQ(root["rank"]["world_size"].get(world_size), simdjson::SUCCESS);
  ASSERT_EQ(root["rank"]["sliced"].get(sliced), simdjson::SUCCESS);
  ASSERT_EQ(root["rank"]["adapter"].get(adapter), simdjson::SUCCESS);
  ASSERT_EQ(root["counts"]["loaded"].get(loaded), simdjson::SUCCESS);
  EXPECT_EQ(rank, 1u);
  EXPECT_EQ(world_size, 2u);
  EXPECT_EQ(sliced, 3u);
  EXPECT_EQ(adapter, "mixtral");
  EXPECT_EQ(loaded, 4u);
}

TEST_F(ShardCliTest, TextReportNamesRank) {
  CommandResult result = Safeckpt(LoadArguments("--adapter mixtral --rank 2 --world-size 3"));

  ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_NE(result.out.find("rank 2 of 3: 3 of 4 loaded tensors sliced"), std::string::npos)
      << result.out;
  EXPECT_NE(result.out.find("adapter mixtral"), std::string::npos) << result.out;
}

TEST_F(ShardCliTest, WithoutAdapterNativeNamesAreMissing) {
  CommandResult result = Safeckpt(LoadArguments("--policy strict"));

  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  EXPECT_NE(result.out.find("missing (3):"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("unexpected (10):"), std::string::npos) << result.out;
}

TEST_F(ShardCliTest, UnknownAdapterExitsTwo) {
  CommandResult result = Safeckpt(LoadArguments("--adapter mixtrall"));

  EXPECT_EQ(result.exit_code, 2) << result.out << result.err;
  EXPECT_NE(result.err.find("unknown adapter 'mixtrall'"), std::string::npos) << result.err;
}

TEST_F(ShardCliTest, RankNotBelowWorldSizeExitsTwo) {
  CommandResult result = Safeckpt(LoadArguments("--adapter mixtral --rank 2 --world-size 2"));

  EXPECT_EQ(result.exit_code, 2) << result.out << result.err;
  EXPECT_NE(result.err.find("rank 2 is not below world_size 2"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace safeckpt
