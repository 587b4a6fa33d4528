#include "safeckpt/manifest.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include <fmt/format.h>

#include "safeckpt/writer.h"
#include "support/test_support.h"

namespace safeckpt {
namespace {

using testing::TempDir;

constexpr std::string_view kExample = R"({
  "safeckpt_manifest": 1,
  "renames": [["^backbone\\.", "model."], ["\\.gamma$", ".weight"]],
  "tensors": {
    "model.embed_tokens.weight": {"dtype": "BF16", "shape": [32000, 4096]},
    "model.layers.0.self_attn.q_proj._extra_state":
        {"dtype": "U8", "shape": [0], "role": "bookkeeping"},
    "model.rotary_emb.inv_freq": {"dtype": "F32", "shape": [64], "role": "buffer"},
    "lm_head.weight": {"dtype": "BF16", "shape": [32000, 4096],
                       "tied_to": "model.embed_tokens.weight"}
  }
})";

// Returns the manifest text with one tensor entry replaced by `entry`.
std::string WithTensor(std::string_view name, std::string_view entry) {
  return fmt::format(R"({{"safeckpt_manifest": 1, "tensors": {{"{}": {}}}}})", name, entry);
}

Result<Manifest> Parse(std::string_view text) { return ParseManifest(text, "model.json"); }

TEST(ManifestTest, ParsesExample) {
  Result<Manifest> manifest = Parse(kExample);
  ASSERT_TRUE(manifest.ok()) << manifest.status().ToString();
  ASSERT_EQ(manifest->model.size(), 4u);

  const ExpectedTensor* embedding = manifest->model.Find("model.embed_tokens.weight");
  ASSERT_NE(embedding, nullptr);
  EXPECT_EQ(embedding->dtype, DType::kBF16);
  EXPECT_EQ(embedding->shape, (Shape{32000, 4096}));
  EXPECT_EQ(embedding->role, TensorRole::kParameter);
  EXPECT_TRUE(embedding->tied_to.empty());
  EXPECT_EQ(embedding->data, nullptr);

  const ExpectedTensor* extra = manifest->model.Find("model.layers.0.self_attn.q_proj._extra_state");
  ASSERT_NE(extra, nullptr);
  EXPECT_EQ(extra->role, TensorRole::kBookkeeping);
  EXPECT_EQ(extra->shape, (Shape{0}));

  const ExpectedTensor* inv_freq = manifest->model.Find("model.rotary_emb.inv_freq");
  ASSERT_NE(inv_freq, nullptr);
  EXPECT_EQ(inv_freq->role, TensorRole::kBuffer);

  const ExpectedTensor* lm_head = manifest->model.Find("lm_head.weight");
  ASSERT_NE(lm_head, nullptr);
  EXPECT_EQ(lm_head->tied_to, "model.embed_tokens.weight");
}

TEST(ManifestTest, KeepsTensorsAndRenamesInFileOrder) {
  Result<Manifest> manifest = Parse(kExample);
  ASSERT_TRUE(manifest.ok()) << manifest.status().ToString();
  ASSERT_EQ(manifest->model.size(), 4u);
  EXPECT_EQ(manifest->model.tensors()[0].name, "model.embed_tokens.weight");
  EXPECT_EQ(manifest->model.tensors()[3].name, "lm_head.weight");
  ASSERT_EQ(manifest->renames.size(), 2u);
  EXPECT_EQ(manifest->renames[0].pattern, "^backbone\\.");
  EXPECT_EQ(manifest->renames[0].replacement, "model.");
  EXPECT_EQ(manifest->renames[1].pattern, "\\.gamma$");
}

TEST(ManifestTest, AcceptsScalarAndEmptyManifest) {
  Result<Manifest> scalar = Parse(WithTensor("step", R"({"dtype": "I64", "shape": []})"));
  ASSERT_TRUE(scalar.ok()) << scalar.status().ToString();
  EXPECT_TRUE(scalar->model.tensors()[0].shape.empty());

  Result<Manifest> empty = Parse(R"({"safeckpt_manifest": 1, "tensors": {}})");
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_EQ(empty->model.size(), 0u);
}

TEST(ManifestTest, RejectsInvalidJson) {
  EXPECT_ERROR(Parse("{\"safeckpt_manifest\": 1,"), ErrorId::kManifestInvalid,
               "model.json: not valid JSON");
}

TEST(ManifestTest, RejectsTopLevelArray) {
  EXPECT_ERROR(Parse("[1, 2]"), ErrorId::kManifestInvalid, "top level is [1,2] (an array)");
}

TEST(ManifestTest, RejectsOtherVersion) {
  EXPECT_ERROR(Parse(R"({"safeckpt_manifest": 2, "tensors": {}})"), ErrorId::kManifestInvalid,
               "\"safeckpt_manifest\" is 2 (an integer); this safeckpt reads version 1");
}

TEST(ManifestTest, ChecksVersionBeforeUnknownKeys) {
  EXPECT_ERROR(Parse(R"({"rank": 0, "safeckpt_manifest": 2, "tensors": {}})"),
               ErrorId::kManifestInvalid, "reads version 1");
}

TEST(ManifestTest, RejectsVersionAsString) {
  EXPECT_ERROR(Parse(R"({"safeckpt_manifest": "1", "tensors": {}})"), ErrorId::kManifestInvalid,
               "\"1\" (a string)");
}

TEST(ManifestTest, RejectsMissingVersion) {
  EXPECT_ERROR(Parse(R"({"tensors": {}})"), ErrorId::kManifestInvalid,
               "required key \"safeckpt_manifest\" is missing");
}

TEST(ManifestTest, RejectsMissingTensors) {
  EXPECT_ERROR(Parse(R"({"safeckpt_manifest": 1})"), ErrorId::kManifestInvalid,
               "required key \"tensors\" is missing");
}

TEST(ManifestTest, RejectsUnknownTopLevelKey) {
  Result<Manifest> manifest = Parse(R"({"safeckpt_manifest": 1, "world": 8, "tensors": {}})");
  EXPECT_ERROR(manifest, ErrorId::kManifestInvalid, "unknown key \"world\"");
  EXPECT_ERROR(manifest, ErrorId::kManifestInvalid,
               "accepted keys: \"safeckpt_manifest\", \"renames\", \"tensors\"");
}

TEST(ManifestTest, RejectsUnknownTensorKey) {
  Result<Manifest> manifest =
      Parse(WithTensor("w", R"({"dtype": "F32", "shape": [2], "stride": [1]})"));
  EXPECT_ERROR(manifest, ErrorId::kManifestInvalid, "model.json: tensor 'w': unknown key \"stride\"");
  EXPECT_ERROR(manifest, ErrorId::kManifestInvalid,
               "accepted keys: \"dtype\", \"shape\", \"role\", \"tied_to\"");
}

TEST(ManifestTest, RejectsRepeatedKey) {
  EXPECT_ERROR(Parse(WithTensor("w", R"({"dtype": "F32", "dtype": "F16", "shape": [2]})")),
               ErrorId::kManifestInvalid, "key \"dtype\" appears twice");
}

TEST(ManifestTest, RejectsDuplicateTensor) {
  std::string text = R"({"safeckpt_manifest": 1, "tensors": {
      "w": {"dtype": "F32", "shape": [2]}, "w": {"dtype": "F32", "shape": [2]}}})";
  EXPECT_ERROR(Parse(text), ErrorId::kManifestInvalid, "model.json: tensor 'w' is listed twice");
}

TEST(ManifestTest, RejectsEntryThatIsNotObject) {
  EXPECT_ERROR(Parse(WithTensor("w", "[1]")), ErrorId::kManifestInvalid,
               "tensor 'w': entry is [1] (an array)");
}

TEST(ManifestTest, RejectsMissingDtype) {
  EXPECT_ERROR(Parse(WithTensor("w", R"({"shape": [2]})")), ErrorId::kManifestInvalid,
               "tensor 'w': required key \"dtype\" is missing");
}

TEST(ManifestTest, RejectsMissingShape) {
  EXPECT_ERROR(Parse(WithTensor("w", R"({"dtype": "F32"})")), ErrorId::kManifestInvalid,
               "tensor 'w': required key \"shape\" is missing");
}

TEST(ManifestTest, RejectsUnknownDtype) {
  Result<Manifest> manifest = Parse(WithTensor("w", R"({"dtype": "bf16", "shape": [2]})"));
  EXPECT_ERROR(manifest, ErrorId::kManifestInvalid, "tensor 'w': \"dtype\" \"bf16\" is unknown");
  EXPECT_ERROR(manifest, ErrorId::kManifestInvalid, "BF16");
}

TEST(ManifestTest, RejectsDtypeThatIsNotString) {
  EXPECT_ERROR(Parse(WithTensor("w", R"({"dtype": 16, "shape": [2]})")), ErrorId::kManifestInvalid,
               "\"dtype\" is 16 (an integer)");
}

TEST(ManifestTest, RejectsNegativeDimension) {
  EXPECT_ERROR(Parse(WithTensor("w", R"({"dtype": "F32", "shape": [4, -2]})")),
               ErrorId::kManifestInvalid, "tensor 'w': \"shape\" [4,-2]: dimension 1 is -2 (an integer)");
}

TEST(ManifestTest, RejectsFractionalDimension) {
  EXPECT_ERROR(Parse(WithTensor("w", R"({"dtype": "F32", "shape": [2.0]})")),
               ErrorId::kManifestInvalid, "a number with a fraction or exponent");
}

TEST(ManifestTest, RejectsShapeThatIsNotArray) {
  EXPECT_ERROR(Parse(WithTensor("w", R"({"dtype": "F32", "shape": 4})")), ErrorId::kManifestInvalid,
               "\"shape\" is 4 (an integer)");
}

TEST(ManifestTest, RejectsShapeWhoseSizeOverflows) {
  EXPECT_ERROR(Parse(WithTensor("w", R"({"dtype": "F32", "shape": [4294967296, 4294967296]})")),
               ErrorId::kManifestInvalid, "tensor 'w'");
}

TEST(ManifestTest, RejectsUnknownRole) {
  Result<Manifest> manifest =
      Parse(WithTensor("w", R"({"dtype": "F32", "shape": [2], "role": "weight"})"));
  EXPECT_ERROR(manifest, ErrorId::kManifestInvalid, "tensor 'w': \"role\" is \"weight\"");
  EXPECT_ERROR(manifest, ErrorId::kManifestInvalid, "\"parameter\", \"buffer\", \"bookkeeping\"");
}

TEST(ManifestTest, RejectsTiedToUnknownTensor) {
  EXPECT_ERROR(
      Parse(WithTensor("lm_head.weight", R"({"dtype": "F32", "shape": [2], "tied_to": "emb"})")),
      ErrorId::kManifestInvalid, "tensor 'lm_head.weight': \"tied_to\" names 'emb', which is not");
}

TEST(ManifestTest, RejectsTiedToItself) {
  EXPECT_ERROR(Parse(WithTensor("w", R"({"dtype": "F32", "shape": [2], "tied_to": "w"})")),
               ErrorId::kManifestInvalid, "tensor 'w': \"tied_to\" names the tensor itself");
}

TEST(ManifestTest, RejectsTiedToEmptyName) {
  EXPECT_ERROR(Parse(WithTensor("w", R"({"dtype": "F32", "shape": [2], "tied_to": ""})")),
               ErrorId::kManifestInvalid, "\"tied_to\" is \"\" (a string)");
}

TEST(ManifestTest, RejectsChainOfTies) {
  std::string text = R"({"safeckpt_manifest": 1, "tensors": {
      "a": {"dtype": "F32", "shape": [2]},
      "b": {"dtype": "F32", "shape": [2], "tied_to": "a"},
      "c": {"dtype": "F32", "shape": [2], "tied_to": "b"}}})";
  EXPECT_ERROR(Parse(text), ErrorId::kManifestInvalid,
               "tensor 'c': \"tied_to\" names 'b', which is itself tied to 'a'");
}

TEST(ManifestTest, RejectsRenameThatIsNotPair) {
  EXPECT_ERROR(Parse(R"({"safeckpt_manifest": 1, "renames": [["a"]], "tensors": {}})"),
               ErrorId::kManifestInvalid, "renames[0] is [\"a\"] (an array)");
}

TEST(ManifestTest, RejectsRenamesThatIsNotArray) {
  EXPECT_ERROR(Parse(R"({"safeckpt_manifest": 1, "renames": {"a": "b"}, "tensors": {}})"),
               ErrorId::kManifestInvalid, "\"renames\" is {\"a\":\"b\"} (an object)");
}

TEST(ManifestTest, RejectsInvalidRenamePattern) {
  Result<Manifest> manifest =
      Parse(R"({"safeckpt_manifest": 1, "renames": [["a", "b"], ["(", "c"]], "tensors": {}})");
  EXPECT_ERROR(manifest, ErrorId::kManifestInvalid, "model.json: renames[1]");
  EXPECT_ERROR(manifest, ErrorId::kManifestInvalid, "'('");
}

TEST(ManifestTest, FormatsOneTensorPerLine) {
  Result<Manifest> manifest = Parse(kExample);
  ASSERT_TRUE(manifest.ok()) << manifest.status().ToString();
  std::string text = FormatManifest(*manifest);

  EXPECT_NE(text.find(R"(    "model.embed_tokens.weight": {"dtype": "BF16", "shape": [32000, 4096]})"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(R"("role": "bookkeeping"})"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("tied_to": "model.embed_tokens.weight"})"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(["^backbone\\.", "model."])"), std::string::npos) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 13) << text;
}

TEST(ManifestTest, FormatOmitsEmptyRenames) {
  Result<Manifest> manifest = Parse(WithTensor("w", R"({"dtype": "F32", "shape": [2]})"));
  ASSERT_TRUE(manifest.ok()) << manifest.status().ToString();
  EXPECT_EQ(FormatManifest(*manifest).find("renames"), std::string::npos);
}

TEST(ManifestTest, FormattedManifestParsesToSameManifest) {
  Result<Manifest> original = Parse(kExample);
  ASSERT_TRUE(original.ok()) << original.status().ToString();
  Result<Manifest> reparsed = Parse(FormatManifest(*original));
  ASSERT_TRUE(reparsed.ok()) << reparsed.status().ToString();

  ASSERT_EQ(reparsed->model.size(), original->model.size());
  for (size_t i = 0; i < original->model.size(); ++i) {
    const ExpectedTensor& expected = original->model.tensors()[i];
    const ExpectedTensor& actual = reparsed->model.tensors()[i];
    EXPECT_EQ(actual.name, expected.name);
    EXPECT_EQ(actual.dtype, expected.dtype) << expected.name;
    EXPECT_EQ(actual.shape, expected.shape) << expected.name;
    EXPECT_EQ(actual.role, expected.role) << expected.name;
    EXPECT_EQ(actual.tied_to, expected.tied_to) << expected.name;
  }
  ASSERT_EQ(reparsed->renames.size(), original->renames.size());
  for (size_t i = 0; i < original->renames.size(); ++i) {
    EXPECT_EQ(reparsed->renames[i].pattern, original->renames[i].pattern);
    EXPECT_EQ(reparsed->renames[i].replacement, original->renames[i].replacement);
  }
}

TEST(ManifestTest, ReadsManifestFile) {
  TempDir dir;
  std::string path = dir.Join("model.json");
  testing::WriteFileBytes(path, kExample);
  Result<Manifest> manifest = ReadManifest(path);
  ASSERT_TRUE(manifest.ok()) << manifest.status().ToString();
  EXPECT_EQ(manifest->model.size(), 4u);
}

TEST(ManifestTest, ErrorsNameManifestPath) {
  TempDir dir;
  std::string path = dir.Join("model.json");
  testing::WriteFileBytes(path, R"({"safeckpt_manifest": 3, "tensors": {}})");
  EXPECT_ERROR(ReadManifest(path), ErrorId::kManifestInvalid, path + ": \"safeckpt_manifest\" is 3");
}

TEST(ManifestTest, MissingFileIsNotFound) {
  TempDir dir;
  Result<Manifest> manifest = ReadManifest(dir.Join("absent.json"));
  EXPECT_FALSE(manifest.ok());
  EXPECT_EQ(manifest.status().code(), StatusCode::kNotFound) << manifest.status().ToString();
}

TEST(ManifestTest, BuildsManifestFromCheckpoint) {
  TempDir dir;
  std::string path = dir.Join("model.safetensors");
  uint16_t weight[6] = {};
  uint8_t extra[4] = {};
  ASSERT_TRUE(WriteSafetensors(path, {{"model.norm.weight", DType::kBF16, {2, 3}, weight},
                                      {"model.layers.0.mlp._extra_state", DType::kU8, {4}, extra},
                                      {"model.my_extra_state", DType::kU8, {4}, extra}})
                  .ok());
  Result<Checkpoint> checkpoint = Checkpoint::Open(path);
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status().ToString();

  Manifest manifest = ManifestFromCheckpoint(*checkpoint);
  ASSERT_EQ(manifest.model.size(), 3u);
  const ExpectedTensor* norm = manifest.model.Find("model.norm.weight");
  ASSERT_NE(norm, nullptr);
  EXPECT_EQ(norm->dtype, DType::kBF16);
  EXPECT_EQ(norm->shape, (Shape{2, 3}));
  EXPECT_EQ(norm->role, TensorRole::kParameter);
  const ExpectedTensor* extra_state = manifest.model.Find("model.layers.0.mlp._extra_state");
  ASSERT_NE(extra_state, nullptr);
  EXPECT_EQ(extra_state->role, TensorRole::kBookkeeping);
  const ExpectedTensor* lookalike = manifest.model.Find("model.my_extra_state");
  ASSERT_NE(lookalike, nullptr);
  EXPECT_EQ(lookalike->role, TensorRole::kParameter);
  EXPECT_TRUE(manifest.renames.empty());
}

TEST(ManifestTest, DeepNestingIsRejected) {
  std::string deep = R"({"safeckpt_manifest": 1, "tensors": {"w": )" + std::string(5000, '[') +
                     std::string(5000, ']') + "}}";
  EXPECT_ERROR(ParseManifest(deep, "m.json"), ErrorId::kManifestInvalid,
               "nests deeper than the limit of 64 levels");
}

TEST(ManifestTest, EmptyTextIsNotJson) {
  EXPECT_ERROR(ParseManifest("", "m.json"), ErrorId::kManifestInvalid, "not valid JSON");
}

}  // namespace
}  // namespace safeckpt
