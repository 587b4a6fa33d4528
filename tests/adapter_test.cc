// Layout adapters: every family's generated checkpoint loaded by every rank
// of world sizes 1 to 4 (experts and rows split unevenly), each destination
// compared element by element with a naive reference built from the Hugging
// Face tensors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "adapt/component_rename.h"
#include "adapt/dequantize.h"
#include "adapter_fixtures.h"
#include "load/convert.h"
#include "safeckpt/adapter.h"
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

constexpr uint64_t kLayers = 2;

std::string Layer(uint64_t layer) { return "model.layers." + std::to_string(layer); }

// Embedding, final norm, LM head and each layer's attention projection: the
// tensors every family has under the same names.
void AddDenseTensors(Family& family, uint64_t hidden, uint32_t& seed) {
  using testing::Add;
  Add(family.tensors, MakeTensor("model.embed_tokens.weight", DType::kBF16, {10, hidden}, ++seed));
  Add(family.tensors, MakeTensor("model.norm.weight", DType::kBF16, {hidden}, ++seed));
  Add(family.tensors, MakeTensor("lm_head.weight", DType::kBF16, {10, hidden}, ++seed));
  for (uint64_t layer = 0; layer < kLayers; ++layer) {
    Add(family.tensors, MakeTensor(Layer(layer) + ".self_attn.q_proj.weight", DType::kBF16,
                                   {hidden, hidden}, ++seed));
  }
  for (const auto& [name, tensor] : family.tensors) {
    family.natives.push_back(testing::Same(family.tensors, name, name));
  }
}

// Per-expert families: PREFIX.experts.E.{gate,up,down}.weight.
void AddPerExpertExperts(Family& family, const std::string& hf_block,
                         const std::string& native_block, const std::string& gate,
                         const std::string& up, const std::string& down, uint64_t experts,
                         uint64_t hidden, uint64_t intermediate, uint32_t& seed,
                         const std::string& layer_prefix = "model.layers.",
                         const std::string& native_layer_prefix = "model.layers.") {
  for (uint64_t layer = 0; layer < kLayers; ++layer) {
    const std::string prefix = layer_prefix + std::to_string(layer) + "." + hf_block;
    for (uint64_t expert = 0; expert < experts; ++expert) {
      const std::string base = prefix + ".experts." + std::to_string(expert) + ".";
      if (!gate.empty()) {
        testing::Add(family.tensors, MakeTensor(base + gate + ".weight", DType::kBF16,
                                                {intermediate, hidden}, ++seed));
      }
      testing::Add(family.tensors,
                   MakeTensor(base + up + ".weight", DType::kBF16, {intermediate, hidden}, ++seed));
      testing::Add(family.tensors,
                   MakeTensor(base + down + ".weight", DType::kBF16, {hidden, intermediate}, ++seed));
    }
    testing::AddPerExpertStack(family.natives, prefix,
                               native_layer_prefix + std::to_string(layer) + "." + native_block,
                               gate, up, down, experts, hidden, intermediate);
  }
}

Family Mixtral() {
  Family family{"mixtral", "mixtral", {}, {}};
  uint32_t seed = 0;
  AddDenseTensors(family, 6, seed);
  for (uint64_t layer = 0; layer < kLayers; ++layer) {
    const std::string router = Layer(layer) + ".block_sparse_moe.gate.weight";
    testing::Add(family.tensors, MakeTensor(router, DType::kBF16, {5, 6}, ++seed));
    family.natives.push_back(
        testing::Same(family.tensors, Layer(layer) + ".mlp.gate.weight", router));
  }
  AddPerExpertExperts(family, "block_sparse_moe", "mlp", "w1", "w3", "w2", 5, 6, 4, seed);
  return family;
}

Family QwenMoe() {
  Family family{"qwen_moe", "qwen2_moe", {}, {}};
  uint32_t seed = 100;
  AddDenseTensors(family, 6, seed);
  for (uint64_t layer = 0; layer < kLayers; ++layer) {
    const std::string mlp = Layer(layer) + ".mlp.";
    for (const char* name : {"gate.weight", "shared_expert_gate.weight"}) {
      const Shape shape = std::string(name) == "gate.weight" ? Shape{5, 6} : Shape{1, 6};
      testing::Add(family.tensors, MakeTensor(mlp + name, DType::kBF16, shape, ++seed));
      family.natives.push_back(testing::Same(family.tensors, mlp + name, mlp + name));
    }
    for (const char* projection : {"gate_proj", "up_proj", "down_proj"}) {
      const std::string name = mlp + "shared_expert." + projection + ".weight";
      const Shape shape = std::string(projection) == "down_proj" ? Shape{6, 8} : Shape{8, 6};
      testing::Add(family.tensors, MakeTensor(name, DType::kBF16, shape, ++seed));
      family.natives.push_back(testing::Same(family.tensors, name, name));
    }
  }
  AddPerExpertExperts(family, "mlp", "mlp", "gate_proj", "up_proj", "down_proj", 5, 6, 4, seed);
  return family;
}

Family NemotronH() {
  Family family{"nemotron_h", "nemotron_h", {}, {}};
  uint32_t seed = 200;
  using testing::Add;
  Add(family.tensors, MakeTensor("backbone.embeddings.weight", DType::kBF16, {10, 6}, ++seed));
  Add(family.tensors, MakeTensor("backbone.norm_f.weight", DType::kBF16, {6}, ++seed));
  family.natives.push_back(
      testing::Same(family.tensors, "model.embed_tokens.weight", "backbone.embeddings.weight"));
  family.natives.push_back(
      testing::Same(family.tensors, "model.norm.weight", "backbone.norm_f.weight"));
  for (uint64_t layer = 0; layer < kLayers; ++layer) {
    const std::string hf = "backbone.layers." + std::to_string(layer);
    for (const auto& [name, shape] : std::vector<std::pair<std::string, Shape>>{
             {".norm.weight", {6}}, {".mixer.gate.weight", {5, 6}}}) {
      Add(family.tensors, MakeTensor(hf + name, DType::kBF16, shape, ++seed));
      family.natives.push_back(testing::Same(family.tensors, Layer(layer) + name, hf + name));
    }
  }
  AddPerExpertExperts(family, "mixer", "mixer", "", "up_proj", "down_proj", 5, 6, 4, seed,
                      "backbone.layers.", "model.layers.");
  return family;
}

// Grouped gate_up [E, 2I, H] and down [E, H, I], transposed.
void AddGroupedTransposed(Family& family, const std::string& hf_block, const std::string& gate_up,
                          const std::string& down, const std::string& native_block,
                          uint64_t experts, uint64_t hidden, uint64_t intermediate, uint32_t& seed) {
  for (uint64_t layer = 0; layer < kLayers; ++layer) {
    const std::string hf = Layer(layer) + "." + hf_block + ".";
    const std::string native = Layer(layer) + "." + native_block + ".experts.";
    testing::Add(family.tensors, MakeTensor(hf + gate_up, DType::kBF16,
                                            {experts, 2 * intermediate, hidden}, ++seed));
    testing::Add(family.tensors,
                 MakeTensor(hf + down, DType::kBF16, {experts, hidden, intermediate}, ++seed));
    const std::string gate_up_name = hf + gate_up;
    const std::string down_name = hf + down;
    family.natives.push_back({native + "gate_and_up_projs",
                              {experts, hidden, 2 * intermediate},
                              [gate_up_name](const HfTensors& all, const Index& index) {
                                return ValueAt(all, gate_up_name, {index[0], index[2], index[1]});
                              }});
    family.natives.push_back({native + "down_projs",
                              {experts, intermediate, hidden},
                              [down_name](const HfTensors& all, const Index& index) {
                                return ValueAt(all, down_name, {index[0], index[2], index[1]});
                              }});
  }
}

Family Qwen35Moe() {
  Family family{"qwen3_5_moe", "qwen3_5_moe", {}, {}};
  uint32_t seed = 300;
  AddDenseTensors(family, 6, seed);
  AddGroupedTransposed(family, "mlp", "experts.gate_up_proj", "experts.down_proj", "mlp", 5, 6, 4,
                       seed);
  return family;
}

Family GraniteMoe() {
  Family family{"granitemoe", "granitemoe", {}, {}};
  uint32_t seed = 400;
  AddDenseTensors(family, 6, seed);
  for (uint64_t layer = 0; layer < kLayers; ++layer) {
    const std::string router = Layer(layer) + ".block_sparse_moe.router.layer.weight";
    testing::Add(family.tensors, MakeTensor(router, DType::kBF16, {5, 6}, ++seed));
    family.natives.push_back(
        testing::Same(family.tensors, Layer(layer) + ".mlp.gate.weight", router));
  }
  AddGroupedTransposed(family, "block_sparse_moe", "input_linear.weight", "output_linear.weight",
                       "mlp", 5, 6, 4, seed);
  return family;
}

// GPT-OSS column `column` of the native gate-and-up dimension: gate k is
// interleaved column 2k, up k is column 2k + 1.
uint64_t Interleaved(uint64_t column, uint64_t intermediate) {
  return column < intermediate ? 2 * column : 2 * (column - intermediate) + 1;
}

void AddGptOssRouter(Family& family, uint64_t layer, uint64_t experts, uint64_t hidden,
                     uint32_t& seed) {
  const std::string mlp = Layer(layer) + ".mlp.";
  testing::Add(family.tensors,
               MakeTensor(mlp + "router.weight", DType::kBF16, {experts, hidden}, ++seed));
  testing::Add(family.tensors, MakeTensor(mlp + "router.bias", DType::kBF16, {experts}, ++seed));
  family.natives.push_back(testing::Same(family.tensors, mlp + "gate.weight", mlp + "router.weight"));
  family.natives.push_back(testing::Same(family.tensors, mlp + "gate.bias", mlp + "router.bias"));
}

// GPT-OSS biases: gate_up_proj_bias [E, 2I] interleaved, down_proj_bias [E, H].
void AddGptOssBiases(Family& family, uint64_t layer, uint64_t experts, uint64_t hidden,
                     uint64_t intermediate, uint32_t& seed) {
  const std::string hf = Layer(layer) + ".mlp.experts.";
  testing::Add(family.tensors, MakeTensor(hf + "gate_up_proj_bias", DType::kBF16,
                                          {experts, 2 * intermediate}, ++seed));
  testing::Add(family.tensors,
               MakeTensor(hf + "down_proj_bias", DType::kBF16, {experts, hidden}, ++seed));
  const std::string bias = hf + "gate_up_proj_bias";
  family.natives.push_back({hf + "gate_and_up_projs_bias",
                            {experts, 2 * intermediate},
                            [bias, intermediate](const HfTensors& all, const Index& index) {
                              return ValueAt(all, bias, {index[0], Interleaved(index[1], intermediate)});
                            }});
  family.natives.push_back(
      testing::Same(family.tensors, hf + "down_projs_bias", hf + "down_proj_bias"));
}

Family GptOss() {
  Family family{"gpt_oss", "gpt_oss", {}, {}};
  uint32_t seed = 500;
  const uint64_t experts = 5;
  const uint64_t hidden = 6;
  const uint64_t intermediate = 4;
  AddDenseTensors(family, hidden, seed);
  for (uint64_t layer = 0; layer < kLayers; ++layer) {
    AddGptOssRouter(family, layer, experts, hidden, seed);
    AddGptOssBiases(family, layer, experts, hidden, intermediate, seed);
    const std::string hf = Layer(layer) + ".mlp.experts.";
    testing::Add(family.tensors, MakeTensor(hf + "gate_up_proj", DType::kBF16,
                                            {experts, hidden, 2 * intermediate}, ++seed));
    testing::Add(family.tensors, MakeTensor(hf + "down_proj", DType::kBF16,
                                            {experts, intermediate, hidden}, ++seed));
    const std::string gate_up = hf + "gate_up_proj";
    family.natives.push_back(
        {hf + "gate_and_up_projs",
         {experts, hidden, 2 * intermediate},
         [gate_up](const HfTensors& all, const Index& index) {
           return ValueAt(all, gate_up, {index[0], index[1], Interleaved(index[2], intermediate)});
         }});
    family.natives.push_back(testing::Same(family.tensors, hf + "down_projs", hf + "down_proj"));
  }
  return family;
}

// The value MXFP4 tensor X (X_blocks [..., rows, groups, 16], X_scales
// [..., rows, groups]) holds at [expert, row, column].
double Mxfp4At(const HfTensors& all, const std::string& name, uint64_t expert, uint64_t row,
               uint64_t column) {
  const testing::HfTensor& blocks = all.at(name + "_blocks");
  const uint64_t group = column / 32;
  const uint64_t byte = (column % 32) / 2;
  const uint8_t pair =
      blocks.bytes[testing::Offset(blocks.shape, {expert, row, group, byte})];
  const uint8_t nibble = column % 2 == 0 ? pair & 0x0f : pair >> 4;
  static const double kValues[8] = {0, 0.5, 1, 1.5, 2, 3, 4, 6};
  const double value = (nibble & 8) != 0 ? -kValues[nibble & 7] : kValues[nibble & 7];
  const double scale = ValueAt(all, name + "_scales", {expert, row, group});
  return value * std::ldexp(1.0, static_cast<int>(scale) - 127);
}

Family GptOssMxfp4() {
  Family family{"gpt_oss", "gpt_oss", {}, {}};
  uint32_t seed = 600;
  const uint64_t experts = 5;
  const uint64_t hidden = 64;
  const uint64_t intermediate = 32;
  AddDenseTensors(family, hidden, seed);
  for (uint64_t layer = 0; layer < kLayers; ++layer) {
    AddGptOssRouter(family, layer, experts, hidden, seed);
    AddGptOssBiases(family, layer, experts, hidden, intermediate, seed);
    const std::string hf = Layer(layer) + ".mlp.experts.";
    testing::Add(family.tensors, MakeTensor(hf + "gate_up_proj_blocks", DType::kU8,
                                            {experts, 2 * intermediate, hidden / 32, 16}, ++seed));
    testing::Add(family.tensors, MakeTensor(hf + "gate_up_proj_scales", DType::kU8,
                                            {experts, 2 * intermediate, hidden / 32}, ++seed));
    testing::Add(family.tensors, MakeTensor(hf + "down_proj_blocks", DType::kU8,
                                            {experts, hidden, intermediate / 32, 16}, ++seed));
    testing::Add(family.tensors, MakeTensor(hf + "down_proj_scales", DType::kU8,
                                            {experts, hidden, intermediate / 32}, ++seed));
    const std::string gate_up = hf + "gate_up_proj";
    const std::string down = hf + "down_proj";
    family.natives.push_back(
        {hf + "gate_and_up_projs",
         {experts, hidden, 2 * intermediate},
         [gate_up](const HfTensors& all, const Index& index) {
           return Mxfp4At(all, gate_up, index[0], Interleaved(index[2], intermediate), index[1]);
         },
         true});
    family.natives.push_back({hf + "down_projs",
                              {experts, intermediate, hidden},
                              [down](const HfTensors& all, const Index& index) {
                                return Mxfp4At(all, down, index[0], index[2], index[1]);
                              },
                              true});
  }
  return family;
}

// DeepSeek-V3 FP8: weight F8_E4M3 [out, in] and weight_scale_inv F32
// [ceil(out / 128), ceil(in / 128)]; the reference multiplies each value by
// the scale of its global block.
void AddFp8Weight(Family& family, const std::string& hf, const std::string& native, Shape shape,
                  uint32_t& seed) {
  testing::Add(family.tensors, MakeTensor(hf, DType::kF8_E4M3, shape, ++seed));
  testing::Add(family.tensors, MakeTensor(hf + "_scale_inv", DType::kF32,
                                          {(shape[0] + 127) / 128, (shape[1] + 127) / 128},
                                          ++seed));
  family.natives.push_back({native, shape,
                            [hf](const HfTensors& all, const Index& index) {
                              return ValueAt(all, hf, index) *
                                     ValueAt(all, hf + "_scale_inv",
                                             {index[0] / 128, index[1] / 128});
                            },
                            true});
}

double Fp8ExpertAt(const HfTensors& all, const std::string& name, uint64_t row, uint64_t column) {
  return ValueAt(all, name, {row, column}) *
         ValueAt(all, name + "_scale_inv", {row / 128, column / 128});
}

Family DeepSeekV3() {
  Family family{"deepseek_v3", "deepseek_v3", {}, {}};
  uint32_t seed = 700;
  const uint64_t experts = 3;
  const uint64_t hidden = 200;
  const uint64_t intermediate = 130;
  testing::Add(family.tensors, MakeTensor("model.norm.weight", DType::kBF16, {hidden}, ++seed));
  family.natives.push_back(testing::Same(family.tensors, "model.norm.weight", "model.norm.weight"));
  const std::string layer = Layer(0);
  AddFp8Weight(family, layer + ".self_attn.q_proj.weight", layer + ".self_attn.q_proj.weight",
               {300, hidden}, seed);
  AddFp8Weight(family, layer + ".mlp.shared_experts.gate_proj.weight",
               layer + ".mlp.shared_experts.gate_proj.weight", {intermediate, hidden}, seed);

  auto name = [layer](uint64_t expert, const std::string& projection) {
    return layer + ".mlp.experts." + std::to_string(expert) + "." + projection + ".weight";
  };
  for (uint64_t expert = 0; expert < experts; ++expert) {
    for (const char* projection : {"gate_proj", "up_proj", "down_proj"}) {
      const Shape shape = std::string(projection) == "down_proj" ? Shape{hidden, intermediate}
                                                                 : Shape{intermediate, hidden};
      testing::Add(family.tensors, MakeTensor(name(expert, projection), DType::kF8_E4M3, shape, ++seed));
      testing::Add(family.tensors, MakeTensor(name(expert, projection) + "_scale_inv", DType::kF32,
                                              {(shape[0] + 127) / 128, (shape[1] + 127) / 128},
                                              ++seed));
    }
  }
  family.natives.push_back(
      {layer + ".mlp.experts.gate_and_up_projs",
       {experts, hidden, 2 * intermediate},
       [name](const HfTensors& all, const Index& index) {
         const bool gate = index[2] < intermediate;
         const uint64_t row = gate ? index[2] : index[2] - intermediate;
         return Fp8ExpertAt(all, name(index[0], gate ? "gate_proj" : "up_proj"), row, index[1]);
       },
       true});
  family.natives.push_back({layer + ".mlp.experts.down_projs",
                            {experts, intermediate, hidden},
                            [name](const HfTensors& all, const Index& index) {
                              return Fp8ExpertAt(all, name(index[0], "down_proj"), index[2],
                                                 index[1]);
                            },
                            true});
  return family;
}

// Experts split by expert parallelism and everything else by FSDP2 rows:
// both are dimension-0 shards, so one rule covers every tensor.
ShardingLayout RankLayout(uint32_t rank, uint32_t world_size) {
  ShardingLayout layout;
  layout.rank = rank;
  layout.world_size = world_size;
  layout.rules = {{"\\.experts\\.", Sharding::Shard(0)}, {".", Sharding::Shard(0)}};
  return layout;
}

// Destination element `offset` as a double.
double DestinationAt(const std::vector<std::byte>& memory, DType dtype, uint64_t offset) {
  if (dtype == DType::kF32) {
    float value;
    std::memcpy(&value, memory.data() + 4 * offset, 4);
    return value;
  }
  uint16_t bits;
  std::memcpy(&bits, memory.data() + 2 * offset, 2);
  return testing::DecodeBF16(bits);
}

class AdapterFamilyTest : public ::testing::TestWithParam<Family (*)()> {
 protected:
  void SetUp() override {
    family_ = GetParam()();
    checkpoint_ = testing::WriteCheckpoint(dir_, family_.tensors, family_.model_type);
  }

  // Loads rank `rank` of `world_size` into fresh destinations: BF16 for
  // tensors copied as they are, F32 for dequantized ones.
  Result<LoadReport> LoadRank(uint32_t rank, uint32_t world_size, ModelState& model,
                              std::map<std::string, std::vector<std::byte>>& storage) {
    for (const NativeExpectation& native : family_.natives) {
      ExpectedTensor tensor;
      tensor.name = native.name;
      tensor.dtype = native.decoded ? DType::kF32 : DType::kBF16;
      tensor.shape = native.shape;
      EXPECT_TRUE(model.Add(std::move(tensor)).ok()) << native.name;
    }
    Status sharded = ApplySharding(RankLayout(rank, world_size), model);
    EXPECT_TRUE(sharded.ok()) << sharded.ToString();
    for (ExpectedTensor& tensor : model.mutable_tensors()) {
      std::vector<std::byte>& memory = storage[tensor.name];
      memory.assign(ByteSize(tensor.dtype, tensor.LocalShape()).value(), std::byte{0xee});
      tensor.data = memory.data();
      tensor.data_bytes = memory.size();
    }
    LoadOptions options;
    options.adapter = family_.adapter;
    options.policy = Policy::kStrict;
    options.threads = 2;
    options.rank = rank;
    options.world_size = world_size;
    return LoadCheckpoint(checkpoint_, model, options);
  }

  // Compares every element of each destination with the reference at its
  // global index; returns the number of elements compared.
  uint64_t CompareWithReference(const ModelState& model,
                                const std::map<std::string, std::vector<std::byte>>& storage) {
    uint64_t compared = 0;
    for (const NativeExpectation& native : family_.natives) {
      const ExpectedTensor* tensor = model.Find(native.name);
      const Hyperslab slab = tensor->slice.value_or(Hyperslab::Whole(tensor->shape));
      const Shape local = slab.shape();
      const uint64_t count = testing::Elements(local);
      if (count == 0) continue;
      Index global(local.size());
      for (uint64_t element = 0; element < count; ++element) {
        uint64_t rest = element;
        for (size_t dim = local.size(); dim-- > 0;) {
          global[dim] = slab.ranges[dim].start + rest % local[dim];
          rest /= local[dim];
        }
        const double expected = native.value(family_.tensors, global);
        const double found = DestinationAt(storage.at(native.name), tensor->dtype, element);
        const bool equal = native.decoded
                               ? std::fabs(found - expected) <= testing::HalfUlpF32(found)
                               : std::memcmp(&found, &expected, sizeof found) == 0;
        if (!equal) {
          ADD_FAILURE() << native.name << " element " << element << " found " << found
                        << " expected " << expected;
          return compared;
        }
        ++compared;
      }
    }
    return compared;
  }

  TempDir dir_;
  Family family_;
  Checkpoint checkpoint_;
};

TEST_P(AdapterFamilyTest, EveryRankMatchesNaiveReference) {
  for (uint32_t world = 1; world <= 4; ++world) {
    uint64_t compared = 0;
    for (uint32_t rank = 0; rank < world; ++rank) {
      SCOPED_TRACE(family_.adapter + " rank " + std::to_string(rank) + " of " +
                   std::to_string(world));
      ModelState model;
      std::map<std::string, std::vector<std::byte>> storage;

      Result<LoadReport> report = LoadRank(rank, world, model, storage);

      ASSERT_TRUE(report.ok()) << report.status().ToString();
      EXPECT_FALSE(report->rejected) << FormatReportText(*report);
      EXPECT_TRUE(report->missing.empty()) << FormatReportText(*report);
      EXPECT_TRUE(report->unexpected.empty()) << FormatReportText(*report);
      EXPECT_EQ(report->loaded.size(), family_.natives.size());
      EXPECT_EQ(report->rank.adapter, family_.adapter);
      compared += CompareWithReference(model, storage);
    }
    // The ranks' slices together cover every element exactly once.
    uint64_t total = 0;
    for (const NativeExpectation& native : family_.natives) total += testing::Elements(native.shape);
    EXPECT_EQ(compared, total) << "world size " << world;
  }
}

TEST_P(AdapterFamilyTest, CheckReportsWhatLoadLoads) {
  ModelState model;
  for (const NativeExpectation& native : family_.natives) {
    ExpectedTensor tensor;
    tensor.name = native.name;
    tensor.dtype = native.decoded ? DType::kF32 : DType::kBF16;
    tensor.shape = native.shape;
    ASSERT_TRUE(model.Add(std::move(tensor)).ok());
  }
  LoadOptions options;
  options.adapter = family_.adapter;
  options.read_data = false;

  Result<LoadReport> report = LoadCheckpoint(checkpoint_, model, options);

  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->loaded.size(), family_.natives.size());
  EXPECT_TRUE(report->unexpected.empty()) << FormatReportText(*report);
  EXPECT_EQ(report->rank.adapter_sources, checkpoint_.tensors().size());
}

std::string FamilyName(const ::testing::TestParamInfo<Family (*)()>& info) {
  static const char* const kNames[] = {"Mixtral",    "QwenMoe", "NemotronH",   "Qwen35Moe",
                                       "GraniteMoe", "GptOss",  "GptOssMxfp4", "DeepSeekV3"};
  return kNames[info.index];
}

INSTANTIATE_TEST_SUITE_P(Families, AdapterFamilyTest,
                         ::testing::Values(&Mixtral, &QwenMoe, &NemotronH, &Qwen35Moe,
                                           &GraniteMoe, &GptOss, &GptOssMxfp4, &DeepSeekV3),
                         FamilyName);

// --- Expert parallelism -------------------------------------------------------

class ExpertParallelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    family_ = Mixtral();
    checkpoint_ = testing::WriteCheckpoint(dir_, family_.tensors, family_.model_type);
  }

  // Experts sharded over `world_size` ranks, everything else replicated.
  ModelState Model(uint32_t rank, uint32_t world_size,
                   std::map<std::string, std::vector<std::byte>>& storage) {
    ModelState model;
    for (const NativeExpectation& native : family_.natives) {
      ExpectedTensor tensor;
      tensor.name = native.name;
      tensor.dtype = DType::kBF16;
      tensor.shape = native.shape;
      EXPECT_TRUE(model.Add(std::move(tensor)).ok());
    }
    ShardingLayout layout;
    layout.rank = rank;
    layout.world_size = world_size;
    layout.rules = {{"\\.experts\\.", Sharding::Shard(0)}};
    EXPECT_TRUE(ApplySharding(layout, model).ok());
    for (ExpectedTensor& tensor : model.mutable_tensors()) {
      std::vector<std::byte>& memory = storage[tensor.name];
      memory.assign(ByteSize(tensor.dtype, tensor.LocalShape()).value(), std::byte{0});
      tensor.data = memory.data();
      tensor.data_bytes = memory.size();
    }
    return model;
  }

  Result<LoadReport> Load(ModelState& model) {
    LoadOptions options;
    options.adapter = "mixtral";
    options.threads = 2;
    return LoadCheckpoint(checkpoint_, model, options);
  }

  TempDir dir_;
  Family family_;
  Checkpoint checkpoint_;
};

TEST_F(ExpertParallelTest, RankReadsOnlyItsExperts) {
  for (uint32_t rank = 0; rank < 4; ++rank) {
    std::map<std::string, std::vector<std::byte>> storage;
    ModelState model = Model(rank, 4, storage);

    Result<LoadReport> report = Load(model);

    ASSERT_TRUE(report.ok()) << report.status().ToString();
    // Five experts over four ranks: 2, 2, 1 and none.
    const IndexRange owned = ChunkRange(5, rank, 4);
    uint64_t share = 0;
    for (const auto& [name, tensor] : family_.tensors) {
      const size_t experts = name.find(".experts.");
      if (experts == std::string::npos) {
        share += tensor.bytes.size();
        continue;
      }
      const uint64_t expert = std::stoull(name.substr(experts + 9));
      if (expert >= owned.start && expert < owned.stop) share += tensor.bytes.size();
    }
    EXPECT_EQ(report->read.bytes, share) << "rank " << rank;
    EXPECT_TRUE(report->missing.empty());
    EXPECT_TRUE(report->unexpected.empty());
  }
}

TEST_F(ExpertParallelTest, MissingExpertIsMissingOnlyWhereOwned) {
  family_.tensors.erase("model.layers.1.block_sparse_moe.experts.4.w3.weight");
  TempDir dir;
  checkpoint_ = testing::WriteCheckpoint(dir, family_.tensors, "mixtral");

  for (uint32_t rank = 0; rank < 2; ++rank) {
    std::map<std::string, std::vector<std::byte>> storage;
    ModelState model = Model(rank, 2, storage);

    Result<LoadReport> report = Load(model);

    ASSERT_TRUE(report.ok()) << report.status().ToString();
    const bool owns_expert_4 = rank == 1;
    const std::vector<std::string> missing =
        owns_expert_4 ? std::vector<std::string>{"model.layers.1.mlp.experts.gate_and_up_projs"}
                      : std::vector<std::string>{};
    EXPECT_EQ(report->missing, missing) << "rank " << rank;
    EXPECT_TRUE(report->unexpected.empty()) << "rank " << rank;
  }
}

TEST_F(ExpertParallelTest, ReportNamesAdapterAndRank) {
  std::map<std::string, std::vector<std::byte>> storage;
  ModelState model = Model(1, 2, storage);
  LoadOptions options;
  options.adapter = "mixtral";
  options.rank = 1;
  options.world_size = 2;

  Result<LoadReport> report = LoadCheckpoint(checkpoint_, model, options);

  ASSERT_TRUE(report.ok()) << report.status().ToString();
  const std::string text = FormatReportText(*report);
  EXPECT_NE(text.find("rank 1 of 2: 4 of"), std::string::npos) << text;
  EXPECT_NE(text.find("adapter mixtral: read from"), std::string::npos) << text;
  EXPECT_NE(FormatReportJson(*report).find("\"adapter\": \"mixtral\""), std::string::npos);
}

// --- Errors -------------------------------------------------------------------

TEST(AdapterErrorTest, UnknownAdapterListsKnownOnes) {
  TempDir dir;
  Checkpoint checkpoint = testing::WriteCheckpoint(dir, Mixtral().tensors, "mixtral");
  ModelState model;
  LoadOptions options;
  options.adapter = "llama";
  options.read_data = false;

  EXPECT_ERROR(LoadCheckpoint(checkpoint, model, options), ErrorId::kAdapterInvalid,
               "unknown adapter 'llama'; known adapters: mixtral, qwen_moe");
}

TEST(AdapterErrorTest, ExpertsOfDifferentShapesAreRejected) {
  Family family = Mixtral();
  family.tensors["model.layers.0.block_sparse_moe.experts.3.w1.weight"] = MakeTensor(
      "model.layers.0.block_sparse_moe.experts.3.w1.weight", DType::kBF16, {5, 6}, 9);
  TempDir dir;
  Checkpoint checkpoint = testing::WriteCheckpoint(dir, family.tensors, "mixtral");
  ModelState model;
  LoadOptions options;
  options.adapter = "mixtral";
  options.read_data = false;

  EXPECT_ERROR(LoadCheckpoint(checkpoint, model, options), ErrorId::kAdapterInvalid,
               "'model.layers.0.block_sparse_moe.experts.3.w1.weight' is [5, 6]");
}

TEST(AdapterErrorTest, Fp8ScaleOfWrongShapeIsRejected) {
  Family family = DeepSeekV3();
  const std::string scale = "model.layers.0.self_attn.q_proj.weight_scale_inv";
  family.tensors[scale] = MakeTensor(scale, DType::kF32, {2, 2}, 3);
  TempDir dir;
  Checkpoint checkpoint = testing::WriteCheckpoint(dir, family.tensors, "deepseek_v3");
  ModelState model;
  LoadOptions options;
  options.adapter = "deepseek_v3";
  options.read_data = false;

  EXPECT_ERROR(LoadCheckpoint(checkpoint, model, options), ErrorId::kAdapterInvalid,
               "expected an F32, BF16 or F16 scale of shape [3, 2]");
}

TEST(AdapterErrorTest, DequantizingIntoF8IsUnsupported) {
  Family family = DeepSeekV3();
  TempDir dir;
  Checkpoint checkpoint = testing::WriteCheckpoint(dir, family.tensors, "deepseek_v3");
  ModelState model;
  ExpectedTensor tensor;
  tensor.name = "model.layers.0.self_attn.q_proj.weight";
  tensor.dtype = DType::kF8_E4M3;
  tensor.shape = {300, 200};
  ASSERT_TRUE(model.Add(tensor).ok());
  LoadOptions options;
  options.adapter = "deepseek_v3";
  options.read_data = false;

  EXPECT_ERROR(LoadCheckpoint(checkpoint, model, options), ErrorId::kUnsupportedConversion,
               "dequantizes only into F64, F32, F16 or BF16, not F8_E4M3");
}

// --- Building blocks ----------------------------------------------------------

TEST(E8M0Test, DecodesPowersOfTwoAndNaN) {
  EXPECT_EQ(internal::DecodeE8M0(127), 1.0);
  EXPECT_EQ(internal::DecodeE8M0(128), 2.0);
  EXPECT_EQ(internal::DecodeE8M0(0), std::ldexp(1.0, -127));
  EXPECT_EQ(internal::DecodeE8M0(254), std::ldexp(1.0, 127));
  EXPECT_TRUE(std::isnan(internal::DecodeE8M0(255)));
}

TEST(E2M1Test, DecodesEveryCode) {
  const double expected[16] = {0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.0, -0.5, -1, -1.5, -2, -3, -4, -6};
  for (uint8_t code = 0; code < 16; ++code) {
    EXPECT_EQ(internal::DecodeE2M1(code), expected[code]) << int{code};
  }
  EXPECT_TRUE(std::signbit(internal::DecodeE2M1(8)));
}

TEST(ComponentRenameTest, MatchesWholeComponentsOnly) {
  const std::vector<internal::ComponentRename> renames = {{"backbone.norm_f", "model.norm", true},
                                                          {"backbone", "model", true},
                                                          {"embeddings", "embed_tokens"}};
  EXPECT_EQ(internal::RenameToNative("backbone.norm_f.weight", renames), "model.norm.weight");
  EXPECT_EQ(internal::RenameToNative("backbone.embeddings.weight", renames),
            "model.embed_tokens.weight");
  EXPECT_EQ(internal::RenameToNative("backbone_x.embeddings_y.weight", renames),
            "backbone_x.embeddings_y.weight");
  EXPECT_EQ(internal::RenameToNative("x.backbone.weight", renames), "x.backbone.weight");
}

TEST(ComponentRenameTest, ReverseUndoesForward) {
  const std::vector<internal::ComponentRename> renames = {{"backbone.norm_f", "model.norm", true},
                                                          {"backbone", "model", true},
                                                          {"embeddings", "embed_tokens"}};
  for (const char* name : {"backbone.norm_f.weight", "backbone.layers.0.norm.weight",
                           "backbone.embeddings.weight", "backbone.layers.3.mixer.experts.1.up_proj.weight"}) {
    EXPECT_EQ(internal::RenameToHuggingFace(internal::RenameToNative(name, renames), renames), name);
  }
}

TEST(AdapterListTest, ModelTypesChooseAdapters) {
  EXPECT_EQ(AdapterForModelType("mixtral"), "mixtral");
  EXPECT_EQ(AdapterForModelType("qwen3_moe"), "qwen_moe");
  EXPECT_EQ(AdapterForModelType("gpt_oss"), "gpt_oss");
  EXPECT_EQ(AdapterForModelType("llama"), "");
  EXPECT_EQ(Adapters().size(), 7u);
}

TEST(AdapterListTest, AutoReadsConfigBesideCheckpoint) {
  TempDir dir;
  Checkpoint checkpoint = testing::WriteCheckpoint(dir, Mixtral().tensors, "mixtral");

  Result<std::string> chosen = ResolveAdapter("auto", dir.path());
  Result<std::string> none = ResolveAdapter("none", dir.path());
  Result<std::string> named = ResolveAdapter("gpt_oss", dir.path());

  ASSERT_TRUE(chosen.ok()) << chosen.status().ToString();
  EXPECT_EQ(*chosen, "mixtral");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, "");
  ASSERT_TRUE(named.ok());
  EXPECT_EQ(*named, "gpt_oss");
  EXPECT_ERROR(ResolveAdapter("mixtrall", dir.path()), ErrorId::kAdapterInvalid,
               "unknown adapter 'mixtrall'");
}

// config.json belongs to the untrusted checkpoint: each defect is named, and
// is a checkpoint error (kCorruption or an I/O error), not a usage error.
TEST(ResolveAdapterTest, InvalidConfigJsonIsACheckpointError) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{\"model_type\": ", "not valid JSON"},
      {"[1, 2]", "top level is an array"},
      {"\xef\xbb\xbf{\"model_type\": \"mixtral\"}", "byte order mark"},
      {std::string(100, '[') + std::string(100, ']'), "nests deeper than 64 levels"},
      {"{\"model_type\": 5}", "\"model_type\" is an integer, not a string"},
  };
  for (const auto& [text, part] : cases) {
    TempDir dir;
    testing::WriteFileBytes(dir.Join("config.json"), text);
    Result<std::string> adapter = ResolveAdapter("auto", dir.path());
    EXPECT_ERROR(adapter, ErrorId::kAdapterInvalid, part);
    EXPECT_EQ(adapter.status().code(), StatusCode::kCorruption) << part;
  }
}

TEST(ResolveAdapterTest, DanglingConfigSymlinkIsReported) {
  TempDir dir;
  std::filesystem::create_symlink("../blobs/missing", dir.Join("config.json"));

  Result<std::string> adapter = ResolveAdapter("auto", dir.path());

  EXPECT_FALSE(adapter.ok());
  EXPECT_NE(adapter.status().message().find("config.json"), std::string::npos)
      << adapter.status().ToString();
}

TEST(ResolveAdapterTest, MissingConfigChoosesNoAdapter) {
  TempDir dir;
  Result<std::string> adapter = ResolveAdapter("auto", dir.path());
  ASSERT_TRUE(adapter.ok()) << adapter.status().ToString();
  EXPECT_EQ(*adapter, "");
}

}  // namespace
}  // namespace safeckpt

namespace safeckpt {
namespace {

// --- Save direction -------------------------------------------------------------

class SaveDirectionTest : public AdapterFamilyTest {
 protected:
  // Every rank's native slices of a world of `world_size`, with their memory.
  std::vector<NativeTensorData> AllRankSlices(uint32_t world_size) {
    std::vector<NativeTensorData> natives;
    for (uint32_t rank = 0; rank < world_size; ++rank) {
      models_.emplace_back();
      storages_.emplace_back();
      ModelState& model = models_.back();
      Result<LoadReport> report = LoadRank(rank, world_size, model, storages_.back());
      EXPECT_TRUE(report.ok()) << report.status().ToString();
      for (const ExpectedTensor& tensor : model.tensors()) {
        natives.push_back({tensor.name, tensor.dtype, tensor.shape, tensor.slice, tensor.data});
      }
    }
    return natives;
  }

  std::deque<ModelState> models_;
  std::deque<std::map<std::string, std::vector<std::byte>>> storages_;
};

TEST_P(SaveDirectionTest, AllRanksWriteBackOriginalTensors) {
  std::vector<NativeTensorData> natives = AllRankSlices(3);
  natives.push_back({"model.layers.0.self_attn._extra_state", DType::kU8, {4}, std::nullopt,
                     "\x01\x02\x03\x04"});

  Result<HfConversion> conversion = ConvertToHuggingFace(family_.adapter, natives);

  ASSERT_TRUE(conversion.ok()) << conversion.status().ToString();
  EXPECT_TRUE(conversion->incomplete.empty());
  EXPECT_EQ(conversion->excluded,
            std::vector<std::string>{"model.layers.0.self_attn._extra_state"});
  ASSERT_EQ(conversion->tensors.size(), family_.tensors.size());
  for (const HfTensorData& tensor : conversion->tensors) {
    auto original = family_.tensors.find(tensor.name);
    ASSERT_NE(original, family_.tensors.end()) << tensor.name;
    EXPECT_EQ(tensor.shape, original->second.shape) << tensor.name;
    ASSERT_EQ(tensor.bytes.size(), original->second.bytes.size()) << tensor.name;
    EXPECT_EQ(std::memcmp(tensor.bytes.data(), original->second.bytes.data(), tensor.bytes.size()), 0)
        << tensor.name;
  }
}

TEST_P(SaveDirectionTest, WrittenFileMatchesOriginalCheckpoint) {
  Result<HfConversion> conversion = ConvertToHuggingFace(family_.adapter, AllRankSlices(2));
  ASSERT_TRUE(conversion.ok()) << conversion.status().ToString();
  std::vector<TensorToWrite> tensors;
  for (const HfTensorData& tensor : conversion->tensors) {
    tensors.push_back({tensor.name, tensor.dtype, tensor.shape, tensor.bytes.data()});
  }
  TempDir out;
  ASSERT_TRUE(WriteSafetensors(out.Join("model.safetensors"), tensors).ok());

  Result<Checkpoint> written = Checkpoint::Open(out.Join("model.safetensors"));

  ASSERT_TRUE(written.ok()) << written.status().ToString();
  ASSERT_EQ(written->tensors().size(), checkpoint_.tensors().size());
  const std::string bytes = testing::ReadFileBytes(out.Join("model.safetensors"));
  for (const CheckpointTensor& tensor : written->tensors()) {
    const testing::HfTensor& original = family_.tensors.at(tensor.name);
    EXPECT_EQ(tensor.dtype, original.dtype) << tensor.name;
    EXPECT_EQ(tensor.shape, original.shape) << tensor.name;
    EXPECT_EQ(std::memcmp(bytes.data() + tensor.offset, original.bytes.data(), tensor.nbytes), 0)
        << tensor.name;
  }
}

TEST_P(SaveDirectionTest, OneRankLeavesSplitTensorsIncomplete) {
  std::vector<NativeTensorData> all = AllRankSlices(2);
  std::vector<NativeTensorData> first_rank(all.begin(), all.begin() + family_.natives.size());

  Result<HfConversion> conversion = ConvertToHuggingFace(family_.adapter, first_rank);

  ASSERT_TRUE(conversion.ok()) << conversion.status().ToString();
  EXPECT_FALSE(conversion->incomplete.empty());
  EXPECT_EQ(conversion->tensors.size() + conversion->incomplete.size(), family_.tensors.size());
}

INSTANTIATE_TEST_SUITE_P(Families, SaveDirectionTest,
                         ::testing::Values(&Mixtral, &QwenMoe, &NemotronH, &Qwen35Moe,
                                           &GraniteMoe, &GptOss),
                         FamilyName);

TEST(SaveDirectionErrorTest, ShapesOfOneTensorMustAgree) {
  const float data[4] = {1, 2, 3, 4};
  std::vector<NativeTensorData> natives = {
      {"w", DType::kF32, {4}, Hyperslab{{{0, 2}}}, data},
      {"w", DType::kF32, {5}, Hyperslab{{{2, 4}}}, data}};

  EXPECT_ERROR(ConvertToHuggingFace("none", natives), ErrorId::kSliceInvalid,
               "tensor 'w' is given as F32 [4] and as F32 [5]");
}

}  // namespace
}  // namespace safeckpt
