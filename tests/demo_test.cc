// The main job end to end: generate the demo checkpoint and manifest, load
// one into the other and check the report.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <filesystem>
#include <string>

#include "support/test_support.h"

namespace safeckpt {
namespace {

using testing::CommandResult;
using testing::RunCommand;
using testing::ShellQuote;
using testing::TempDir;

std::string Binary(const std::string& name) {
  return (std::filesystem::path(SAFECKPT_BINARY_DIR) / name).string();
}

class DemoTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    CommandResult made = RunCommand(ShellQuote(Binary("safeckpt-make-demo")) + " " + ShellQuote(dir_->path()));
    ASSERT_EQ(made.exit_code, 0) << made.err;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  static CommandResult Load(const std::string& extra) {
    return RunCommand(ShellQuote(Binary("safeckpt")) + " load " + ShellQuote(dir_->Join("checkpoint")) +
                      " --model " + ShellQuote(dir_->Join("manifest.json")) + " " + extra);
  }

  static TempDir* dir_;
};

TempDir* DemoTest::dir_ = nullptr;

uint64_t Count(simdjson::dom::element root, const char* key) {
  uint64_t value = ~0ull;
  EXPECT_EQ(root["counts"][key].get(value), simdjson::SUCCESS) << key;
  return value;
}

TEST_F(DemoTest, LoadsEveryWeightAndKeepsBookkeeping) {
  CommandResult result = Load("--format json --policy strict");
  ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(result.out).get(root), simdjson::SUCCESS) << result.out;

  EXPECT_EQ(Count(root, "checkpoint"), 723u);
  EXPECT_EQ(Count(root, "expected"), 800u);
  EXPECT_EQ(Count(root, "loaded"), 723u);
  EXPECT_EQ(Count(root, "converted"), 723u);
  EXPECT_EQ(Count(root, "missing"), 0u);
  EXPECT_EQ(Count(root, "unexpected"), 0u);
  EXPECT_EQ(Count(root, "shape_mismatch"), 0u);
  EXPECT_EQ(Count(root, "bookkeeping_kept"), 77u);
  EXPECT_EQ(Count(root, "bookkeeping_loaded"), 0u);
  EXPECT_EQ(Count(root, "bookkeeping_ignored"), 0u);
  EXPECT_EQ(Count(root, "tied"), 0u);
}

TEST_F(DemoTest, TextReportGroupsBookkeepingNames) {
  CommandResult result = Load("");
  ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_NE(result.out.find("kept current module state"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("model.layers.{"), std::string::npos) << result.out;
  // 77 names fold into a handful of lines: no line lists a single layer's
  // shared expert on its own.
  EXPECT_EQ(result.out.find("model.layers.1.mixer.shared_experts.up_proj._extra_state\n"),
            std::string::npos)
      << result.out;
  EXPECT_NE(result.out.find("BF16 -> F32"), std::string::npos) << result.out;
}

TEST_F(DemoTest, LoadWithOneThreadMatchesManyThreads) {
  CommandResult one = Load("--format json --checksums --threads 1");
  CommandResult many = Load("--format json --checksums --threads 4");
  ASSERT_EQ(one.exit_code, 0) << one.err;
  ASSERT_EQ(many.exit_code, 0) << many.err;
  simdjson::dom::parser parser_one;
  simdjson::dom::parser parser_many;
  simdjson::dom::element root_one;
  simdjson::dom::element root_many;
  ASSERT_EQ(parser_one.parse(one.out).get(root_one), simdjson::SUCCESS);
  ASSERT_EQ(parser_many.parse(many.out).get(root_many), simdjson::SUCCESS);
  simdjson::dom::object sums_one;
  simdjson::dom::object sums_many;
  ASSERT_EQ(root_one["checksums"].get(sums_one), simdjson::SUCCESS);
  ASSERT_EQ(root_many["checksums"].get(sums_many), simdjson::SUCCESS);
  EXPECT_EQ(sums_one.size(), 723u);
  for (auto [name, value] : sums_one) {
    std::string_view expected;
    std::string_view actual;
    ASSERT_EQ(value.get(expected), simdjson::SUCCESS);
    ASSERT_EQ(sums_many[name].get(actual), simdjson::SUCCESS) << name;
    EXPECT_EQ(expected, actual) << name;
  }
}

TEST_F(DemoTest, MissingWeightStandsOutUnderStrict) {
  // A model that calls its final norm differently: one weight is missing and
  // one unexpected, and they must stand out among the 77 bookkeeping entries.
  std::string manifest = testing::ReadFileBytes(dir_->Join("manifest.json"));
  const std::string old_name = "\"model.norm.weight\"";
  size_t at = manifest.find(old_name);
  ASSERT_NE(at, std::string::npos);
  manifest.replace(at, old_name.size(), "\"model.final_norm.weight\"");
  std::string path = dir_->Join("manifest-renamed-norm.json");
  testing::WriteFileBytes(path, manifest);

  CommandResult result = RunCommand(ShellQuote(Binary("safeckpt")) + " check --policy strict " +
                                    ShellQuote(dir_->Join("checkpoint")) + " --model " + ShellQuote(path));
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  EXPECT_NE(result.out.find("model.final_norm.weight"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("backbone.norm_f.weight"), std::string::npos) << result.out;
}

}  // namespace
}  // namespace safeckpt
