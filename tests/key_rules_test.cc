#include "safeckpt/key_rules.h"

#include <gtest/gtest.h>

#include "support/test_support.h"

namespace safeckpt {
namespace {

CompiledKeyRules CompileRenames(std::vector<RenameRule> renames) {
  KeyRules rules;
  rules.renames = std::move(renames);
  Result<CompiledKeyRules> compiled = CompiledKeyRules::Compile(rules);
  EXPECT_TRUE(compiled.ok()) << compiled.status().ToString();
  return std::move(compiled).value();
}

TEST(KeyRulesTest, NameWithoutMatchIsUnchanged) {
  CompiledKeyRules rules = CompileRenames({{"^backbone\\.", "model."}});
  EXPECT_EQ(rules.Rename("lm_head.weight"), "lm_head.weight");
}

TEST(KeyRulesTest, FirstMatchingRuleWins) {
  CompiledKeyRules rules = CompileRenames({{"^a\\.", "b."}, {"^a", "c"}});
  EXPECT_EQ(rules.Rename("a.x"), "b.x");
}

TEST(KeyRulesTest, LaterRuleDoesNotApplyToRenamedName) {
  CompiledKeyRules rules = CompileRenames({{"^a$", "b"}, {"^b$", "c"}});
  EXPECT_EQ(rules.Rename("a"), "b");
  EXPECT_EQ(rules.Rename("b"), "c");
}

TEST(KeyRulesTest, RuleMatchesAnywhereInName) {
  CompiledKeyRules rules = CompileRenames({{"gamma", "weight"}});
  EXPECT_EQ(rules.Rename("encoder.norm.gamma"), "encoder.norm.weight");
}

TEST(KeyRulesTest, EveryNonOverlappingMatchIsReplaced) {
  CompiledKeyRules rules = CompileRenames({{"block", "layer"}, {"ana", "X"}});
  EXPECT_EQ(rules.Rename("block.1.block.2"), "layer.1.layer.2");
  EXPECT_EQ(rules.Rename("banana"), "bXna");
}

TEST(KeyRulesTest, BackReferencesUsePythonSyntax) {
  CompiledKeyRules rules =
      CompileRenames({{R"(^layer\.(\d+)\.block\.(\d+)\.)", R"(model.layers.\1.blocks.\2.)"}});
  EXPECT_EQ(rules.Rename("layer.3.block.1.weight"), "model.layers.3.blocks.1.weight");
}

TEST(KeyRulesTest, PythonNumberedGroupFormIsAccepted) {
  CompiledKeyRules rules = CompileRenames({{R"(^h\.(\d+)\.)", R"(layers.\g<1>.)"}});
  EXPECT_EQ(rules.Rename("h.7.attn.weight"), "layers.7.attn.weight");
}

TEST(KeyRulesTest, PythonNamedGroupFormIsAccepted) {
  CompiledKeyRules rules = CompileRenames({{R"(^h\.(?P<layer>\d+)\.)", R"(layers.\g<layer>.)"}});
  EXPECT_EQ(rules.Rename("h.12.mlp.weight"), "layers.12.mlp.weight");
}

TEST(KeyRulesTest, WholeMatchReferenceIsGroupZero) {
  CompiledKeyRules rules = CompileRenames({{R"(\d+)", R"(<\g<0>>)"}});
  EXPECT_EQ(rules.Rename("layers.4.weight"), "layers.<4>.weight");
}

TEST(KeyRulesTest, EscapedBackslashIsLiteral) {
  CompiledKeyRules rules = CompileRenames({{"x", R"(a\\b)"}});
  EXPECT_EQ(rules.Rename("x"), R"(a\b)");
}

TEST(KeyRulesTest, UnknownPunctuationEscapeIsKeptAsPythonDoes) {
  CompiledKeyRules rules = CompileRenames({{"x", R"(a\.b)"}});
  EXPECT_EQ(rules.Rename("x"), R"(a\.b)");
}

TEST(KeyRulesTest, MatchingRenameReturnsRuleIndex) {
  CompiledKeyRules rules = CompileRenames({{"^a\\.", "b."}, {"^c\\.", "d."}});
  EXPECT_EQ(rules.MatchingRename("a.x"), 0);
  EXPECT_EQ(rules.MatchingRename("c.x"), 1);
  EXPECT_EQ(rules.MatchingRename("e.x"), -1);
}

TEST(KeyRulesTest, InvalidPatternIsRejected) {
  KeyRules rules;
  rules.renames = {{"^layer.(\\d+", "x"}};
  EXPECT_ERROR(CompiledKeyRules::Compile(rules), ErrorId::kRuleInvalid, "'^layer.(\\d+'");
  EXPECT_ERROR(CompiledKeyRules::Compile(rules), ErrorId::kRuleInvalid, "missing )");
}

TEST(KeyRulesTest, EmptyPatternIsRejected) {
  KeyRules rules;
  rules.renames = {{"", "x"}};
  EXPECT_ERROR(CompiledKeyRules::Compile(rules), ErrorId::kRuleInvalid, "rename pattern is empty");
  KeyRules bookkeeping;
  bookkeeping.bookkeeping_patterns = {""};
  EXPECT_ERROR(CompiledKeyRules::Compile(bookkeeping), ErrorId::kRuleInvalid,
               "bookkeeping pattern is empty");
}

TEST(KeyRulesTest, ReplacementWithMissingGroupIsRejected) {
  KeyRules rules;
  rules.renames = {{"^layer\\.(\\d+)", "layers.\\2"}};
  EXPECT_ERROR(CompiledKeyRules::Compile(rules), ErrorId::kRuleInvalid, "'layers.\\2'");
  EXPECT_ERROR(CompiledKeyRules::Compile(rules), ErrorId::kRuleInvalid, "^layer\\.(\\d+)");
}

TEST(KeyRulesTest, UnknownNamedGroupIsRejected) {
  KeyRules rules;
  rules.renames = {{"^(?P<layer>\\d+)", "\\g<block>"}};
  EXPECT_ERROR(CompiledKeyRules::Compile(rules), ErrorId::kRuleInvalid, "\\g<block>");
}

TEST(KeyRulesTest, GroupAboveNineIsRejected) {
  KeyRules rules;
  rules.renames = {{"(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)", "\\10"}};
  EXPECT_ERROR(CompiledKeyRules::Compile(rules), ErrorId::kRuleInvalid, "group 10");
}

TEST(KeyRulesTest, TrailingBackslashIsRejected) {
  KeyRules rules;
  rules.renames = {{"a", "b\\"}};
  EXPECT_ERROR(CompiledKeyRules::Compile(rules), ErrorId::kRuleInvalid, "lone backslash");
}

TEST(KeyRulesTest, UnknownLetterEscapeIsRejected) {
  KeyRules rules;
  rules.renames = {{"a", "\\q"}};
  EXPECT_ERROR(CompiledKeyRules::Compile(rules), ErrorId::kRuleInvalid, "invalid escape '\\q'");
}

TEST(KeyRulesTest, DefaultBookkeepingPatternMatchesLastComponent) {
  CompiledKeyRules rules = CompileRenames({});
  EXPECT_TRUE(rules.IsBookkeeping("model.layers.0.self_attn.q_proj._extra_state"));
  EXPECT_TRUE(rules.IsBookkeeping("_extra_state"));
  EXPECT_FALSE(rules.IsBookkeeping("model.layers.0._extra_state.weight"));
  EXPECT_FALSE(rules.IsBookkeeping("model.my_extra_state"));
  EXPECT_FALSE(rules.IsBookkeeping("model.embed_tokens.weight"));
}

TEST(KeyRulesTest, ExtraBookkeepingPatternAddsToDefault) {
  KeyRules rules;
  rules.bookkeeping_patterns = {R"(\.rotary_emb\.inv_freq$)"};
  Result<CompiledKeyRules> compiled = CompiledKeyRules::Compile(rules);
  ASSERT_TRUE(compiled.ok()) << compiled.status().ToString();
  EXPECT_TRUE(compiled->IsBookkeeping("model.layers.3.self_attn.rotary_emb.inv_freq"));
  EXPECT_TRUE(compiled->IsBookkeeping("model.layers.3.mlp._extra_state"));
  EXPECT_FALSE(compiled->IsBookkeeping("model.layers.3.mlp.up_proj.weight"));
}

TEST(KeyRulesTest, InvalidBookkeepingPatternIsRejected) {
  KeyRules rules;
  rules.bookkeeping_patterns = {"[unclosed"};
  EXPECT_ERROR(CompiledKeyRules::Compile(rules), ErrorId::kRuleInvalid, "bookkeeping pattern '[unclosed'");
}

TEST(KeyRulesTest, WrapperPrefixWithoutDotIsRejected) {
  KeyRules rules;
  rules.wrapper_prefixes = {"module"};
  EXPECT_ERROR(CompiledKeyRules::Compile(rules), ErrorId::kRuleInvalid, "wrapper prefix 'module'");
}

TEST(KeyRulesTest, CompiledRulesKeepTheirSource) {
  KeyRules rules;
  rules.renames = {{"a", "b"}};
  rules.bookkeeping_patterns = {"c"};
  Result<CompiledKeyRules> compiled = CompiledKeyRules::Compile(rules);
  ASSERT_TRUE(compiled.ok()) << compiled.status().ToString();
  ASSERT_EQ(compiled->rules().renames.size(), 1u);
  EXPECT_EQ(compiled->rules().renames[0].pattern, "a");
  EXPECT_EQ(compiled->rules().bookkeeping_patterns, std::vector<std::string>{"c"});
}

}  // namespace
}  // namespace safeckpt
