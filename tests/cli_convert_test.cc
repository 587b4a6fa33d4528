// safeckpt convert and compare end to end: the demo checkpoint resharded
// and back, option errors and exit codes, the JSON forms, and the peak
// memory of a streaming convert.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "safeckpt/checkpoint.h"
#include "safeckpt/compare.h"
#include "safeckpt/writer.h"
#include "save/shard_layout.h"
#include "support/test_support.h"

namespace safeckpt {
namespace {

namespace fs = std::filesystem;
using testing::CommandResult;
using testing::RunCommand;
using testing::ShellQuote;
using testing::TempDir;

std::string Binary(const std::string& name) { return (fs::path(SAFECKPT_BINARY_DIR) / name).string(); }

CommandResult Safeckpt(const std::string& arguments) {
  return RunCommand(ShellQuote(Binary("safeckpt")) + " " + arguments);
}

class CliConvertTest : public ::testing::Test {
 protected:
  void SetUp() override {
    source_ = dir_.Join("model.safetensors");
    float weights[6] = {1, 2, 3, 4, 5, 6};
    int64_t steps[1] = {10};
    ASSERT_TRUE(WriteSafetensors(source_, {{"model.w", DType::kF32, {2, 3}, weights},
                                           {"model.steps", DType::kI64, {1}, steps}})
                    .ok());
  }

  TempDir dir_;
  std::string source_;
};

TEST_F(CliConvertTest, ConvertPrintsFilesWritten) {
  CommandResult result = Safeckpt("convert " + ShellQuote(source_) + " " + ShellQuote(dir_.Join("out")));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("1 file, 2 tensors"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("model.safetensors"), std::string::npos) << result.out;
  EXPECT_EQ(result.err, "");
}

TEST_F(CliConvertTest, ConvertJsonListsFilesAndConversions) {
  CommandResult result = Safeckpt("convert " + ShellQuote(source_) + " " + ShellQuote(dir_.Join("out")) +
                                  " --dtype bf16 --max-shard-size 8B --format json");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(result.out).get(root), simdjson::SUCCESS) << result.out;
  simdjson::dom::array files;
  ASSERT_EQ(root["files"].get(files), simdjson::SUCCESS);
  EXPECT_EQ(files.size(), 2u);
  bool has_index = false;
  ASSERT_EQ(root["has_index"].get(has_index), simdjson::SUCCESS);
  EXPECT_TRUE(has_index);
  std::string_view to;
  ASSERT_EQ(root["conversions"].at(0)["to"].get(to), simdjson::SUCCESS);
  EXPECT_EQ(to, "BF16");
  uint64_t tensor_bytes = 0;
  ASSERT_EQ(root["tensor_bytes"].get(tensor_bytes), simdjson::SUCCESS);
  EXPECT_EQ(tensor_bytes, 12u + 8u);
}

TEST_F(CliConvertTest, InvalidShardSizeExitsTwo) {
  CommandResult result = Safeckpt("convert " + ShellQuote(source_) + " " + ShellQuote(dir_.Join("out")) +
                                  " --max-shard-size 5XB");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("--max-shard-size: invalid size '5XB'"), std::string::npos) << result.err;
  EXPECT_FALSE(fs::exists(dir_.Join("out")));
}

TEST_F(CliConvertTest, ShardSizeForOneFileExitsTwo) {
  CommandResult result = Safeckpt("convert " + ShellQuote(source_) + " " + ShellQuote(dir_.Join("one.safetensors")) +
                                  " --max-shard-size 1GB");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("give a directory"), std::string::npos) << result.err;
}

TEST_F(CliConvertTest, UnknownDTypeListsAccepted) {
  CommandResult result = Safeckpt("convert " + ShellQuote(source_) + " " + ShellQuote(dir_.Join("out")) +
                                  " --dtype float7");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("unknown dtype 'float7'; accepted: BOOL"), std::string::npos) << result.err;
}

TEST_F(CliConvertTest, UnsupportedConversionExitsOne) {
  CommandResult result = Safeckpt("convert " + ShellQuote(source_) + " " + ShellQuote(dir_.Join("out")) +
                                  " --dtype-for steps F32");
  EXPECT_EQ(result.exit_code, 1) << result.err;
  EXPECT_NE(result.err.find("model.steps"), std::string::npos) << result.err;
  EXPECT_FALSE(fs::exists(dir_.Join("out")));
}

TEST_F(CliConvertTest, ExistingDestinationNeedsForce) {
  std::string out = ShellQuote(dir_.Join("out"));
  ASSERT_EQ(Safeckpt("convert " + ShellQuote(source_) + " " + out).exit_code, 0);
  CommandResult refused = Safeckpt("convert " + ShellQuote(source_) + " " + out + " --dtype F64");
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_NE(refused.err.find("pass --force"), std::string::npos) << refused.err;

  CommandResult forced = Safeckpt("convert " + ShellQuote(source_) + " " + out + " --dtype F64 --force");
  EXPECT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_NE(forced.out.find("replaced the checkpoint"), std::string::npos) << forced.out;
}

TEST_F(CliConvertTest, DanglingSymlinkDestinationIsRejected) {
  for (const char* name : {"dangling.safetensors", "dangling-dir"}) {
    const std::string link = dir_.Join(name);
    fs::create_symlink(dir_.Join("missing-target"), link);

    for (const char* force : {"", " --force"}) {
      CommandResult result =
          Safeckpt("convert " + ShellQuote(source_) + " " + ShellQuote(link) + force);
      EXPECT_EQ(result.exit_code, 2) << name << force << "\n" << result.err;
      EXPECT_NE(result.err.find("which does not exist"), std::string::npos) << result.err;
      EXPECT_TRUE(fs::is_symlink(fs::symlink_status(link))) << name << force;
    }
  }
}

TEST_F(CliConvertTest, DeviceDestinationIsRejected) {
  const std::string link = dir_.Join("null.safetensors");
  fs::create_symlink("/dev/null", link);

  CommandResult result =
      Safeckpt("convert " + ShellQuote(source_) + " " + ShellQuote(link) + " --force");

  EXPECT_EQ(result.exit_code, 2) << result.err;
  EXPECT_NE(result.err.find("not a regular file"), std::string::npos) << result.err;
  EXPECT_TRUE(fs::is_symlink(fs::symlink_status(link)));
}

TEST_F(CliConvertTest, InvalidSourceExitsThree) {
  std::string bad = dir_.Join("bad.safetensors");
  testing::WriteFileBytes(bad, "not a checkpoint");
  CommandResult result = Safeckpt("convert " + ShellQuote(bad) + " " + ShellQuote(dir_.Join("out")));
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find("bad.safetensors"), std::string::npos) << result.err;
}

TEST_F(CliConvertTest, IncompleteSourceIsReported) {
  std::string incomplete = dir_.Join("incomplete");
  fs::create_directory(incomplete);
  testing::WriteFileBytes(incomplete + "/" + std::string(kIncompleteMarkerName), "");
  CommandResult result = Safeckpt("compare " + ShellQuote(incomplete) + " " + ShellQuote(source_));
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find("incomplete checkpoint"), std::string::npos) << result.err;
}

TEST_F(CliConvertTest, CompareExitsOneAndListsDifferences) {
  std::string other = dir_.Join("other.safetensors");
  float weights[6] = {1, 2, 3, 4, 5, 6.5};
  ASSERT_TRUE(WriteSafetensors(other, {{"model.w", DType::kF32, {2, 3}, weights}}).ok());
  CommandResult result = Safeckpt("compare " + ShellQuote(source_) + " " + ShellQuote(other));
  EXPECT_EQ(result.exit_code, 1) << result.err;
  EXPECT_NE(result.out.find("not equal"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("only in A (1):\n  model.steps"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("[1, 2]  a 6  b 6.5  |a - b| 0.5"), std::string::npos) << result.out;

  CommandResult tolerant = Safeckpt("compare " + ShellQuote(source_) + " " + ShellQuote(other) +
                                    " --exclude steps --atol 0.5 --format json");
  EXPECT_EQ(tolerant.exit_code, 0) << tolerant.out << tolerant.err;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(tolerant.out).get(root), simdjson::SUCCESS) << tolerant.out;
  double max_abs = 0;
  ASSERT_EQ(root["max_abs_difference"].get(max_abs), simdjson::SUCCESS);
  EXPECT_EQ(max_abs, 0.5);
}

TEST_F(CliConvertTest, CompareRejectsNegativeTolerance) {
  CommandResult result = Safeckpt("compare " + ShellQuote(source_) + " " + ShellQuote(source_) + " --rtol -1");
  EXPECT_EQ(result.exit_code, 2);
}

// The demo checkpoint (three shards) resharded into seven and merged back
// into one file, bit for bit.
TEST(CliDemoConvertTest, DemoToSevenShardsAndBack) {
  TempDir dir;
  CommandResult made = RunCommand(ShellQuote(Binary("safeckpt-make-demo")) + " " + ShellQuote(dir.path()));
  ASSERT_EQ(made.exit_code, 0) << made.err;
  std::string demo = dir.Join("checkpoint");
  auto source = Checkpoint::Open(demo);
  ASSERT_TRUE(source.ok()) << source.status().ToString();

  // The smallest shard size that gives at most seven shards, by bisection:
  // fewer bytes per shard never give fewer shards.
  std::vector<internal::LayoutTensor> tensors;
  for (const CheckpointTensor& tensor : source->tensors()) {
    tensors.push_back({tensor.name, tensor.dtype, tensor.shape, tensor.nbytes, 0, 0});
  }
  auto shard_count = [&](uint64_t max_shard) {
    ShardingOptions sharding;
    sharding.max_shard_bytes = max_shard;
    return internal::PlanShards(tensors, sharding, "")->files.size();
  };
  uint64_t low = source->tensor_bytes() / 7;
  uint64_t max_shard = source->tensor_bytes();
  while (low < max_shard) {
    uint64_t middle = low + (max_shard - low) / 2;
    if (shard_count(middle) <= 7) {
      max_shard = middle;
    } else {
      low = middle + 1;
    }
  }
  ASSERT_EQ(shard_count(max_shard), 7u);

  std::string seven = dir.Join("seven");
  CommandResult split = Safeckpt("convert " + ShellQuote(demo) + " " + ShellQuote(seven) +
                                 " --max-shard-size " + std::to_string(max_shard));
  ASSERT_EQ(split.exit_code, 0) << split.err;
  EXPECT_TRUE(fs::exists(seven + "/model-00007-of-00007.safetensors")) << split.out;
  EXPECT_FALSE(fs::exists(seven + "/" + std::string(kIncompleteMarkerName)));

  std::string merged = dir.Join("merged.safetensors");
  ASSERT_EQ(Safeckpt("convert " + ShellQuote(seven) + " " + ShellQuote(merged)).exit_code, 0);
  CommandResult same = Safeckpt("compare " + ShellQuote(demo) + " " + ShellQuote(merged));
  EXPECT_EQ(same.exit_code, 0) << same.out;
  CommandResult seven_same = Safeckpt("compare " + ShellQuote(demo) + " " + ShellQuote(seven));
  EXPECT_EQ(seven_same.exit_code, 0) << seven_same.out;
}

// Peak RSS of a convert that copies and converts 128 MiB: at most the
// largest tensor (8 MiB) plus 64 MiB, whatever the checkpoint size.
TEST(CliConvertMemoryTest, PeakMemoryStaysWithinStreamingBound) {
  constexpr uint64_t kTensorBytes = 8 << 20;
  constexpr int kTensors = 16;
  TempDir dir;
  std::vector<float> data(kTensorBytes / sizeof(float), 0.25f);
  std::vector<TensorToWrite> tensors;
  for (int i = 0; i < kTensors; ++i) {
    tensors.push_back({"layers." + std::to_string(i) + ".w", DType::kF32, {data.size()}, data.data()});
  }
  std::string source = dir.Join("big.safetensors");
  ASSERT_TRUE(WriteSafetensors(source, tensors).ok());

  for (const char* dtype : {"F32", "BF16"}) {
    std::string out = dir.Join(std::string("out-") + dtype);
    pid_t pid = ::fork();
    if (pid == 0) {
      std::string binary = Binary("safeckpt");
      ::execl(binary.c_str(), binary.c_str(), "convert", source.c_str(), out.c_str(), "--dtype", dtype,
              "--max-shard-size", "40MiB", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    int status = 0;
    rusage usage{};
    ASSERT_EQ(::wait4(pid, &status, 0, &usage), pid);
    ASSERT_TRUE(WIFEXITED(status)) << dtype;
    ASSERT_EQ(WEXITSTATUS(status), 0) << dtype;
    uint64_t peak = static_cast<uint64_t>(usage.ru_maxrss) * 1024;
    std::cout << "convert to " << dtype << ": peak RSS " << (peak >> 20) << " MiB\n";
    EXPECT_LE(peak, kTensorBytes + (64 << 20)) << dtype;
  }
}

}  // namespace
}  // namespace safeckpt
