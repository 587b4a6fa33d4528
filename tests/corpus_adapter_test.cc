// Real index names through adapters: the tensor names and shard layout of a
// Mixtral (WizardLM-2-8x22B) and a GraniteMoE index from the corpus, with
// synthetic shards of small shapes, loaded rank by rank and compared with
// the naive reference.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "adapter_fixtures.h"
#include "safeckpt/loader.h"
#include "safeckpt/sharding.h"
#include "support/test_support.h"

namespace safeckpt {
namespace {

using testing::Family;
using testing::HfTensors;
using testing::Index;
using testing::MakeTensor;
using testing::NativeExpectation;
using testing::TempDir;
using testing::ValueAt;

constexpr uint64_t kHidden = 4;
constexpr uint64_t kIntermediate = 2;
constexpr uint64_t kVocabulary = 8;

// weight_map of a corpus index: tensor name to shard file.
std::map<std::string, std::string> ReadWeightMap(const std::string& index_path) {
  std::map<std::string, std::string> weight_map;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.load(index_path).get(root) != simdjson::SUCCESS) {
    ADD_FAILURE() << "cannot parse " << index_path;
    return weight_map;
  }
  simdjson::dom::object map;
  EXPECT_EQ(root["weight_map"].get(map), simdjson::SUCCESS);
  for (auto member : map) {
    std::string_view file;
    EXPECT_EQ(member.value.get_string().get(file), simdjson::SUCCESS);
    weight_map.emplace(std::string(member.key), std::string(file));
  }
  return weight_map;
}

// Writes `tensors` into the shard files `weight_map` names, with the index.
Checkpoint WriteLikeIndex(const TempDir& dir, const HfTensors& tensors,
                          const std::map<std::string, std::string>& weight_map) {
  std::map<std::string, std::vector<TensorToWrite>> files;
  std::string map_text;
  for (const auto& [name, file] : weight_map) {
    const testing::HfTensor& tensor = tensors.at(name);
    files[file].push_back({name, tensor.dtype, tensor.shape, tensor.bytes.data()});
    map_text += std::string(map_text.empty() ? "" : ", ") + "\"" + name + "\": \"" + file + "\"";
  }
  for (const auto& [file, contents] : files) {
    EXPECT_TRUE(WriteSafetensors(dir.Join(file), contents).ok()) << file;
  }
  testing::WriteFileBytes(dir.Join("model.safetensors.index.json"),
                          "{\"metadata\": {}, \"weight_map\": {" + map_text + "}}");
  Result<Checkpoint> checkpoint = Checkpoint::Open(dir.path());
  EXPECT_TRUE(checkpoint.ok()) << checkpoint.status().ToString();
  return checkpoint.ok() ? std::move(checkpoint).value() : Checkpoint{};
}

// A small shape for a real tensor name of a Mixtral or GraniteMoE model.
Shape SmallShape(const std::string& name, uint64_t experts) {
  auto ends = [&name](std::string_view suffix) { return name.ends_with(suffix); };
  if (ends("embed_tokens.weight") || ends("lm_head.weight")) return {kVocabulary, kHidden};
  if (ends("norm.weight")) return {kHidden};
  if (ends("w1.weight") || ends("w3.weight")) return {kIntermediate, kHidden};
  if (ends("w2.weight")) return {kHidden, kIntermediate};
  if (ends("block_sparse_moe.gate.weight") || ends("router.layer.weight")) return {experts, kHidden};
  if (ends("input_linear.weight")) return {experts, 2 * kIntermediate, kHidden};
  if (ends("output_linear.weight")) return {experts, kHidden, kIntermediate};
  return {kHidden, kHidden};
}

std::string ReplaceFirst(std::string text, const std::string& from, const std::string& to) {
  const size_t position = text.find(from);
  if (position != std::string::npos) text.replace(position, from.size(), to);
  return text;
}

// The layer number of "model.layers.N.*", or -1.
int LayerOf(const std::string& name) {
  constexpr std::string_view kPrefix = "model.layers.";
  if (!name.starts_with(kPrefix)) return -1;
  return std::stoi(name.substr(kPrefix.size()));
}

Family MixtralFromIndex(const std::map<std::string, std::string>& weight_map) {
  constexpr uint64_t kExperts = 8;
  Family family{"mixtral", "mixtral", {}, {}};
  uint32_t seed = 0;
  int layers = 0;
  for (const auto& [name, file] : weight_map) {
    testing::Add(family.tensors, MakeTensor(name, DType::kBF16, SmallShape(name, kExperts), ++seed));
    layers = std::max(layers, LayerOf(name) + 1);
    if (name.find(".experts.") != std::string::npos) continue;
    family.natives.push_back(testing::Same(
        family.tensors, ReplaceFirst(name, "block_sparse_moe", "mlp"), name));
  }
  for (int layer = 0; layer < layers; ++layer) {
    const std::string prefix = "model.layers." + std::to_string(layer);
    testing::AddPerExpertStack(family.natives, prefix + ".block_sparse_moe", prefix + ".mlp", "w1",
                               "w3", "w2", kExperts, kHidden, kIntermediate);
  }
  return family;
}

Family GraniteFromIndex(const std::map<std::string, std::string>& weight_map) {
  constexpr uint64_t kExperts = 32;
  Family family{"granitemoe", "granitemoe", {}, {}};
  uint32_t seed = 0;
  for (const auto& [name, file] : weight_map) {
    testing::Add(family.tensors, MakeTensor(name, DType::kBF16, SmallShape(name, kExperts), ++seed));
    if (name.ends_with("input_linear.weight")) {
      family.natives.push_back({ReplaceFirst(name, "block_sparse_moe.input_linear.weight",
                                             "mlp.experts.gate_and_up_projs"),
                                {kExperts, kHidden, 2 * kIntermediate},
                                [name = name](const HfTensors& all, const Index& index) {
                                  return ValueAt(all, name, {index[0], index[2], index[1]});
                                }});
    } else if (name.ends_with("output_linear.weight")) {
      family.natives.push_back({ReplaceFirst(name, "block_sparse_moe.output_linear.weight",
                                             "mlp.experts.down_projs"),
                                {kExperts, kIntermediate, kHidden},
                                [name = name](const HfTensors& all, const Index& index) {
                                  return ValueAt(all, name, {index[0], index[2], index[1]});
                                }});
    } else {
      family.natives.push_back(testing::Same(
          family.tensors, ReplaceFirst(name, "block_sparse_moe.router.layer", "mlp.gate"), name));
    }
  }
  return family;
}

// Loads every rank of `world_size` (experts and rows sharded along dimension
// 0) and compares each element with the reference.
void LoadEveryRank(const Family& family, const Checkpoint& checkpoint, uint32_t world_size) {
  uint64_t compared = 0;
  for (uint32_t rank = 0; rank < world_size; ++rank) {
    SCOPED_TRACE("rank " + std::to_string(rank) + " of " + std::to_string(world_size));
    ModelState model;
    for (const NativeExpectation& native : family.natives) {
      ExpectedTensor tensor;
      tensor.name = native.name;
      tensor.dtype = DType::kBF16;
      tensor.shape = native.shape;
      ASSERT_TRUE(model.Add(std::move(tensor)).ok()) << native.name;
    }
    ShardingLayout layout;
    layout.rank = rank;
    layout.world_size = world_size;
    layout.rules = {{".", Sharding::Shard(0)}};
    ASSERT_TRUE(ApplySharding(layout, model).ok());
    std::map<std::string, std::vector<std::byte>> storage;
    for (ExpectedTensor& tensor : model.mutable_tensors()) {
      std::vector<std::byte>& memory = storage[tensor.name];
      memory.resize(ByteSize(tensor.dtype, tensor.LocalShape()).value());
      tensor.data = memory.data();
      tensor.data_bytes = memory.size();
    }
    LoadOptions options;
    options.adapter = family.adapter;
    options.policy = Policy::kStrict;
    options.threads = 2;

    Result<LoadReport> report = LoadCheckpoint(checkpoint, model, options);

    ASSERT_TRUE(report.ok()) << report.status().ToString();
    ASSERT_FALSE(report->rejected) << FormatReportText(*report);
    EXPECT_EQ(report->loaded.size(), family.natives.size());

    for (const NativeExpectation& native : family.natives) {
      const ExpectedTensor* tensor = model.Find(native.name);
      const Hyperslab slab = tensor->slice.value_or(Hyperslab::Whole(tensor->shape));
      const Shape local = slab.shape();
      const std::vector<std::byte>& memory = storage[native.name];
      Index global(local.size());
      for (uint64_t element = 0; element < testing::Elements(local); ++element) {
        uint64_t rest = element;
        for (size_t dim = local.size(); dim-- > 0;) {
          global[dim] = slab.ranges[dim].start + rest % local[dim];
          rest /= local[dim];
        }
        uint16_t bits;
        std::memcpy(&bits, memory.data() + 2 * element, 2);
        ASSERT_EQ(testing::DecodeBF16(bits), native.value(family.tensors, global))
            << native.name << " element " << element;
        ++compared;
      }
    }
  }
  uint64_t total = 0;
  for (const NativeExpectation& native : family.natives) total += testing::Elements(native.shape);
  EXPECT_EQ(compared, total);
}

TEST(CorpusAdapterTest, MixtralIndexLoadsThroughAdapter) {
  SAFECKPT_REQUIRE_CORPUS(corpus);
  const std::string index =
      corpus + "/index/tbressers__WizardLM-2-8x22B__root/model.safetensors.index.json";
  const std::map<std::string, std::string> weight_map = ReadWeightMap(index);
  ASSERT_EQ(weight_map.size(), 1739u);
  const Family family = MixtralFromIndex(weight_map);
  TempDir dir;
  const Checkpoint checkpoint = WriteLikeIndex(dir, family.tensors, weight_map);
  ASSERT_EQ(checkpoint.files().size(), 59u);

  // 56 layers of 8 experts stack into 112 tensors; the other 395 stay.
  EXPECT_EQ(family.natives.size(), 112u + 395u);
  for (uint32_t world_size : {1u, 3u}) LoadEveryRank(family, checkpoint, world_size);
}

TEST(CorpusAdapterTest, GraniteMoeIndexLoadsThroughAdapter) {
  SAFECKPT_REQUIRE_CORPUS(corpus);
  const std::string index = corpus +
                            "/index/jeremieconte__granite-3.1-1b-a400m-instruct__root/"
                            "model.safetensors.index.json";
  const std::map<std::string, std::string> weight_map = ReadWeightMap(index);
  ASSERT_EQ(weight_map.size(), 218u);
  const Family family = GraniteFromIndex(weight_map);
  TempDir dir;
  const Checkpoint checkpoint = WriteLikeIndex(dir, family.tensors, weight_map);

  for (uint32_t world_size : {1u, 4u}) LoadEveryRank(family, checkpoint, world_size);
}

}  // namespace
}  // namespace safeckpt
