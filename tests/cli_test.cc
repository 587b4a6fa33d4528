// End-to-end tests of the safeckpt command: exit codes, output streams and
// the text and JSON formats.
#include <gtest/gtest.h>
#include <unistd.h>
#include <simdjson.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "safeckpt/writer.h"
#include "support/test_support.h"

namespace safeckpt {
namespace {

using testing::CommandResult;
using testing::RunCommand;
using testing::SafeckptBinary;
using testing::ShellQuote;
using testing::TempDir;
using testing::WriteFileBytes;

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    checkpoint_ = dir_.Join("model.safetensors");
    uint16_t embed[6] = {0x3f80, 0x4000, 0x4040, 0x4080, 0x40a0, 0x40c0};  // 1..6 in BF16
    uint16_t norm[3] = {0x3f80, 0x3f80, 0x3f80};
    ASSERT_TRUE(WriteSafetensors(checkpoint_, {{"model.embed_tokens.weight", DType::kBF16, {2, 3}, embed},
                                               {"model.norm.weight", DType::kBF16, {3}, norm}})
                    .ok());
  }

  CommandResult Safeckpt(const std::string& arguments) {
    return RunCommand(ShellQuote(SafeckptBinary()) + " " + arguments);
  }

  std::string WriteManifest(const std::string& json) {
    std::string path = dir_.Join("manifest-" + std::to_string(manifest_count_++) + ".json");
    WriteFileBytes(path, json);
    return path;
  }

  TempDir dir_;
  std::string checkpoint_;
  int manifest_count_ = 0;
};

constexpr const char* kMatchingManifest = R"({"safeckpt_manifest": 1, "tensors": {
  "model.embed_tokens.weight": {"dtype": "F32", "shape": [2, 3]},
  "model.norm.weight": {"dtype": "F32", "shape": [3]}}})";

constexpr const char* kManifestWithExtra = R"({"safeckpt_manifest": 1, "tensors": {
  "model.embed_tokens.weight": {"dtype": "F32", "shape": [2, 3]},
  "model.norm.weight": {"dtype": "F32", "shape": [3]},
  "lm_head.weight": {"dtype": "F32", "shape": [2, 3]}}})";

TEST_F(CliTest, InspectListsTensors) {
  CommandResult result = Safeckpt("inspect " + ShellQuote(checkpoint_));
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("model.embed_tokens.weight"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("BF16"), std::string::npos) << result.out;
  EXPECT_EQ(result.err, "");
}

TEST_F(CliTest, InspectJsonParses) {
  CommandResult result = Safeckpt("inspect --format json " + ShellQuote(checkpoint_));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(result.out).get(root), simdjson::SUCCESS) << result.out;
  uint64_t count = 0;
  ASSERT_EQ(root["tensor_count"].get(count), simdjson::SUCCESS);
  EXPECT_EQ(count, 2u);
}

TEST_F(CliTest, InvalidFileExitsThreeWithOneMessage) {
  std::string bad = dir_.Join("bad.safetensors");
  WriteFileBytes(bad, std::string("\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":", 13));
  CommandResult result = Safeckpt("inspect " + ShellQuote(bad));
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_EQ(result.out, "");
  EXPECT_EQ(result.err.rfind("safeckpt: error: ", 0), 0u) << result.err;
  EXPECT_NE(result.err.find("bad.safetensors"), std::string::npos) << result.err;
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
}

TEST_F(CliTest, CheckWithoutManifestValidatesStructure) {
  CommandResult result = Safeckpt("check " + ShellQuote(checkpoint_));
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "valid: 2 tensors in 1 file, 18 bytes of tensor data\n");
  EXPECT_EQ(result.err, "");
}

TEST_F(CliTest, CheckWithoutManifestJsonParses) {
  CommandResult result = Safeckpt("check --format json " + ShellQuote(checkpoint_));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(result.out).get(root), simdjson::SUCCESS) << result.out;
  bool valid = false;
  ASSERT_EQ(root["valid"].get(valid), simdjson::SUCCESS);
  EXPECT_TRUE(valid);
  uint64_t tensors = 0;
  ASSERT_EQ(root["tensors"].get(tensors), simdjson::SUCCESS);
  EXPECT_EQ(tensors, 2u);
}

TEST_F(CliTest, CheckWithoutManifestRejectsInvalidFile) {
  std::string bad = dir_.Join("bad.safetensors");
  WriteFileBytes(bad, std::string("\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":", 13));
  CommandResult result = Safeckpt("check " + ShellQuote(bad));
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_EQ(result.out, "");
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
}

TEST_F(CliTest, StrictIndexRejectsWrongTotalSize) {
  std::string sharded = dir_.Join("sharded");
  std::filesystem::create_directory(sharded);
  std::filesystem::copy_file(checkpoint_, sharded + "/model.safetensors");
  WriteFileBytes(sharded + "/model.safetensors.index.json",
                 R"({"metadata": {"total_size": 1}, "weight_map": {)"
                 R"("model.embed_tokens.weight": "model.safetensors", )"
                 R"("model.norm.weight": "model.safetensors"}})");

  CommandResult lenient = Safeckpt("check " + ShellQuote(sharded));
  EXPECT_EQ(lenient.exit_code, 0) << lenient.err;
  EXPECT_NE(lenient.err.find("total_size is 1 bytes"), std::string::npos) << lenient.err;
  EXPECT_NE(lenient.out.find("(1 warning above)"), std::string::npos) << lenient.out;

  for (const char* command : {"check", "inspect"}) {
    CommandResult strict = Safeckpt(std::string(command) + " --strict-index " + ShellQuote(sharded));
    EXPECT_EQ(strict.exit_code, 3) << command;
    EXPECT_EQ(strict.out, "") << command;
    EXPECT_NE(strict.err.find("total_size is 1 bytes"), std::string::npos) << strict.err;
    EXPECT_EQ(std::count(strict.err.begin(), strict.err.end(), '\n'), 1) << strict.err;
  }
}

TEST_F(CliTest, PathFromDirectoryListingIsEscaped) {
  std::string listed = dir_.Join("listed");
  std::filesystem::create_directory(listed);
  WriteFileBytes(listed + "/b\x1b[2J\n.safetensors", "garbage!garbage!");

  CommandResult result = Safeckpt("check " + ShellQuote(listed));

  EXPECT_EQ(result.exit_code, 3);
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
  EXPECT_EQ(result.err.find('\x1b'), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("b\\x1b[2J\\x0a.safetensors"), std::string::npos) << result.err;
}

TEST_F(CliTest, LoadThatCannotAllocateExitsFour) {
  // 2^46 F32 elements need 256 TiB, more than the 128 TiB of address space
  // a process gets by default on x86-64, whatever the overcommit setting.
  const std::string manifest = WriteManifest(R"({"safeckpt_manifest": 1, "tensors": {
    "model.embed_tokens.weight": {"dtype": "F32", "shape": [70368744177664]}}})");

  CommandResult result =
      Safeckpt("load " + ShellQuote(checkpoint_) + " --model " + ShellQuote(manifest));

  EXPECT_EQ(result.exit_code, 4) << result.err;
  EXPECT_NE(result.err.find("cannot allocate"), std::string::npos) << result.err;
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
}

TEST_F(CliTest, MissingCheckpointExitsThree) {
  CommandResult result = Safeckpt("inspect " + ShellQuote(dir_.Join("absent.safetensors")));
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find("absent.safetensors"), std::string::npos) << result.err;
}

TEST_F(CliTest, UnknownOptionExitsTwo) {
  CommandResult result = Safeckpt("inspect --no-such-option " + ShellQuote(checkpoint_));
  EXPECT_EQ(result.exit_code, 2);
}

TEST_F(CliTest, UnknownSubcommandIsNamed) {
  CommandResult result = Safeckpt("bogus");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("unknown subcommand 'bogus'"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("inspect"), std::string::npos) << result.err;
}

TEST_F(CliTest, UsageErrorIsOneLine) {
  CommandResult result = Safeckpt("inspect --format xml " + ShellQuote(checkpoint_));
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_EQ(result.err.rfind("safeckpt: error: ", 0), 0u) << result.err;
  EXPECT_NE(result.err.find("expected text or json, got 'xml'"), std::string::npos) << result.err;
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
}

TEST_F(CliTest, ThreadCountOutOfRangeExitsTwo) {
  std::string manifest = WriteManifest(kMatchingManifest);
  CommandResult result = Safeckpt("load --threads 100000 " + ShellQuote(checkpoint_) + " --model " +
                                  ShellQuote(manifest));
  EXPECT_EQ(result.exit_code, 2) << result.err;
  EXPECT_NE(result.err.find("--threads"), std::string::npos) << result.err;
}

TEST_F(CliTest, RenameWithoutReplacementExitsTwo) {
  std::string manifest = WriteManifest(kMatchingManifest);
  CommandResult result = Safeckpt("check " + ShellQuote(checkpoint_) + " --model " + ShellQuote(manifest) +
                                  " --rename '^model'");
  EXPECT_EQ(result.exit_code, 2) << result.out << result.err;
  EXPECT_NE(result.err.find("has no replacement"), std::string::npos) << result.err;
}

TEST_F(CliTest, FailedStdoutWriteExitsFour) {
  // The subshell's own redirection wins over the one RunCommand adds.
  CommandResult result = RunCommand("(" + ShellQuote(SafeckptBinary()) + " inspect " +
                                    ShellQuote(checkpoint_) + " >/dev/full)");
  EXPECT_EQ(result.exit_code, 4) << result.err;
  EXPECT_NE(result.err.find("cannot write to standard output"), std::string::npos) << result.err;
}

TEST_F(CliTest, EveryCommandExitsFourOnFailedStdout) {
  const std::string manifest = WriteManifest(kMatchingManifest);
  const std::string checkpoint = ShellQuote(checkpoint_);
  const std::vector<std::string> commands = {
      "check " + checkpoint,
      "check " + checkpoint + " --model " + ShellQuote(manifest),
      "load " + checkpoint + " --model " + ShellQuote(manifest),
      "manifest " + checkpoint,
      "compare " + checkpoint + " " + checkpoint,
      "convert " + checkpoint + " " + ShellQuote(dir_.Join("converted.safetensors")),
  };
  for (const std::string& command : commands) {
    CommandResult result =
        RunCommand("(" + ShellQuote(SafeckptBinary()) + " " + command + " >/dev/full)");
    EXPECT_EQ(result.exit_code, 4) << command << "\n" << result.err;
    EXPECT_NE(result.err.find("cannot write to standard output"), std::string::npos)
        << command << "\n" << result.err;
  }
}

TEST_F(CliTest, ManifestOutputNeverReplacesSymlink) {
  std::string target = dir_.Join("target.json");
  WriteFileBytes(target, "keep");
  std::string link = dir_.Join("link.json");
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  CommandResult result = Safeckpt("manifest " + ShellQuote(checkpoint_) + " -o " + ShellQuote(link));
  EXPECT_EQ(result.exit_code, 2) << result.err;
  EXPECT_NE(result.err.find("not a regular file"), std::string::npos) << result.err;
  EXPECT_EQ(testing::ReadFileBytes(target), "keep");
}

TEST_F(CliTest, ManifestWithOverflowingSizesIsRejected) {
  // Tensors whose sizes add up past 2^64 must not wrap into a small allocation.
  std::string manifest = WriteManifest(R"({"safeckpt_manifest": 1, "tensors": {
    "a": {"dtype": "U8", "shape": [9223372036854775807]},
    "b": {"dtype": "U8", "shape": [9223372036854775807]},
    "c": {"dtype": "U8", "shape": [9223372036854775807]},
    "model.norm.weight": {"dtype": "F32", "shape": [3]}}})");
  CommandResult result = Safeckpt("load " + ShellQuote(checkpoint_) + " --model " + ShellQuote(manifest));
  EXPECT_NE(result.exit_code, 0) << result.out;
  EXPECT_LT(result.exit_code, 128) << "crashed: " << result.err;
  EXPECT_NE(result.err.find("safeckpt: error: "), std::string::npos) << result.err;
}

TEST_F(CliTest, MissingSubcommandExitsTwo) {
  CommandResult result = Safeckpt("");
  EXPECT_EQ(result.exit_code, 2);
}

TEST_F(CliTest, CheckMatchingManifestExitsZero) {
  std::string manifest = WriteManifest(kMatchingManifest);
  CommandResult result =
      Safeckpt("check --policy strict " + ShellQuote(checkpoint_) + " --model " + ShellQuote(manifest));
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_NE(result.out.find("no data"), std::string::npos) << result.out;
}

TEST_F(CliTest, StrictPolicyRejectsMissingWithExitOne) {
  std::string manifest = WriteManifest(kManifestWithExtra);
  CommandResult strict =
      Safeckpt("check --policy strict " + ShellQuote(checkpoint_) + " --model " + ShellQuote(manifest));
  EXPECT_EQ(strict.exit_code, 1) << strict.out << strict.err;
  EXPECT_NE(strict.out.find("lm_head.weight"), std::string::npos) << strict.out;

  CommandResult lenient = Safeckpt("check " + ShellQuote(checkpoint_) + " --model " + ShellQuote(manifest));
  EXPECT_EQ(lenient.exit_code, 0) << lenient.out << lenient.err;
}

TEST_F(CliTest, InvalidManifestExitsTwo) {
  std::string manifest = WriteManifest(R"({"safeckpt_manifest": 1, "tensors": {"a": {"dtype": "F33", "shape": [1]}}})");
  CommandResult result = Safeckpt("check " + ShellQuote(checkpoint_) + " --model " + ShellQuote(manifest));
  EXPECT_EQ(result.exit_code, 2) << result.out << result.err;
  EXPECT_NE(result.err.find("F33"), std::string::npos) << result.err;
}

TEST_F(CliTest, InvalidRenamePatternExitsTwo) {
  std::string manifest = WriteManifest(kMatchingManifest);
  CommandResult result = Safeckpt("check " + ShellQuote(checkpoint_) + " --model " + ShellQuote(manifest) +
                                  " --rename '(unclosed' x");
  EXPECT_EQ(result.exit_code, 2) << result.out << result.err;
  EXPECT_NE(result.err.find("(unclosed"), std::string::npos) << result.err;
}

TEST_F(CliTest, LoadJsonReportsCountsAndChecksums) {
  std::string manifest = WriteManifest(kMatchingManifest);
  CommandResult result = Safeckpt("load --format json --checksums " + ShellQuote(checkpoint_) +
                                  " --model " + ShellQuote(manifest));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(result.out).get(root), simdjson::SUCCESS) << result.out;
  uint64_t loaded = 0;
  uint64_t converted = 0;
  ASSERT_EQ(root["counts"]["loaded"].get(loaded), simdjson::SUCCESS);
  ASSERT_EQ(root["counts"]["converted"].get(converted), simdjson::SUCCESS);
  EXPECT_EQ(loaded, 2u);
  EXPECT_EQ(converted, 2u);
  std::string_view norm_checksum;
  ASSERT_EQ(root["checksums"]["model.norm.weight"].get(norm_checksum), simdjson::SUCCESS) << result.out;
  // SHA-256 of three F32 ones (bytes 00 00 80 3f, three times).
  EXPECT_EQ(norm_checksum, "8a31a40ecac0ceb4d87b30bd156ca7a547e8e33dc071454b765fbc777d1c34a1");
}

TEST_F(CliTest, RenameOptionMapsNames) {
  std::string manifest = WriteManifest(R"({"safeckpt_manifest": 1, "tensors": {
    "backbone.embed_tokens.weight": {"dtype": "BF16", "shape": [2, 3]},
    "backbone.norm.weight": {"dtype": "BF16", "shape": [3]}}})");
  CommandResult result = Safeckpt("check --policy strict " + ShellQuote(checkpoint_) + " --model " +
                                  ShellQuote(manifest) + " --rename '^model\\.' backbone.");
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
}

TEST_F(CliTest, ManifestCommandRoundTrips) {
  std::string manifest = dir_.Join("generated.json");
  CommandResult written = Safeckpt("manifest " + ShellQuote(checkpoint_) + " -o " + ShellQuote(manifest));
  ASSERT_EQ(written.exit_code, 0) << written.err;
  CommandResult checked =
      Safeckpt("load --policy strict " + ShellQuote(checkpoint_) + " --model " + ShellQuote(manifest));
  EXPECT_EQ(checked.exit_code, 0) << checked.out << checked.err;
}

}  // namespace
}  // namespace safeckpt
