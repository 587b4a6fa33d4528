#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <string>
#include <vector>

#include "safeckpt/load_report.h"
#include "support/test_support.h"

namespace safeckpt {
namespace {

using Names = std::vector<std::string>;

bool Contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

// 42 q_proj entries on layers 1, 10 and 12-51 plus 35 shared-expert entries
// on layers 0-34: 77 names, as a hybrid MoE model reports them.
Names ExtraStateNames() {
  Names names;
  std::vector<int> layers = {1, 10};
  for (int layer = 12; layer <= 51; ++layer) layers.push_back(layer);
  for (int layer : layers) {
    names.push_back("model.layers." + std::to_string(layer) + ".mixer.q_proj._extra_state");
  }
  for (int layer = 0; layer < 35; ++layer) {
    names.push_back("model.layers." + std::to_string(layer) + ".mixer.shared_experts._extra_state");
  }
  std::sort(names.begin(), names.end());
  return names;
}

LoadReport FullReport() {
  LoadReport report;
  report.checkpoint = "/ckpt/model";
  report.policy = Policy::kStrict;
  report.data_read = true;
  report.expected_count = 6;
  report.checkpoint_count = 7;
  report.loaded = {"lm_head.weight", "model.embed_tokens.weight", "model.layers.0.w",
                   "model.layers.1.w"};
  report.missing = {"model.norm.weight"};
  report.unexpected = {"_orig_mod.extra"};
  report.shape_mismatches = {{"model.head.weight", "_orig_mod.model.head.weight", {10, 30}, {10, 20}}};
  report.conversions = {{"model.layers.0.w", DType::kBF16, DType::kF32},
                        {"model.layers.1.w", DType::kBF16, DType::kF32},
                        {"lm_head.weight", DType::kF16, DType::kF32}};
  report.bookkeeping_loaded = {"a._extra_state"};
  report.bookkeeping_kept = {"b._extra_state"};
  report.bookkeeping_ignored = {"c._extra_state"};
  report.tied = {{"lm_head.weight", "model.embed_tokens.weight"}};
  report.prefixes_stripped = {{"checkpoint", "_orig_mod."}};
  report.partial_prefixes = {{"model", "module.", 1, 6}};
  report.stale_copies = {{"model.norm.bias", "shard-2.safetensors", "shard-1.safetensors"}};
  report.warnings = {"index metadata.total_size is 1 but the tensors take 96 bytes"};
  report.rejected = true;
  report.rejection_reasons = {"strict policy: 1 tensor missing"};
  report.plan = {0, 0.0005};
  report.read = {12ull << 20, 0.010};
  report.convert = {3ull << 20, 0.002};
  report.threads = 8;
  report.checksums = {{"lm_head.weight", "ab12"}};
  return report;
}

TEST(ReportFormatTest, PolicyNamesRoundTrip) {
  for (Policy policy : {Policy::kDefault, Policy::kStrict, Policy::kSubset}) {
    std::optional<Policy> parsed = ParsePolicy(PolicyName(policy));
    ASSERT_TRUE(parsed.has_value()) << PolicyName(policy);
    EXPECT_EQ(*parsed, policy);
  }
  EXPECT_EQ(PolicyName(Policy::kSubset), "subset");
  EXPECT_FALSE(ParsePolicy("lenient").has_value());
  EXPECT_FALSE(ParsePolicy("Strict").has_value());
}

TEST(ReportFormatTest, GiBPerSecond) {
  PhaseStats phase{12ull << 20, 0.010};
  EXPECT_DOUBLE_EQ(phase.GiBPerSecond(), 1.171875);
  EXPECT_EQ((PhaseStats{100, 0}).GiBPerSecond(), 0);
}

TEST(ReportFormatTest, TextHeaderNamesCheckpointPolicyAndResult) {
  std::string text = FormatReportText(FullReport());
  EXPECT_EQ(text.substr(0, text.find('\n')),
            "checkpoint: /ckpt/model  policy: strict  result: rejected");

  LoadReport accepted;
  accepted.checkpoint = "x.safetensors";
  EXPECT_TRUE(Contains(FormatReportText(accepted), "policy: default  result: accepted"));
}

TEST(ReportFormatTest, TextCountTable) {
  std::string text = FormatReportText(FullReport());
  EXPECT_TRUE(Contains(text, "  expected tensors            6\n")) << text;
  EXPECT_TRUE(Contains(text, "  checkpoint tensors          7\n")) << text;
  EXPECT_TRUE(Contains(text, "  loaded                      4\n")) << text;
  EXPECT_TRUE(Contains(text, "  missing                     1\n")) << text;
  EXPECT_TRUE(Contains(text, "  unexpected                  1\n")) << text;
  EXPECT_TRUE(Contains(text, "  shape mismatch              1\n")) << text;
  EXPECT_TRUE(Contains(text, "  converted                   3  (F16 -> F32: 1, BF16 -> F32: 2)\n"))
      << text;
  EXPECT_TRUE(Contains(text, "  bookkeeping loaded          1\n")) << text;
  EXPECT_TRUE(Contains(text, "  bookkeeping kept            1  (kept current module state)\n"))
      << text;
  EXPECT_TRUE(Contains(text, "  bookkeeping ignored         1  (ignored)\n")) << text;
  EXPECT_TRUE(Contains(text, "  tied                        1\n")) << text;
}

TEST(ReportFormatTest, TextListsGroupedNames) {
  std::string text = FormatReportText(FullReport());
  EXPECT_TRUE(Contains(text, "loaded (4):\n  lm_head.weight\n  model.embed_tokens.weight\n"
                             "  model.layers.{0-1}.w\n"))
      << text;
  EXPECT_TRUE(Contains(text, "missing (1):\n  model.norm.weight\n")) << text;
  EXPECT_TRUE(Contains(text, "unexpected (1):\n  _orig_mod.extra\n")) << text;
  EXPECT_TRUE(Contains(text, "converted BF16 -> F32 (2):\n  model.layers.{0-1}.w\n")) << text;
}

TEST(ReportFormatTest, TextSummarizesConversionOfEveryLoadedTensor) {
  LoadReport report;
  report.loaded = {"a.weight", "b.bias"};
  report.conversions = {{"a.weight", DType::kBF16, DType::kF32}, {"b.bias", DType::kBF16, DType::kF32}};
  std::string text = FormatReportText(report);
  EXPECT_TRUE(Contains(text, "converted BF16 -> F32: every loaded tensor (2)\n")) << text;
  EXPECT_FALSE(Contains(text, "converted BF16 -> F32 (2):")) << text;
}

TEST(ReportFormatTest, TextEscapesControlCharactersInNames) {
  LoadReport report;
  report.unexpected = {"evil\nsafeckpt: error: fake", "bell\x07name"};
  std::string text = FormatReportText(report);
  EXPECT_FALSE(Contains(text, "\nsafeckpt: error: fake")) << text;
  EXPECT_TRUE(Contains(text, "evil\\x0asafeckpt: error: fake")) << text;
  EXPECT_TRUE(Contains(text, "bell\\x07name")) << text;
}

TEST(ReportFormatTest, TextShowsDetails) {
  std::string text = FormatReportText(FullReport());
  EXPECT_TRUE(Contains(text, "model.head.weight: model [10, 30], checkpoint [10, 20] "
                             "(checkpoint name '_orig_mod.model.head.weight')"))
      << text;
  EXPECT_TRUE(Contains(text, "lm_head.weight loaded from 'model.embed_tokens.weight'")) << text;
  EXPECT_TRUE(Contains(text, "'_orig_mod.' from every checkpoint name")) << text;
  EXPECT_TRUE(Contains(text, "'module.' on 1 of 6 model names")) << text;
  EXPECT_TRUE(Contains(text, "'model.norm.bias': unused copy in shard-2.safetensors; the index "
                             "maps it to shard-1.safetensors"))
      << text;
  EXPECT_TRUE(Contains(text, "warnings:\n  index metadata.total_size is 1")) << text;
  EXPECT_TRUE(Contains(text, "rejected because:\n  strict policy: 1 tensor missing\n")) << text;
  EXPECT_TRUE(Contains(text, "ab12 lm_head.weight")) << text;
}

TEST(ReportFormatTest, TextShowsPhasesAfterRead) {
  std::string text = FormatReportText(FullReport());
  EXPECT_TRUE(Contains(text, "  read 12.0 MiB in 0.010 s (1.17 GiB/s)\n")) << text;
  EXPECT_TRUE(Contains(text, "  convert 3.0 MiB in 0.002 s (1.46 GiB/s)\n")) << text;
  EXPECT_TRUE(Contains(text, "  plan 0 B in 0.001 s (0.00 GiB/s)\n")) << text;
  EXPECT_TRUE(Contains(text, "  threads: 8\n")) << text;
  EXPECT_FALSE(Contains(text, "no data was read")) << text;
}

TEST(ReportFormatTest, TextSaysWhenNoDataWasRead) {
  LoadReport report = FullReport();
  report.data_read = false;
  std::string text = FormatReportText(report);
  EXPECT_TRUE(Contains(text, "no data was read")) << text;
  EXPECT_FALSE(Contains(text, "GiB/s")) << text;
}

TEST(ReportFormatTest, TextGroupsExtraStateNames) {
  LoadReport report;
  report.bookkeeping_kept = ExtraStateNames();
  ASSERT_EQ(report.bookkeeping_kept.size(), 77u);
  std::string text = FormatReportText(report);

  EXPECT_TRUE(Contains(text, "bookkeeping kept (77, kept current module state):\n"
                             "  model.layers.{0-34}.mixer.shared_experts._extra_state\n"
                             "  model.layers.{1,10,12-51}.mixer.q_proj._extra_state\n"))
      << text;
  EXPECT_FALSE(Contains(text, "model.layers.13.")) << text;
}

TEST(ReportFormatTest, TextCapsLongLists) {
  LoadReport report;
  // Names that differ in two components never share a line.
  for (char letter = 'a'; letter <= 'z'; ++letter) {
    report.missing.push_back(std::string(1, letter) + "." + std::string(1, letter));
  }
  std::string text = FormatReportText(report);
  EXPECT_TRUE(Contains(text, "  t.t\n")) << text;
  EXPECT_FALSE(Contains(text, "  u.u\n")) << text;
  EXPECT_TRUE(Contains(text, "  ... 6 more lines; --format json lists every name\n")) << text;
}

// Parses `json` and returns the root object. Invalid JSON fails the test.
simdjson::dom::object ParseObject(simdjson::dom::parser& parser, const std::string& json) {
  simdjson::dom::object root;
  simdjson::error_code error = parser.parse(json).get(root);
  EXPECT_EQ(error, simdjson::SUCCESS) << simdjson::error_message(error) << "\n" << json;
  return root;
}

Names StringList(simdjson::dom::object root, std::string_view key) {
  Names values;
  simdjson::dom::array array;
  EXPECT_EQ(root[key].get_array().get(array), simdjson::SUCCESS) << key;
  for (simdjson::dom::element value : array) values.emplace_back(std::string_view(value.get_string().value_unsafe()));
  return values;
}

TEST(ReportFormatTest, JsonHasTopLevelFields) {
  simdjson::dom::parser parser;
  simdjson::dom::object root = ParseObject(parser, FormatReportJson(FullReport()));
  std::string_view checkpoint;
  ASSERT_EQ(root["checkpoint"].get_string().get(checkpoint), simdjson::SUCCESS);
  EXPECT_EQ(checkpoint, "/ckpt/model");
  std::string_view policy;
  ASSERT_EQ(root["policy"].get_string().get(policy), simdjson::SUCCESS);
  EXPECT_EQ(policy, "strict");
  bool data_read = false;
  ASSERT_EQ(root["data_read"].get_bool().get(data_read), simdjson::SUCCESS);
  EXPECT_TRUE(data_read);
  bool accepted = true;
  ASSERT_EQ(root["accepted"].get_bool().get(accepted), simdjson::SUCCESS);
  EXPECT_FALSE(accepted);
  EXPECT_EQ(StringList(root, "rejection_reasons"), Names{"strict policy: 1 tensor missing"});
  uint64_t threads = 0;
  ASSERT_EQ(root["threads"].get_uint64().get(threads), simdjson::SUCCESS);
  EXPECT_EQ(threads, 8u);
}

TEST(ReportFormatTest, JsonHasEveryCount) {
  simdjson::dom::parser parser;
  simdjson::dom::object root = ParseObject(parser, FormatReportJson(FullReport()));
  simdjson::dom::object counts;
  ASSERT_EQ(root["counts"].get_object().get(counts), simdjson::SUCCESS);
  const std::pair<const char*, uint64_t> expected[] = {
      {"expected", 6}, {"checkpoint", 7}, {"loaded", 4}, {"missing", 1}, {"unexpected", 1},
      {"shape_mismatch", 1}, {"converted", 3}, {"bookkeeping_loaded", 1},
      {"bookkeeping_kept", 1}, {"bookkeeping_ignored", 1}, {"tied", 1}};
  for (const auto& [key, value] : expected) {
    uint64_t count = 0;
    ASSERT_EQ(counts[key].get_uint64().get(count), simdjson::SUCCESS) << key;
    EXPECT_EQ(count, value) << key;
  }
  EXPECT_EQ(counts.size(), std::size(expected));
}

TEST(ReportFormatTest, JsonListsEveryName) {
  LoadReport report = FullReport();
  report.bookkeeping_kept = ExtraStateNames();
  simdjson::dom::parser parser;
  simdjson::dom::object root = ParseObject(parser, FormatReportJson(report));

  EXPECT_EQ(StringList(root, "loaded"), report.loaded);
  EXPECT_EQ(StringList(root, "missing"), report.missing);
  EXPECT_EQ(StringList(root, "unexpected"), report.unexpected);
  EXPECT_EQ(StringList(root, "bookkeeping_loaded"), report.bookkeeping_loaded);
  EXPECT_EQ(StringList(root, "bookkeeping_kept"), report.bookkeeping_kept);
  EXPECT_EQ(StringList(root, "bookkeeping_ignored"), report.bookkeeping_ignored);
  EXPECT_EQ(StringList(root, "warnings"), report.warnings);
}

TEST(ReportFormatTest, JsonDescribesEntries) {
  simdjson::dom::parser parser;
  simdjson::dom::object root = ParseObject(parser, FormatReportJson(FullReport()));

  simdjson::dom::element mismatch = root["shape_mismatch"].at(0);
  EXPECT_EQ(simdjson::to_string(mismatch),
            R"({"name":"model.head.weight","checkpoint_name":"_orig_mod.model.head.weight",)"
            R"("expected":[10,30],"found":[10,20]})");
  EXPECT_EQ(simdjson::to_string(root["converted"].at(2)),
            R"({"name":"lm_head.weight","from":"F16","to":"F32"})");
  EXPECT_EQ(simdjson::to_string(root["tied"]),
            R"([{"name":"lm_head.weight","source":"model.embed_tokens.weight"}])");
  EXPECT_EQ(simdjson::to_string(root["prefixes_stripped"]),
            R"([{"side":"checkpoint","prefix":"_orig_mod."}])");
  EXPECT_EQ(simdjson::to_string(root["partial_prefixes"]),
            R"([{"side":"model","prefix":"module.","with_prefix":1,"total":6}])");
  EXPECT_EQ(simdjson::to_string(root["stale_copies"]),
            R"([{"tensor":"model.norm.bias","file":"shard-2.safetensors",)"
            R"("index_file":"shard-1.safetensors"}])");
  EXPECT_EQ(simdjson::to_string(root["checksums"]), R"({"lm_head.weight":"ab12"})");
}

TEST(ReportFormatTest, JsonHasPhases) {
  simdjson::dom::parser parser;
  simdjson::dom::object root = ParseObject(parser, FormatReportJson(FullReport()));
  for (const char* phase : {"plan", "read", "convert"}) {
    simdjson::dom::object stats;
    ASSERT_EQ(root["phases"][phase].get_object().get(stats), simdjson::SUCCESS) << phase;
    EXPECT_EQ(stats.size(), 3u) << phase;
  }
  uint64_t bytes = 0;
  ASSERT_EQ(root["phases"]["read"]["bytes"].get_uint64().get(bytes), simdjson::SUCCESS);
  EXPECT_EQ(bytes, 12ull << 20);
  double rate = 0;
  ASSERT_EQ(root["phases"]["read"]["gib_per_second"].get_double().get(rate), simdjson::SUCCESS);
  EXPECT_NEAR(rate, 1.171875, 1e-5);
}

TEST(ReportFormatTest, JsonOmitsEmptyChecksums) {
  LoadReport report;
  simdjson::dom::parser parser;
  simdjson::dom::object root = ParseObject(parser, FormatReportJson(report));
  simdjson::dom::element checksums;
  EXPECT_EQ(root["checksums"].get(checksums), simdjson::NO_SUCH_FIELD);
  EXPECT_TRUE(StringList(root, "loaded").empty());
}

TEST(ReportFormatTest, JsonEscapesNames) {
  LoadReport report;
  report.missing = {"odd \"name\"\n\\"};
  simdjson::dom::parser parser;
  simdjson::dom::object root = ParseObject(parser, FormatReportJson(report));
  EXPECT_EQ(StringList(root, "missing"), report.missing);
}

}  // namespace
}  // namespace safeckpt
