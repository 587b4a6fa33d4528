// Inputs that the fuzz targets (fuzz/) found or that pin down their input
// framing, replayed through the same code the targets run. Each must end in
// a clean error or a clean success: a crash, a sanitizer report or a broken
// invariant (which aborts) fails the test binary.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "checkpoint_framing.h"
#include "fuzz_inputs.h"
#include "safeckpt/checkpoint.h"
#include "safeckpt/writer.h"
#include "support/test_support.h"

namespace safeckpt {
namespace {

using fuzz::FramedCheckpoint;
using fuzz::JoinFramedInput;
using fuzz::RunCheckpointInput;
using fuzz::RunHeaderInput;
using fuzz::RunIndexInput;
using fuzz::RunManifestInput;
using fuzz::SplitFramedInput;
using testing::TempDir;

TEST(FuzzFramingTest, EmptyInputHasNoFiles) {
  FramedCheckpoint framed = SplitFramedInput("");
  EXPECT_EQ(framed.options, 0);
  EXPECT_TRUE(framed.index_text.empty());
  EXPECT_TRUE(framed.shards.empty());
}

TEST(FuzzFramingTest, SplitsIndexAndTwoShards) {
  std::string input = JoinFramedInput(fuzz::kWriteIndex, "{}", {"first", "second"});
  FramedCheckpoint framed = SplitFramedInput(input);
  EXPECT_TRUE(framed.Has(fuzz::kWriteIndex));
  EXPECT_FALSE(framed.Has(fuzz::kLoadData));
  EXPECT_EQ(framed.index_text, "{}");
  ASSERT_EQ(framed.shards.size(), 2u);
  EXPECT_EQ(framed.shards[0], "first");
  EXPECT_EQ(framed.shards[1], "second");
}

TEST(FuzzFramingTest, LastShardKeepsExtraSeparators) {
  std::string input = JoinFramedInput(0, "", {"a", "b", "c"});
  FramedCheckpoint framed = SplitFramedInput(input);
  ASSERT_EQ(framed.shards.size(), 2u);
  EXPECT_EQ(framed.shards[1], "b" + std::string(fuzz::kPartSeparator) + "c");
}

TEST(FuzzRegressionTest, EmptyInputsAreErrors) {
  TempDir dir;
  EXPECT_EQ(RunHeaderInput("").id(), ErrorId::kFileEmpty);
  EXPECT_EQ(RunIndexInput("").id(), ErrorId::kIndexNotJson);
  EXPECT_EQ(RunManifestInput("").id(), ErrorId::kManifestInvalid);
  EXPECT_EQ(RunCheckpointInput("", dir.path()).id(), ErrorId::kNoSafetensorsFiles);
}

TEST(FuzzRegressionTest, ValidCheckpointLoadsThroughTarget) {
  TempDir dir;
  float values[2] = {1.5f, -2.0f};
  std::string file = BuildSafetensorsHeader({{"w", DType::kF32, {2}, values}}, {}) +
                     std::string(reinterpret_cast<const char*>(values), sizeof(values));
  std::string input = JoinFramedInput(fuzz::kOpenFile | fuzz::kLoadData, "", {file});
  Status status = RunCheckpointInput(input, dir.path());
  EXPECT_TRUE(status.ok()) << status.ToString();
}

// A shard whose F32 tensors, one element each, are named `names`.
std::string ShardWithTensors(const std::vector<std::string>& names) {
  static const float kValue = 1.0f;
  std::vector<TensorToWrite> tensors;
  std::string data;
  for (const std::string& name : names) {
    tensors.push_back({name, DType::kF32, {1}, &kValue});
    data.append(reinterpret_cast<const char*>(&kValue), sizeof(kValue));
  }
  return BuildSafetensorsHeader(tensors, {}) + data;
}

TEST(FuzzRegressionTest, StrictIndexBitRejectsStaleCopy) {
  TempDir dir;
  // The first shard contains a copy of "w", which the index maps to the second.
  std::string index = R"({"weight_map": {"v": "model-00001-of-00002.safetensors",)"
                      R"( "w": "model-00002-of-00002.safetensors"}})";
  std::vector<std::string> shards = {ShardWithTensors({"v", "w"}), ShardWithTensors({"w"})};

  Status lenient = RunCheckpointInput(JoinFramedInput(fuzz::kWriteIndex, index, shards), dir.path());
  EXPECT_TRUE(lenient.ok()) << lenient.ToString();
  Status strict = RunCheckpointInput(
      JoinFramedInput(fuzz::kWriteIndex | fuzz::kStrictIndex, index, shards), dir.path());
  EXPECT_EQ(strict.id(), ErrorId::kIndexStaleCopy) << strict.ToString();
}

}  // namespace
}  // namespace safeckpt
