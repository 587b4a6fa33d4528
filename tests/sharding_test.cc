#include "safeckpt/sharding.h"

#include <gtest/gtest.h>

#include <string>

#include "load/region.h"
#include "safeckpt/hyperslab.h"
#include "safeckpt/manifest.h"
#include "support/test_support.h"

namespace safeckpt {
namespace {

Hyperslab Slab(std::vector<IndexRange> ranges) { return Hyperslab{std::move(ranges)}; }

// EXPECT_ERROR reads `.status()`, which a bare Status lacks.
struct Checked {
  Status value;
  Status status() const { return value; }
};

TEST(ChunkRangeTest, EvenSplit) {
  EXPECT_EQ(ChunkRange(8, 0, 4), (IndexRange{0, 2}));
  EXPECT_EQ(ChunkRange(8, 3, 4), (IndexRange{6, 8}));
}

TEST(ChunkRangeTest, UnevenSplitShortensLastChunk) {
  // torch.chunk(torch.arange(10), 4) gives sizes 3, 3, 3, 1.
  EXPECT_EQ(ChunkRange(10, 0, 4), (IndexRange{0, 3}));
  EXPECT_EQ(ChunkRange(10, 2, 4), (IndexRange{6, 9}));
  EXPECT_EQ(ChunkRange(10, 3, 4), (IndexRange{9, 10}));
}

TEST(ChunkRangeTest, TrailingRanksGetNothing) {
  // torch.chunk(torch.arange(5), 4) gives sizes 2, 2, 1: rank 3 is empty.
  EXPECT_EQ(ChunkRange(5, 2, 4), (IndexRange{4, 5}));
  EXPECT_EQ(ChunkRange(5, 3, 4).size(), 0u);
  EXPECT_EQ(ChunkRange(2, 3, 4).size(), 0u);
  EXPECT_EQ(ChunkRange(0, 0, 3).size(), 0u);
}

TEST(ChunkRangeTest, ChunksCoverEveryIndexOnce) {
  for (uint64_t size : {0, 1, 2, 5, 7, 64, 129}) {
    for (uint32_t world = 1; world <= 9; ++world) {
      uint64_t next = 0;
      for (uint32_t rank = 0; rank < world; ++rank) {
        IndexRange range = ChunkRange(size, rank, world);
        if (range.size() == 0) continue;
        EXPECT_EQ(range.start, next) << size << " " << rank << "/" << world;
        next = range.stop;
      }
      EXPECT_EQ(next, size) << size << " over " << world;
    }
  }
}

TEST(HyperslabTest, ShapeAndWhole) {
  const Hyperslab slab = Slab({{2, 5}, {0, 4}});
  EXPECT_EQ(slab.shape(), (Shape{3, 4}));
  EXPECT_FALSE(slab.IsWhole({5, 4}));
  EXPECT_TRUE(Hyperslab::Whole({5, 4}).IsWhole({5, 4}));
  EXPECT_FALSE(slab.IsEmpty());
  EXPECT_TRUE(Slab({{2, 2}, {0, 4}}).IsEmpty());
  EXPECT_EQ(FormatHyperslab(slab), "[2:5, 0:4]");
}

TEST(HyperslabTest, CheckRejectsRangePastShape) {
  EXPECT_ERROR(Checked{CheckHyperslab(Slab({{0, 6}, {0, 4}}), {5, 4}, "w")}, ErrorId::kSliceInvalid,
               "tensor 'w': slice [0:6, 0:4] does not fit shape [5, 4]: dimension 0");
  EXPECT_ERROR(Checked{CheckHyperslab(Slab({{3, 2}, {0, 4}}), {5, 4}, "w")}, ErrorId::kSliceInvalid,
               "range [3, 2)");
  EXPECT_ERROR(Checked{CheckHyperslab(Slab({{0, 5}}), {5, 4}, "w")}, ErrorId::kSliceInvalid,
               "has 1 dimensions but shape [5, 4] has 2");
  EXPECT_TRUE(CheckHyperslab(Slab({{5, 5}, {0, 4}}), {5, 4}, "w").ok());
}

TEST(HyperslabTest, IntersectKeepsCommonPart) {
  std::optional<Hyperslab> common = Intersect(Slab({{0, 4}, {2, 8}}), Slab({{2, 6}, {0, 3}}));
  ASSERT_TRUE(common.has_value());
  EXPECT_EQ(*common, Slab({{2, 4}, {2, 3}}));
  EXPECT_FALSE(Intersect(Slab({{0, 2}}), Slab({{2, 4}})).has_value());
}

TEST(ResolveShardingTest, ShardSplitsOneDimension) {
  Result<Hyperslab> slab = ResolveSharding(Sharding::Shard(1), {4, 10}, 1, 4, "w");
  ASSERT_TRUE(slab.ok()) << slab.status().ToString();
  EXPECT_EQ(*slab, Slab({{0, 4}, {3, 6}}));
}

TEST(ResolveShardingTest, ReplicateIsWhole) {
  Result<Hyperslab> slab = ResolveSharding(Sharding::Replicate(), {4, 10}, 3, 4, "w");
  ASSERT_TRUE(slab.ok());
  EXPECT_TRUE(slab->IsWhole({4, 10}));
}

TEST(ResolveShardingTest, RejectsMissingDimensionAndBadRank) {
  EXPECT_ERROR(ResolveSharding(Sharding::Shard(2), {4, 10}, 0, 2, "w"), ErrorId::kSliceInvalid,
               "cannot shard dimension 2 of shape [4, 10]");
  EXPECT_ERROR(ResolveSharding(Sharding::Shard(0), {4, 10}, 2, 2, "w"), ErrorId::kSliceInvalid,
               "rank 2 is not below world_size 2");
  EXPECT_ERROR(ResolveSharding(Sharding::Slice(Slab({{0, 5}, {0, 10}})), {4, 10}, 0, 1, "w"),
               ErrorId::kSliceInvalid, "does not fit shape [4, 10]");
}

ModelState ThreeTensors() {
  ModelState model;
  for (const char* name : {"model.layers.0.mlp.experts.down_projs", "model.norm.weight",
                           "model.embed_tokens.weight"}) {
    ExpectedTensor tensor;
    tensor.name = name;
    tensor.shape = {10, 4};
    EXPECT_TRUE(model.Add(std::move(tensor)).ok());
  }
  ExpectedTensor extra;
  extra.name = "model.layers.0.attn._extra_state";
  extra.dtype = DType::kU8;
  extra.shape = {16};
  extra.role = TensorRole::kBookkeeping;
  EXPECT_TRUE(model.Add(std::move(extra)).ok());
  return model;
}

TEST(ApplyShardingTest, NameWinsOverRuleAndUnmatchedReplicate) {
  ModelState model = ThreeTensors();
  ShardingLayout layout;
  layout.rank = 1;
  layout.world_size = 3;
  layout.rules = {{"experts\\.", Sharding::Shard(0)}, {".", Sharding::Shard(1)}};
  layout.by_name.emplace("model.norm.weight", Sharding::Replicate());

  ASSERT_TRUE(ApplySharding(layout, model).ok());

  const ExpectedTensor* experts = model.Find("model.layers.0.mlp.experts.down_projs");
  ASSERT_TRUE(experts->slice.has_value());
  EXPECT_EQ(*experts->slice, Slab({{4, 8}, {0, 4}}));
  EXPECT_FALSE(model.Find("model.norm.weight")->slice.has_value());
  const ExpectedTensor* embedding = model.Find("model.embed_tokens.weight");
  ASSERT_TRUE(embedding->slice.has_value());
  EXPECT_EQ(*embedding->slice, Slab({{0, 10}, {2, 4}}));
  EXPECT_EQ(embedding->LocalShape(), (Shape{10, 2}));
}

TEST(ApplyShardingTest, BookkeepingStaysWhole) {
  ModelState model = ThreeTensors();
  ShardingLayout layout;
  layout.world_size = 2;
  layout.rules = {{".", Sharding::Shard(0)}};

  ASSERT_TRUE(ApplySharding(layout, model).ok());

  EXPECT_FALSE(model.Find("model.layers.0.attn._extra_state")->slice.has_value());
}

TEST(ApplyShardingTest, SingleProcessLeavesTensorsWhole) {
  ModelState model = ThreeTensors();
  ShardingLayout layout;
  layout.rules = {{".", Sharding::Shard(0)}};

  ASSERT_TRUE(ApplySharding(layout, model).ok());

  for (const ExpectedTensor& tensor : model.tensors()) {
    EXPECT_FALSE(tensor.slice.has_value()) << tensor.name;
  }
}

TEST(ApplyShardingTest, RejectsUnknownNameAndBadPattern) {
  ModelState model = ThreeTensors();
  ShardingLayout layout;
  layout.by_name.emplace("lm_head.weight", Sharding::Shard(0));
  EXPECT_ERROR(Checked{ApplySharding(layout, model)}, ErrorId::kSliceInvalid,
               "tensor 'lm_head.weight', which the model does not have");

  ShardingLayout bad_pattern;
  bad_pattern.rules = {{"(", Sharding::Shard(0)}};
  EXPECT_ERROR(Checked{ApplySharding(bad_pattern, model)}, ErrorId::kRuleInvalid, "pattern '('");
}

TEST(ApplyShardingTest, RejectsDestinationOfWholeTensor) {
  ModelState model;
  std::vector<float> memory(40);
  ExpectedTensor tensor;
  tensor.name = "w";
  tensor.shape = {10, 4};
  tensor.data = memory.data();
  tensor.data_bytes = 160;
  ASSERT_TRUE(model.Add(std::move(tensor)).ok());
  ShardingLayout layout;
  layout.world_size = 2;
  layout.rules = {{"w", Sharding::Shard(0)}};

  EXPECT_ERROR(Checked{ApplySharding(layout, model)}, ErrorId::kDestinationInvalid,
               "destination is 160 bytes but its slice [0:5, 0:4] of F32 [10, 4] needs 80");
}

TEST(ModelStateSliceTest, DestinationMustMatchSlice) {
  ModelState model;
  std::vector<float> memory(40);
  ExpectedTensor tensor;
  tensor.name = "w";
  tensor.shape = {10, 4};
  tensor.slice = Slab({{0, 5}, {0, 4}});
  tensor.data = memory.data();
  tensor.data_bytes = 160;
  EXPECT_ERROR(Checked{model.Add(tensor)}, ErrorId::kDestinationInvalid,
               "destination is 160 bytes but slice [0:5, 0:4] of F32 [10, 4] needs 80 bytes");

  tensor.slice = Slab({{0, 11}, {0, 4}});
  EXPECT_ERROR(Checked{model.Add(tensor)}, ErrorId::kSliceInvalid, "does not fit shape [10, 4]");
}

TEST(ManifestShardingTest, ParsesRankRulesAndPerTensorEntries) {
  Result<Manifest> manifest = ParseManifest(R"({
    "safeckpt_manifest": 1,
    "rank": 1, "world_size": 2,
    "sharding": [{"pattern": "experts\\.", "shard": {"dim": 0}}],
    "tensors": {
      "model.layers.0.mlp.experts.down_projs": {"dtype": "BF16", "shape": [4, 6, 2]},
      "model.norm.weight": {"dtype": "F32", "shape": [6], "replicate": true},
      "lm_head.weight": {"dtype": "F32", "shape": [10, 6], "shard": {"dim": 1}},
      "model.embed_tokens.weight": {"dtype": "F32", "shape": [10, 6],
                                    "slice": [[2, 4], [0, 6]]}}})",
                                            "model.json");
  ASSERT_TRUE(manifest.ok()) << manifest.status().ToString();
  EXPECT_EQ(manifest->sharding.rank, 1u);
  EXPECT_EQ(manifest->sharding.world_size, 2u);

  EXPECT_EQ(*manifest->model.Find("model.layers.0.mlp.experts.down_projs")->slice,
            Slab({{2, 4}, {0, 6}, {0, 2}}));
  EXPECT_FALSE(manifest->model.Find("model.norm.weight")->slice.has_value());
  EXPECT_EQ(*manifest->model.Find("lm_head.weight")->slice, Slab({{0, 10}, {3, 6}}));
  EXPECT_EQ(*manifest->model.Find("model.embed_tokens.weight")->slice, Slab({{2, 4}, {0, 6}}));
}

TEST(ManifestShardingTest, FormatRoundTrips) {
  Result<Manifest> manifest = ParseManifest(R"({
    "safeckpt_manifest": 1, "rank": 2, "world_size": 3, "adapter": "mixtral",
    "sharding": [{"pattern": "mlp", "replicate": true}, {"pattern": ".", "shard": {"dim": 0}}],
    "tensors": {"a": {"dtype": "F32", "shape": [9, 2], "slice": [[0, 1], [0, 2]]},
                "b": {"dtype": "F32", "shape": [9]}}})",
                                            "model.json");
  ASSERT_TRUE(manifest.ok()) << manifest.status().ToString();

  Result<Manifest> again = ParseManifest(FormatManifest(*manifest), "again.json");

  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->adapter, "mixtral");
  EXPECT_EQ(again->sharding.rank, 2u);
  EXPECT_EQ(again->sharding.world_size, 3u);
  ASSERT_EQ(again->sharding.rules.size(), 2u);
  EXPECT_EQ(again->sharding.rules[0].sharding, Sharding::Replicate());
  EXPECT_EQ(again->sharding.rules[1].sharding, Sharding::Shard(0));
  EXPECT_EQ(*again->model.Find("a")->slice, Slab({{0, 1}, {0, 2}}));
  EXPECT_EQ(*again->model.Find("b")->slice, Slab({{6, 9}}));
}

TEST(ManifestShardingTest, RejectsInvalidEntries) {
  auto parse = [](std::string_view text) { return ParseManifest(text, "model.json"); };
  EXPECT_ERROR(parse(R"({"safeckpt_manifest": 1, "tensors": {"a": {"dtype": "F32",
      "shape": [4], "shard": {"dim": 0}, "replicate": true}}})"),
               ErrorId::kManifestInvalid, "tensor 'a': \"replicate\" and another of");
  EXPECT_ERROR(parse(R"({"safeckpt_manifest": 1, "tensors": {"a": {"dtype": "F32",
      "shape": [4], "shard": {"axis": 0}}}})"),
               ErrorId::kManifestInvalid, "expected {\"dim\": D}");
  EXPECT_ERROR(parse(R"({"safeckpt_manifest": 1, "tensors": {"a": {"dtype": "F32",
      "shape": [4], "slice": [[3, 1]]}}})"),
               ErrorId::kManifestInvalid, "\"slice\" dimension 0 is [3,1]");
  EXPECT_ERROR(parse(R"({"safeckpt_manifest": 1, "world_size": 0, "tensors": {}})"),
               ErrorId::kManifestInvalid, "\"world_size\" is 0");
  EXPECT_ERROR(parse(R"({"safeckpt_manifest": 1, "rank": 2, "world_size": 2, "tensors": {}})"),
               ErrorId::kSliceInvalid, "model.json: rank 2 is not below world_size 2");
  EXPECT_ERROR(parse(R"({"safeckpt_manifest": 1, "sharding": [{"pattern": "a"}], "tensors": {}})"),
               ErrorId::kManifestInvalid, "sharding[0] has no \"shard\"");
  EXPECT_ERROR(parse(R"({"safeckpt_manifest": 1, "world_size": 2, "tensors": {"a": {"dtype":
      "F32", "shape": [4], "shard": {"dim": 1}}}})"),
               ErrorId::kSliceInvalid, "cannot shard dimension 1 of shape [4]");
}

// Collects the runs of one copy as (source, destination, count) triples.
std::vector<std::array<uint64_t, 3>> Runs(const Shape& source_shape, const Hyperslab& box) {
  std::vector<std::array<uint64_t, 3>> runs;
  const Shape local = box.shape();
  internal::ForEachRun(source_shape, box, local, Hyperslab::Whole(local),
                       [&](const internal::ElementRun& run) {
                         runs.push_back({run.source, run.destination, run.count});
                       });
  return runs;
}

TEST(RegionTest, RowShardIsOneRun) {
  auto runs = Runs({6, 4, 3}, Slab({{2, 5}, {0, 4}, {0, 3}}));
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0], (std::array<uint64_t, 3>{24, 0, 36}));
}

TEST(RegionTest, InnerSliceIsOneRunPerRow) {
  auto runs = Runs({3, 8}, Slab({{0, 3}, {2, 5}}));
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_EQ(runs[0], (std::array<uint64_t, 3>{2, 0, 3}));
  EXPECT_EQ(runs[1], (std::array<uint64_t, 3>{10, 3, 3}));
  EXPECT_EQ(runs[2], (std::array<uint64_t, 3>{18, 6, 3}));
  EXPECT_EQ(internal::CountRuns({3, 8}, Slab({{0, 3}, {2, 5}}), {3, 3},
                                Hyperslab::Whole({3, 3})),
            3u);
}

TEST(RegionTest, MiddleSliceMergesInnerDimensions) {
  auto runs = Runs({2, 4, 3}, Slab({{0, 2}, {1, 3}, {0, 3}}));
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0], (std::array<uint64_t, 3>{3, 0, 6}));
  EXPECT_EQ(runs[1], (std::array<uint64_t, 3>{15, 6, 6}));
}

TEST(RegionTest, ScalarAndEmptyBoxes) {
  EXPECT_EQ(Runs({}, Hyperslab{}).size(), 1u);
  EXPECT_TRUE(Runs({4, 2}, Slab({{4, 4}, {0, 2}})).empty());
}

}  // namespace
}  // namespace safeckpt
