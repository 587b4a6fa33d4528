#include "load/reconcile.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "safeckpt/manifest.h"
#include "safeckpt/writer.h"
#include "support/test_support.h"

namespace safeckpt::internal {
namespace {

using testing::TempDir;
using Names = std::vector<std::string>;

struct TensorSpec {
  std::string name;
  DType dtype = DType::kF32;
  Shape shape = {2};
};

ExpectedTensor Expected(std::string name, DType dtype = DType::kF32, Shape shape = {2},
                        TensorRole role = TensorRole::kParameter, std::string tied_to = "") {
  ExpectedTensor tensor;
  tensor.name = std::move(name);
  tensor.dtype = dtype;
  tensor.shape = std::move(shape);
  tensor.role = role;
  tensor.tied_to = std::move(tied_to);
  return tensor;
}

// Writes safetensors files of zeros into a temporary directory and opens
// them as checkpoints.
class ReconcileTest : public ::testing::Test {
 protected:
  // Writes one file named `file_name` holding `tensors`.
  void WriteFile(const std::string& file_name, const std::vector<TensorSpec>& tensors) {
    std::vector<TensorToWrite> to_write;
    for (const TensorSpec& spec : tensors) {
      buffers_.emplace_back(ByteSize(spec.dtype, spec.shape).value_or(0), 0);
      to_write.push_back({spec.name, spec.dtype, spec.shape, buffers_.back().data()});
    }
    Status written = WriteSafetensors(dir_.Join(file_name), to_write);
    ASSERT_TRUE(written.ok()) << written.ToString();
  }

  Checkpoint OpenPath(const std::string& path) {
    Result<Checkpoint> checkpoint = Checkpoint::Open(path);
    EXPECT_TRUE(checkpoint.ok()) << checkpoint.status().ToString();
    return std::move(checkpoint).value();
  }

  Checkpoint Open(const std::vector<TensorSpec>& tensors) {
    WriteFile("model.safetensors", tensors);
    return OpenPath(dir_.Join("model.safetensors"));
  }

  static ModelState Model(std::vector<ExpectedTensor> tensors) {
    ModelState model;
    for (ExpectedTensor& tensor : tensors) {
      Status added = model.Add(std::move(tensor));
      EXPECT_TRUE(added.ok()) << added.ToString();
    }
    return model;
  }

  static Result<Reconciliation> Run(const Checkpoint& checkpoint, const ModelState& model,
                                    const KeyRules& rules = {}, Policy policy = Policy::kDefault) {
    Result<CompiledKeyRules> compiled = CompiledKeyRules::Compile(rules);
    if (!compiled.ok()) return compiled.status();
    return Reconcile(checkpoint, model, *compiled, policy);
  }

  static LoadReport RunReport(const Checkpoint& checkpoint, const ModelState& model,
                              const KeyRules& rules = {}, Policy policy = Policy::kDefault) {
    Result<Reconciliation> result = Run(checkpoint, model, rules, policy);
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    return result.ok() ? result->report : LoadReport{};
  }

  TempDir dir_;
  std::vector<std::vector<uint8_t>> buffers_;
};

KeyRules RenameRules(std::vector<RenameRule> renames) {
  KeyRules rules;
  rules.renames = std::move(renames);
  return rules;
}

// --- Matching -----------------------------------------------------------------

TEST_F(ReconcileTest, ExactMatchLoadsEveryTensor) {
  Checkpoint checkpoint = Open({{"b.weight"}, {"a.weight"}});
  ModelState model = Model({Expected("b.weight"), Expected("a.weight")});
  Result<Reconciliation> result = Run(checkpoint, model);
  ASSERT_TRUE(result.ok()) << result.status().ToString();

  const LoadReport& report = result->report;
  EXPECT_EQ(report.loaded, (Names{"a.weight", "b.weight"}));
  EXPECT_TRUE(report.missing.empty());
  EXPECT_TRUE(report.unexpected.empty());
  EXPECT_EQ(report.expected_count, 2u);
  EXPECT_EQ(report.checkpoint_count, 2u);
  EXPECT_EQ(report.checkpoint, checkpoint.path());
  EXPECT_FALSE(report.rejected);

  ASSERT_EQ(result->matches.size(), 2u);
  EXPECT_EQ(model.tensors()[result->matches[0].expected].name, "a.weight");
  EXPECT_EQ(checkpoint.tensors()[result->matches[0].source].name, "a.weight");
  EXPECT_EQ(model.tensors()[result->matches[1].expected].name, "b.weight");
  EXPECT_EQ(checkpoint.tensors()[result->matches[1].source].name, "b.weight");
  EXPECT_FALSE(result->matches[0].bookkeeping);
}

TEST_F(ReconcileTest, AbsentTensorsAreMissingOrUnexpected) {
  Checkpoint checkpoint = Open({{"shared"}, {"old.bias"}, {"old.weight"}});
  ModelState model = Model({Expected("shared"), Expected("new.weight")});
  LoadReport report = RunReport(checkpoint, model);
  EXPECT_EQ(report.loaded, Names{"shared"});
  EXPECT_EQ(report.missing, Names{"new.weight"});
  EXPECT_EQ(report.unexpected, (Names{"old.bias", "old.weight"}));
}

TEST_F(ReconcileTest, ShapeMismatchIsNeitherLoadedNorMissing) {
  Checkpoint checkpoint = Open({{"w", DType::kF32, {4, 2}}});
  ModelState model = Model({Expected("w", DType::kF32, {2, 4})});
  Result<Reconciliation> result = Run(checkpoint, model);
  ASSERT_TRUE(result.ok()) << result.status().ToString();

  const LoadReport& report = result->report;
  ASSERT_EQ(report.shape_mismatches.size(), 1u);
  EXPECT_EQ(report.shape_mismatches[0].name, "w");
  EXPECT_EQ(report.shape_mismatches[0].checkpoint_name, "w");
  EXPECT_EQ(report.shape_mismatches[0].expected, (Shape{2, 4}));
  EXPECT_EQ(report.shape_mismatches[0].found, (Shape{4, 2}));
  EXPECT_TRUE(report.loaded.empty());
  EXPECT_TRUE(report.missing.empty());
  EXPECT_TRUE(report.unexpected.empty());
  EXPECT_TRUE(result->matches.empty());
}

TEST_F(ReconcileTest, DtypeConversionIsListed) {
  Checkpoint checkpoint = Open({{"w", DType::kBF16, {2}}, {"v", DType::kF32, {2}}});
  ModelState model = Model({Expected("w", DType::kF32), Expected("v", DType::kF32)});
  LoadReport report = RunReport(checkpoint, model);
  EXPECT_EQ(report.loaded, (Names{"v", "w"}));
  ASSERT_EQ(report.conversions.size(), 1u);
  EXPECT_EQ(report.conversions[0].name, "w");
  EXPECT_EQ(report.conversions[0].from, DType::kBF16);
  EXPECT_EQ(report.conversions[0].to, DType::kF32);
}

// --- Renames ------------------------------------------------------------------

TEST_F(ReconcileTest, RenameMapsCheckpointNames) {
  Checkpoint checkpoint = Open({{"backbone.layer.0.w"}, {"backbone.norm"}});
  ModelState model = Model({Expected("model.layers.0.w"), Expected("other.norm")});
  KeyRules rules = RenameRules({{R"(^backbone\.layer\.(\d+)\.)", R"(model.layers.\1.)"},
                                {R"(^backbone\.)", "other."}});
  LoadReport report = RunReport(checkpoint, model, rules);
  EXPECT_EQ(report.loaded, (Names{"model.layers.0.w", "other.norm"}));
  EXPECT_TRUE(report.unexpected.empty());
}

TEST_F(ReconcileTest, FirstMatchingRenameWins) {
  Checkpoint checkpoint = Open({{"backbone.layer.0.w"}});
  ModelState model = Model({Expected("model.layers.0.w"), Expected("other.layer.0.w")});
  KeyRules rules = RenameRules({{R"(^backbone\.layer\.(\d+)\.)", R"(model.layers.\1.)"},
                                {R"(^backbone\.)", "other."}});
  LoadReport report = RunReport(checkpoint, model, rules);
  EXPECT_EQ(report.loaded, Names{"model.layers.0.w"});
  EXPECT_EQ(report.missing, Names{"other.layer.0.w"});
}

TEST_F(ReconcileTest, UnexpectedKeepsCheckpointName) {
  Checkpoint checkpoint = Open({{"backbone.extra"}});
  ModelState model = Model({Expected("model.w")});
  LoadReport report = RunReport(checkpoint, model, RenameRules({{R"(^backbone\.)", "model."}}));
  EXPECT_EQ(report.unexpected, Names{"backbone.extra"});
}

TEST_F(ReconcileTest, RenameCollisionIsRejected) {
  Checkpoint checkpoint = Open({{"encoder.w"}, {"decoder.w"}});
  ModelState model = Model({Expected("w")});
  Result<Reconciliation> result =
      Run(checkpoint, model, RenameRules({{R"(^(encoder|decoder)\.)", ""}}));
  EXPECT_ERROR(result, ErrorId::kRuleInvalid, "'decoder.w'");
  EXPECT_ERROR(result, ErrorId::kRuleInvalid, "'encoder.w'");
  EXPECT_ERROR(result, ErrorId::kRuleInvalid, "to the same name 'w'");
  EXPECT_ERROR(result, ErrorId::kRuleInvalid, R"('^(encoder|decoder)\.')");
}

TEST_F(ReconcileTest, RenameOntoExistingNameIsRejected) {
  Checkpoint checkpoint = Open({{"gamma"}, {"weight"}});
  ModelState model = Model({Expected("weight")});
  Result<Reconciliation> result = Run(checkpoint, model, RenameRules({{"^gamma$", "weight"}}));
  EXPECT_ERROR(result, ErrorId::kRuleInvalid, "'weight' (not renamed)");
  EXPECT_ERROR(result, ErrorId::kRuleInvalid, "'gamma' (rename 0: '^gamma$' -> 'weight')");
}

// --- Wrapper prefixes ---------------------------------------------------------

TEST_F(ReconcileTest, AnchoredRenameSeesPastWrapperPrefix) {
  Checkpoint checkpoint = Open({{"_orig_mod.backbone.a"}, {"_orig_mod.backbone.b"}});
  ModelState model = Model({Expected("model.a"), Expected("model.b")});
  LoadReport report = RunReport(checkpoint, model, RenameRules({{R"(^backbone\.)", "model."}}));
  EXPECT_EQ(report.loaded, (Names{"model.a", "model.b"}));
  EXPECT_TRUE(report.unexpected.empty());
  ASSERT_EQ(report.prefixes_stripped.size(), 1u);
  EXPECT_EQ(report.prefixes_stripped[0].prefix, "_orig_mod.");
}

TEST_F(ReconcileTest, RenameMatchingWrapperPrefixItselfWins) {
  Checkpoint checkpoint = Open({{"module.a"}});
  ModelState model = Model({Expected("wrapped.a")});
  LoadReport report = RunReport(checkpoint, model, RenameRules({{R"(^module\.)", "wrapped."}}));
  EXPECT_EQ(report.loaded, Names{"wrapped.a"});
}

TEST_F(ReconcileTest, CheckpointPrefixIsStripped) {
  Checkpoint checkpoint = Open({{"_orig_mod.a"}, {"_orig_mod.b"}, {"_orig_mod.extra"}});
  ModelState model = Model({Expected("a"), Expected("b")});
  LoadReport report = RunReport(checkpoint, model);
  ASSERT_EQ(report.prefixes_stripped.size(), 1u);
  EXPECT_EQ(report.prefixes_stripped[0].side, "checkpoint");
  EXPECT_EQ(report.prefixes_stripped[0].prefix, "_orig_mod.");
  EXPECT_EQ(report.loaded, (Names{"a", "b"}));
  EXPECT_EQ(report.unexpected, Names{"_orig_mod.extra"});
  EXPECT_TRUE(report.partial_prefixes.empty());
}

TEST_F(ReconcileTest, ModelPrefixIsStripped) {
  Checkpoint checkpoint = Open({{"a"}, {"b"}});
  ModelState model = Model({Expected("module.a"), Expected("module.b"), Expected("module.c")});
  LoadReport report = RunReport(checkpoint, model);
  ASSERT_EQ(report.prefixes_stripped.size(), 1u);
  EXPECT_EQ(report.prefixes_stripped[0].side, "model");
  EXPECT_EQ(report.prefixes_stripped[0].prefix, "module.");
  EXPECT_EQ(report.loaded, (Names{"module.a", "module.b"}));
  EXPECT_EQ(report.missing, Names{"module.c"});
}

TEST_F(ReconcileTest, NestedPrefixIsStripped) {
  Checkpoint checkpoint = Open({{"module._orig_mod.a"}, {"module._orig_mod.b"}});
  ModelState model = Model({Expected("a"), Expected("b")});
  LoadReport report = RunReport(checkpoint, model);
  ASSERT_EQ(report.prefixes_stripped.size(), 1u);
  EXPECT_EQ(report.prefixes_stripped[0].side, "checkpoint");
  EXPECT_EQ(report.prefixes_stripped[0].prefix, "module._orig_mod.");
  EXPECT_EQ(report.loaded, (Names{"a", "b"}));
}

TEST_F(ReconcileTest, InnerPrefixStrippedToMatchModel) {
  Checkpoint checkpoint = Open({{"module._orig_mod.a"}, {"module._orig_mod.b"}});
  ModelState model = Model({Expected("_orig_mod.a"), Expected("_orig_mod.b")});
  LoadReport report = RunReport(checkpoint, model);
  ASSERT_EQ(report.prefixes_stripped.size(), 1u);
  EXPECT_EQ(report.prefixes_stripped[0].side, "checkpoint");
  EXPECT_EQ(report.prefixes_stripped[0].prefix, "module.");
  EXPECT_EQ(report.loaded, (Names{"_orig_mod.a", "_orig_mod.b"}));
}

TEST_F(ReconcileTest, SharedPrefixIsNotStripped) {
  Checkpoint checkpoint = Open({{"module.a"}, {"module.b"}});
  ModelState model = Model({Expected("module.a"), Expected("module.b")});
  LoadReport report = RunReport(checkpoint, model);
  EXPECT_TRUE(report.prefixes_stripped.empty());
  EXPECT_EQ(report.loaded, (Names{"module.a", "module.b"}));
}

TEST_F(ReconcileTest, PrefixIsNotStrippedWithoutGain) {
  Checkpoint checkpoint = Open({{"module.x"}, {"module.y"}});
  ModelState model = Model({Expected("a")});
  LoadReport report = RunReport(checkpoint, model);
  EXPECT_TRUE(report.prefixes_stripped.empty());
  EXPECT_EQ(report.unexpected, (Names{"module.x", "module.y"}));
}

TEST_F(ReconcileTest, PartialPrefixIsReportedNotStripped) {
  Checkpoint checkpoint = Open({{"module.a"}, {"b"}, {"c"}});
  ModelState model = Model({Expected("a"), Expected("b"), Expected("c")});
  LoadReport report = RunReport(checkpoint, model);
  EXPECT_TRUE(report.prefixes_stripped.empty());
  ASSERT_EQ(report.partial_prefixes.size(), 1u);
  EXPECT_EQ(report.partial_prefixes[0].side, "checkpoint");
  EXPECT_EQ(report.partial_prefixes[0].prefix, "module.");
  EXPECT_EQ(report.partial_prefixes[0].with_prefix, 1u);
  EXPECT_EQ(report.partial_prefixes[0].total, 3u);
  EXPECT_EQ(report.missing, Names{"a"});
  EXPECT_EQ(report.unexpected, Names{"module.a"});
}

TEST_F(ReconcileTest, PartialPrefixOnModelSideIsReported) {
  Checkpoint checkpoint = Open({{"a"}, {"b"}});
  ModelState model = Model({Expected("_orig_mod.a"), Expected("b")});
  LoadReport report = RunReport(checkpoint, model);
  ASSERT_EQ(report.partial_prefixes.size(), 1u);
  EXPECT_EQ(report.partial_prefixes[0].side, "model");
  EXPECT_EQ(report.partial_prefixes[0].prefix, "_orig_mod.");
  EXPECT_EQ(report.partial_prefixes[0].with_prefix, 1u);
  EXPECT_EQ(report.partial_prefixes[0].total, 2u);
}

// --- Tied tensors -------------------------------------------------------------

ModelState TiedModel(std::string prefix = "") {
  ModelState model;
  EXPECT_TRUE(model.Add(Expected(prefix + "model.embed_tokens.weight", DType::kF32, {4, 2})).ok());
  EXPECT_TRUE(model.Add(Expected(prefix + "lm_head.weight", DType::kF32, {4, 2},
                                 TensorRole::kParameter, prefix + "model.embed_tokens.weight"))
                  .ok());
  return model;
}

TEST_F(ReconcileTest, TiedTensorLoadsFromEmbedding) {
  Checkpoint checkpoint = Open({{"model.embed_tokens.weight", DType::kF32, {4, 2}}});
  ModelState model = TiedModel();
  Result<Reconciliation> result = Run(checkpoint, model);
  ASSERT_TRUE(result.ok()) << result.status().ToString();

  const LoadReport& report = result->report;
  EXPECT_EQ(report.loaded, (Names{"lm_head.weight", "model.embed_tokens.weight"}));
  EXPECT_TRUE(report.missing.empty());
  EXPECT_TRUE(report.unexpected.empty());
  ASSERT_EQ(report.tied.size(), 1u);
  EXPECT_EQ(report.tied[0].name, "lm_head.weight");
  EXPECT_EQ(report.tied[0].source, "model.embed_tokens.weight");
  ASSERT_EQ(result->matches.size(), 2u);
  EXPECT_EQ(result->matches[0].source, result->matches[1].source);
}

TEST_F(ReconcileTest, EmbeddingLoadsFromTiedTensor) {
  Checkpoint checkpoint = Open({{"lm_head.weight", DType::kF32, {4, 2}}});
  ModelState model = TiedModel();
  LoadReport report = RunReport(checkpoint, model);
  EXPECT_EQ(report.loaded, (Names{"lm_head.weight", "model.embed_tokens.weight"}));
  EXPECT_TRUE(report.missing.empty());
  ASSERT_EQ(report.tied.size(), 1u);
  EXPECT_EQ(report.tied[0].name, "model.embed_tokens.weight");
  EXPECT_EQ(report.tied[0].source, "lm_head.weight");
}

TEST_F(ReconcileTest, BothTiedTensorsPresentLoadSeparately) {
  Checkpoint checkpoint = Open({{"lm_head.weight", DType::kF32, {4, 2}},
                                {"model.embed_tokens.weight", DType::kF32, {4, 2}}});
  ModelState model = TiedModel();
  Result<Reconciliation> result = Run(checkpoint, model);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->report.loaded, (Names{"lm_head.weight", "model.embed_tokens.weight"}));
  EXPECT_TRUE(result->report.tied.empty());
  ASSERT_EQ(result->matches.size(), 2u);
  EXPECT_NE(result->matches[0].source, result->matches[1].source);
}

TEST_F(ReconcileTest, TiedTensorAndSourceBothAbsentAreMissing) {
  Checkpoint checkpoint = Open({{"model.norm.weight"}});
  ModelState model = TiedModel();
  LoadReport report = RunReport(checkpoint, model);
  EXPECT_EQ(report.missing, (Names{"lm_head.weight", "model.embed_tokens.weight"}));
  EXPECT_TRUE(report.tied.empty());
}

TEST_F(ReconcileTest, UntiedLmHeadIsMissing) {
  Checkpoint checkpoint = Open({{"model.embed_tokens.weight", DType::kF32, {4, 2}}});
  ModelState model = Model({Expected("model.embed_tokens.weight", DType::kF32, {4, 2}),
                            Expected("lm_head.weight", DType::kF32, {4, 2})});
  LoadReport report = RunReport(checkpoint, model);
  EXPECT_EQ(report.missing, Names{"lm_head.weight"});
  EXPECT_TRUE(report.tied.empty());
}

TEST_F(ReconcileTest, TiedSourceConvertsDtype) {
  Checkpoint checkpoint = Open({{"model.embed_tokens.weight", DType::kBF16, {4, 2}}});
  ModelState model = TiedModel();
  LoadReport report = RunReport(checkpoint, model);
  ASSERT_EQ(report.conversions.size(), 2u);
  EXPECT_EQ(report.conversions[0].name, "lm_head.weight");
  EXPECT_EQ(report.conversions[1].name, "model.embed_tokens.weight");
}

TEST_F(ReconcileTest, TiedWorksThroughModelPrefix) {
  Checkpoint checkpoint = Open({{"model.embed_tokens.weight", DType::kF32, {4, 2}}});
  ModelState model = TiedModel("module.");
  LoadReport report = RunReport(checkpoint, model);
  EXPECT_EQ(report.loaded, (Names{"module.lm_head.weight", "module.model.embed_tokens.weight"}));
  ASSERT_EQ(report.tied.size(), 1u);
  EXPECT_EQ(report.tied[0].name, "module.lm_head.weight");
  EXPECT_EQ(report.tied[0].source, "model.embed_tokens.weight");
}

// --- Bookkeeping --------------------------------------------------------------

TEST_F(ReconcileTest, BookkeepingOnBothSidesWithEqualSizeLoads) {
  Checkpoint checkpoint = Open({{"layer._extra_state", DType::kU8, {8}}});
  ModelState model = Model({Expected("layer._extra_state", DType::kU8, {8})});
  Result<Reconciliation> result = Run(checkpoint, model);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->report.bookkeeping_loaded, Names{"layer._extra_state"});
  EXPECT_TRUE(result->report.loaded.empty());
  ASSERT_EQ(result->matches.size(), 1u);
  EXPECT_TRUE(result->matches[0].bookkeeping);
}

TEST_F(ReconcileTest, BookkeepingLoadsRawBytesAcrossDtypes) {
  Checkpoint checkpoint = Open({{"layer._extra_state", DType::kU8, {8}}});
  ModelState model = Model({Expected("layer._extra_state", DType::kI32, {2})});
  LoadReport report = RunReport(checkpoint, model);
  EXPECT_EQ(report.bookkeeping_loaded, Names{"layer._extra_state"});
  EXPECT_TRUE(report.conversions.empty());
  EXPECT_TRUE(report.shape_mismatches.empty());
}

TEST_F(ReconcileTest, BookkeepingWithDifferentSizeIsIgnored) {
  Checkpoint checkpoint = Open({{"layer._extra_state", DType::kU8, {8}}});
  ModelState model = Model({Expected("layer._extra_state", DType::kU8, {0})});
  Result<Reconciliation> result = Run(checkpoint, model);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->report.bookkeeping_ignored, Names{"layer._extra_state"});
  EXPECT_TRUE(result->report.bookkeeping_loaded.empty());
  EXPECT_TRUE(result->report.shape_mismatches.empty());
  EXPECT_TRUE(result->matches.empty());
}

TEST_F(ReconcileTest, BookkeepingOnlyInModelIsKept) {
  Checkpoint checkpoint = Open({{"w"}});
  ModelState model = Model({Expected("w"), Expected("layer._extra_state", DType::kU8, {0})});
  LoadReport report = RunReport(checkpoint, model);
  EXPECT_EQ(report.bookkeeping_kept, Names{"layer._extra_state"});
  EXPECT_TRUE(report.missing.empty());
}

TEST_F(ReconcileTest, BookkeepingOnlyInCheckpointIsIgnored) {
  Checkpoint checkpoint = Open({{"w"}, {"layer._extra_state", DType::kU8, {4}}});
  ModelState model = Model({Expected("w")});
  LoadReport report = RunReport(checkpoint, model);
  EXPECT_EQ(report.bookkeeping_ignored, Names{"layer._extra_state"});
  EXPECT_TRUE(report.unexpected.empty());
}

TEST_F(ReconcileTest, BookkeepingRoleWithoutPatternIsKept) {
  Checkpoint checkpoint = Open({{"w"}});
  ModelState model =
      Model({Expected("w"), Expected("fp8_meta", DType::kU8, {4}, TensorRole::kBookkeeping)});
  LoadReport report = RunReport(checkpoint, model);
  EXPECT_EQ(report.bookkeeping_kept, Names{"fp8_meta"});
  EXPECT_TRUE(report.missing.empty());
}

TEST_F(ReconcileTest, BookkeepingRoleLoadsMatchingEntry) {
  Checkpoint checkpoint = Open({{"fp8_meta", DType::kU8, {4}}});
  ModelState model = Model({Expected("fp8_meta", DType::kU8, {4}, TensorRole::kBookkeeping)});
  LoadReport report = RunReport(checkpoint, model);
  EXPECT_EQ(report.bookkeeping_loaded, Names{"fp8_meta"});
}

TEST_F(ReconcileTest, ExtraBookkeepingPatternAppliesToBothSides) {
  Checkpoint checkpoint = Open({{"w"}, {"rotary.inv_freq", DType::kF32, {4}}});
  ModelState model = Model({Expected("w"), Expected("attn.inv_freq", DType::kF32, {4})});
  KeyRules rules;
  rules.bookkeeping_patterns = {R"(\.inv_freq$)"};
  LoadReport report = RunReport(checkpoint, model, rules);
  EXPECT_EQ(report.bookkeeping_ignored, Names{"rotary.inv_freq"});
  EXPECT_EQ(report.bookkeeping_kept, Names{"attn.inv_freq"});
  EXPECT_TRUE(report.missing.empty());
  EXPECT_TRUE(report.unexpected.empty());

  LoadReport without_pattern = RunReport(checkpoint, model);
  EXPECT_EQ(without_pattern.missing, Names{"attn.inv_freq"});
  EXPECT_EQ(without_pattern.unexpected, Names{"rotary.inv_freq"});
}

TEST_F(ReconcileTest, BookkeepingNamesAreNeverMissingUnderStrict) {
  Checkpoint checkpoint = Open({{"w"}, {"a._extra_state", DType::kU8, {4}}});
  ModelState model = Model({Expected("w"), Expected("b._extra_state", DType::kU8, {0})});
  LoadReport report = RunReport(checkpoint, model, {}, Policy::kStrict);
  EXPECT_FALSE(report.rejected);
  EXPECT_TRUE(report.rejection_reasons.empty());
}

// --- Checkpoint notes ---------------------------------------------------------

TEST_F(ReconcileTest, StaleCopiesAndWarningsPassThrough) {
  WriteFile("shard-1.safetensors", {{"a"}});
  WriteFile("shard-2.safetensors", {{"a"}, {"b"}});
  testing::WriteFileBytes(dir_.Join("model.safetensors.index.json"),
                          R"({"metadata": {"total_size": 1},
                              "weight_map": {"a": "shard-1.safetensors",
                                             "b": "shard-2.safetensors"}})");
  Checkpoint checkpoint = OpenPath(dir_.path());
  ASSERT_FALSE(checkpoint.stale_copies().empty());
  ASSERT_FALSE(checkpoint.warnings().empty());

  LoadReport report = RunReport(checkpoint, Model({Expected("a"), Expected("b")}));
  ASSERT_EQ(report.stale_copies.size(), 1u);
  EXPECT_EQ(report.stale_copies[0].tensor, "a");
  EXPECT_EQ(report.stale_copies[0].file, "shard-2.safetensors");
  EXPECT_EQ(report.stale_copies[0].index_file, "shard-1.safetensors");
  EXPECT_EQ(report.warnings, checkpoint.warnings());
  EXPECT_EQ(report.loaded, (Names{"a", "b"}));
  EXPECT_TRUE(report.unexpected.empty());
}

// --- Policies -----------------------------------------------------------------

TEST_F(ReconcileTest, DefaultPolicyNeverRejects) {
  Checkpoint checkpoint = Open({{"w", DType::kF32, {3}}, {"extra"}});
  ModelState model = Model({Expected("w"), Expected("absent")});
  LoadReport report = RunReport(checkpoint, model, {}, Policy::kDefault);
  EXPECT_EQ(report.policy, Policy::kDefault);
  EXPECT_FALSE(report.rejected);
  EXPECT_TRUE(report.rejection_reasons.empty());
}

TEST_F(ReconcileTest, StrictPolicyAcceptsExactMatch) {
  Checkpoint checkpoint = Open({{"w"}});
  LoadReport report = RunReport(checkpoint, Model({Expected("w")}), {}, Policy::kStrict);
  EXPECT_FALSE(report.rejected);
}

TEST_F(ReconcileTest, StrictPolicyRejectsMissing) {
  Checkpoint checkpoint = Open({{"w"}});
  LoadReport report =
      RunReport(checkpoint, Model({Expected("w"), Expected("v")}), {}, Policy::kStrict);
  EXPECT_TRUE(report.rejected);
  EXPECT_EQ(report.rejection_reasons, Names{"strict policy: 1 tensor missing"});
}

TEST_F(ReconcileTest, StrictPolicyRejectsUnexpected) {
  Checkpoint checkpoint = Open({{"w"}, {"x"}, {"y"}});
  LoadReport report = RunReport(checkpoint, Model({Expected("w")}), {}, Policy::kStrict);
  EXPECT_TRUE(report.rejected);
  EXPECT_EQ(report.rejection_reasons,
            Names{"strict policy: 2 unexpected tensors in the checkpoint"});
}

TEST_F(ReconcileTest, StrictPolicyRejectsShapeMismatch) {
  Checkpoint checkpoint = Open({{"w", DType::kF32, {3}}, {"v", DType::kF32, {3}}});
  LoadReport report =
      RunReport(checkpoint, Model({Expected("w"), Expected("v")}), {}, Policy::kStrict);
  EXPECT_TRUE(report.rejected);
  EXPECT_EQ(report.rejection_reasons, Names{"strict policy: 2 shape mismatches"});
}

TEST_F(ReconcileTest, SubsetPolicyAllowsMissing) {
  Checkpoint checkpoint = Open({{"w"}});
  LoadReport report =
      RunReport(checkpoint, Model({Expected("w"), Expected("head")}), {}, Policy::kSubset);
  EXPECT_FALSE(report.rejected);
  EXPECT_EQ(report.missing, Names{"head"});
}

TEST_F(ReconcileTest, SubsetPolicyRejectsLoadThatMatchesNothing) {
  Checkpoint checkpoint = Open({{"w._extra_state", DType::kU8, {2}}});
  ModelState model =
      Model({Expected("v"), Expected("w._extra_state", DType::kU8, {2})});
  LoadReport report = RunReport(checkpoint, model, {}, Policy::kSubset);
  EXPECT_TRUE(report.rejected);
  ASSERT_EQ(report.rejection_reasons.size(), 1u);
  EXPECT_NE(report.rejection_reasons[0].find("subset policy: no expected tensor matched"),
            std::string::npos)
      << report.rejection_reasons[0];
}

TEST_F(ReconcileTest, SubsetPolicyRejectsCheckpointWeightsModelLacks) {
  Checkpoint checkpoint = Open({{"w"}, {"other_arch.w"}});
  LoadReport report = RunReport(checkpoint, Model({Expected("w")}), {}, Policy::kSubset);
  EXPECT_TRUE(report.rejected);
  ASSERT_EQ(report.rejection_reasons.size(), 1u);
  EXPECT_NE(report.rejection_reasons[0].find("subset policy: 1 checkpoint tensor is not in the model"),
            std::string::npos)
      << report.rejection_reasons[0];
}

TEST_F(ReconcileTest, SubsetPolicyRejectsShapeMismatch) {
  Checkpoint checkpoint = Open({{"w", DType::kF32, {3}}, {"v"}});
  ModelState model = Model({Expected("w", DType::kF32, {2}), Expected("v")});
  LoadReport report = RunReport(checkpoint, model, {}, Policy::kSubset);
  EXPECT_TRUE(report.rejected);
  ASSERT_EQ(report.rejection_reasons.size(), 1u);
  EXPECT_EQ(report.rejection_reasons[0], "subset policy: 1 shape mismatch");
}

TEST_F(ReconcileTest, SubsetPolicyIgnoresBookkeeping) {
  Checkpoint checkpoint = Open({{"w"}, {"a._extra_state", DType::kU8, {2}}});
  ModelState model = Model({Expected("w"), Expected("b._extra_state", DType::kU8, {0})});
  LoadReport report = RunReport(checkpoint, model, {}, Policy::kSubset);
  EXPECT_FALSE(report.rejected);
}

// --- Real checkpoints ---------------------------------------------------------

TEST_F(ReconcileTest, RealCheckpointMatchesItsOwnManifest) {
  SAFECKPT_REQUIRE_CORPUS(corpus);
  for (const char* relative : {"/files/FluxML__SafeTensors.jl__non_sharded_model.safetensors",
                               "/index/FluxML__SafeTensors.jl__test_sharded"}) {
    SCOPED_TRACE(relative);
    Checkpoint checkpoint = OpenPath(corpus + relative);
    Manifest manifest = ManifestFromCheckpoint(checkpoint);
    LoadReport report = RunReport(checkpoint, manifest.model, {}, Policy::kStrict);
    EXPECT_FALSE(report.rejected) << ::testing::PrintToString(report.rejection_reasons);
    EXPECT_EQ(report.loaded.size(), checkpoint.tensors().size());
    EXPECT_TRUE(report.missing.empty());
    EXPECT_TRUE(report.unexpected.empty());
  }
}

TEST_F(ReconcileTest, RealCheckpointWithRenamesMatches) {
  SAFECKPT_REQUIRE_CORPUS(corpus);
  Checkpoint checkpoint =
      OpenPath(corpus + "/files/tracel-ai__burn__safetensors-tests_key_remap_chained.safetensors");
  Manifest manifest = ManifestFromCheckpoint(checkpoint);
  ModelState renamed;
  for (const ExpectedTensor& tensor : manifest.model.tensors()) {
    ExpectedTensor copy = tensor;
    copy.name = "net." + copy.name;
    ASSERT_TRUE(renamed.Add(copy).ok());
  }
  LoadReport report = RunReport(checkpoint, renamed, RenameRules({{"^", "net."}}), Policy::kStrict);
  EXPECT_FALSE(report.rejected) << ::testing::PrintToString(report.rejection_reasons);
  EXPECT_EQ(report.loaded.size(), checkpoint.tensors().size());
}

}  // namespace
}  // namespace safeckpt::internal
