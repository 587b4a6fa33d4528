// Generates the demo checkpoint and its manifest.
//
// The checkpoint is a tiny hybrid mixture-of-experts model shaped like
// NVIDIA's Nemotron-H, in Hugging Face layout: 52 layers of Mamba mixers (M),
// MoE mixers (E: router, per-expert up/down projections, a shared expert) and
// attention (*: q/k/v/o projections), BF16, three shards and an index.
//
// The manifest describes the same model as a TransformerEngine-based
// framework builds it: native names (model.* instead of backbone.*), F32
// parameters, and one _extra_state entry per TransformerEngine module:
// lm_head, each shared expert's up and down projection, and each attention
// layer's q, k, v, o projections and core attention module (77 entries).
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "core/json_writer.h"
#include "io/file.h"
#include "safeckpt/manifest.h"
#include "safeckpt/writer.h"

namespace {

namespace fs = std::filesystem;
using safeckpt::DType;
using safeckpt::Shape;

// Layer kinds of Nemotron-H: M = Mamba-2 mixer, E = MoE mixer, * = attention.
constexpr std::string_view kLayerPattern = "MEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEMEM*EMEMEMEME";
constexpr int kShardCount = 3;

// Tiny dimensions; the names and the relations between shapes follow the real
// model.
struct Dimensions {
  uint64_t vocab = 512;
  uint64_t hidden = 64;
  uint64_t experts = 8;
  uint64_t expert_intermediate = 32;
  uint64_t shared_intermediate = 64;
  uint64_t mamba_heads = 8;
  uint64_t mamba_head_dim = 16;
  uint64_t mamba_state = 16;
  uint64_t mamba_groups = 1;
  uint64_t conv_kernel = 4;
  uint64_t attention_heads = 4;
  uint64_t kv_heads = 2;

  uint64_t mamba_inner() const { return mamba_heads * mamba_head_dim; }
  uint64_t conv_dim() const { return mamba_inner() + 2 * mamba_groups * mamba_state; }
  uint64_t in_proj_out() const { return 2 * mamba_inner() + 2 * mamba_groups * mamba_state + mamba_heads; }
  uint64_t head_dim() const { return hidden / attention_heads; }
};

struct HfTensor {
  std::string name;
  Shape shape;
  int layer;  // -1 for tensors outside the layers
};

std::vector<HfTensor> ListTensors(const Dimensions& d) {
  std::vector<HfTensor> tensors;
  tensors.push_back({"backbone.embeddings.weight", {d.vocab, d.hidden}, -1});
  for (int layer = 0; layer < static_cast<int>(kLayerPattern.size()); ++layer) {
    std::string prefix = fmt::format("backbone.layers.{}.", layer);
    tensors.push_back({prefix + "norm.weight", {d.hidden}, layer});
    std::string mixer = prefix + "mixer.";
    switch (kLayerPattern[layer]) {
      case 'M':
        tensors.push_back({mixer + "A_log", {d.mamba_heads}, layer});
        tensors.push_back({mixer + "D", {d.mamba_heads}, layer});
        tensors.push_back({mixer + "conv1d.weight", {d.conv_dim(), 1, d.conv_kernel}, layer});
        tensors.push_back({mixer + "conv1d.bias", {d.conv_dim()}, layer});
        tensors.push_back({mixer + "dt_bias", {d.mamba_heads}, layer});
        tensors.push_back({mixer + "in_proj.weight", {d.in_proj_out(), d.hidden}, layer});
        tensors.push_back({mixer + "norm.weight", {d.mamba_inner()}, layer});
        tensors.push_back({mixer + "out_proj.weight", {d.hidden, d.mamba_inner()}, layer});
        break;
      case 'E':
        tensors.push_back({mixer + "gate.weight", {d.experts, d.hidden}, layer});
        tensors.push_back({mixer + "gate.e_score_correction_bias", {d.experts}, layer});
        for (uint64_t expert = 0; expert < d.experts; ++expert) {
          std::string name = fmt::format("{}experts.{}.", mixer, expert);
          tensors.push_back({name + "up_proj.weight", {d.expert_intermediate, d.hidden}, layer});
          tensors.push_back({name + "down_proj.weight", {d.hidden, d.expert_intermediate}, layer});
        }
        tensors.push_back({mixer + "shared_experts.up_proj.weight", {d.shared_intermediate, d.hidden}, layer});
        tensors.push_back({mixer + "shared_experts.down_proj.weight", {d.hidden, d.shared_intermediate}, layer});
        break;
      default:
        tensors.push_back({mixer + "q_proj.weight", {d.hidden, d.hidden}, layer});
        tensors.push_back({mixer + "k_proj.weight", {d.kv_heads * d.head_dim(), d.hidden}, layer});
        tensors.push_back({mixer + "v_proj.weight", {d.kv_heads * d.head_dim(), d.hidden}, layer});
        tensors.push_back({mixer + "o_proj.weight", {d.hidden, d.hidden}, layer});
        break;
    }
  }
  tensors.push_back({"backbone.norm_f.weight", {d.hidden}, -1});
  tensors.push_back({"lm_head.weight", {d.vocab, d.hidden}, -1});
  return tensors;
}

// Deterministic BF16 values: a hash of the tensor name and element index
// mapped to [-0.5, 0.5), so every tensor has distinct, reproducible data.
std::vector<uint16_t> MakeValues(const std::string& name, uint64_t count) {
  uint64_t state = 1469598103934665603ull;
  for (char c : name) state = (state ^ static_cast<uint8_t>(c)) * 1099511628211ull;
  std::vector<uint16_t> values(count);
  for (uint64_t i = 0; i < count; ++i) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    float value = static_cast<float>(state >> 40) / static_cast<float>(1ull << 24) - 0.5f;
    uint32_t bits;
    std::memcpy(&bits, &value, sizeof(bits));
    values[i] = static_cast<uint16_t>(bits >> 16);  // truncate to bfloat16
  }
  return values;
}

// Shard of a tensor: layers split into kShardCount contiguous ranges; the
// embedding goes to the first shard, the final norm and lm_head to the last.
int ShardOf(const HfTensor& tensor) {
  if (tensor.layer < 0) return tensor.name == "backbone.embeddings.weight" ? 0 : kShardCount - 1;
  return tensor.layer * kShardCount / static_cast<int>(kLayerPattern.size());
}

std::string ShardName(int shard) {
  return fmt::format("model-{:05d}-of-{:05d}.safetensors", shard + 1, kShardCount);
}

safeckpt::Status WriteText(const fs::path& path, const std::string& text) {
  SAFECKPT_ASSIGN_OR_RETURN(safeckpt::internal::AtomicFileWriter writer,
                            safeckpt::internal::AtomicFileWriter::Create(path.string()));
  SAFECKPT_RETURN_IF_ERROR(writer.Append(text.data(), text.size()));
  return writer.Commit();
}

safeckpt::Status WriteCheckpoint(const fs::path& directory, const std::vector<HfTensor>& tensors) {
  std::vector<std::vector<uint16_t>> storage;
  storage.reserve(tensors.size());
  std::vector<std::vector<safeckpt::TensorToWrite>> shards(kShardCount);
  uint64_t total_size = 0;
  for (const HfTensor& tensor : tensors) {
    uint64_t count = safeckpt::ElementCount(tensor.shape).value();
    storage.push_back(MakeValues(tensor.name, count));
    shards[ShardOf(tensor)].push_back({tensor.name, DType::kBF16, tensor.shape, storage.back().data()});
    total_size += count * 2;
  }

  for (int shard = 0; shard < kShardCount; ++shard) {
    SAFECKPT_RETURN_IF_ERROR(
        safeckpt::WriteSafetensors((directory / ShardName(shard)).string(), shards[shard]));
  }

  safeckpt::internal::JsonWriter index(2);
  index.BeginObject();
  index.Key("metadata");
  index.BeginObject();
  index.Key("total_size");
  index.Uint(total_size);
  index.EndObject();
  index.Key("weight_map");
  index.BeginObject();
  for (const HfTensor& tensor : tensors) {
    index.Key(tensor.name);
    index.String(ShardName(ShardOf(tensor)));
  }
  index.EndObject();
  index.EndObject();
  return WriteText(directory / "model.safetensors.index.json", index.Take() + "\n");
}

safeckpt::Status WriteConfig(const fs::path& directory, const Dimensions& d) {
  std::string config = fmt::format(
      "{{\n  \"architectures\": [\"NemotronHForCausalLM\"],\n  \"model_type\": \"nemotron_h\",\n"
      "  \"hybrid_override_pattern\": \"{}\",\n  \"num_hidden_layers\": {},\n"
      "  \"hidden_size\": {},\n  \"vocab_size\": {},\n  \"n_routed_experts\": {},\n"
      "  \"moe_intermediate_size\": {},\n  \"moe_shared_expert_intermediate_size\": {},\n"
      "  \"num_attention_heads\": {},\n  \"num_key_value_heads\": {},\n"
      "  \"mamba_num_heads\": {},\n  \"mamba_head_dim\": {},\n  \"ssm_state_size\": {},\n"
      "  \"tie_word_embeddings\": false,\n  \"torch_dtype\": \"bfloat16\"\n}}\n",
      kLayerPattern, kLayerPattern.size(), d.hidden, d.vocab, d.experts, d.expert_intermediate,
      d.shared_intermediate, d.attention_heads, d.kv_heads, d.mamba_heads, d.mamba_head_dim,
      d.mamba_state);
  return WriteText(directory / "config.json", config);
}

// The native name a TransformerEngine-based framework uses for an HF name.
std::string NativeName(const std::string& hf_name) {
  if (hf_name == "backbone.embeddings.weight") return "model.embed_tokens.weight";
  if (hf_name == "backbone.norm_f.weight") return "model.norm.weight";
  if (hf_name.rfind("backbone.", 0) == 0) return "model." + hf_name.substr(9);
  return hf_name;
}

safeckpt::Manifest BuildManifest(const std::vector<HfTensor>& tensors) {
  safeckpt::Manifest manifest;
  manifest.renames = {{R"(^backbone\.embeddings\.)", "model.embed_tokens."},
                      {R"(^backbone\.norm_f\.)", "model.norm."},
                      {R"(^backbone\.)", "model."}};

  auto add = [&manifest](std::string name, DType dtype, Shape shape, safeckpt::TensorRole role) {
    safeckpt::ExpectedTensor tensor;
    tensor.name = std::move(name);
    tensor.dtype = dtype;
    tensor.shape = std::move(shape);
    tensor.role = role;
    safeckpt::Status status = manifest.model.Add(std::move(tensor));
    if (!status.ok()) {
      std::fprintf(stderr, "safeckpt-make-demo: internal error: %s\n", status.message().c_str());
      std::exit(1);
    }
  };
  auto bookkeeping = [&add](const std::string& module) {
    add(module + "._extra_state", DType::kU8, {0}, safeckpt::TensorRole::kBookkeeping);
  };

  for (const HfTensor& tensor : tensors) {
    add(NativeName(tensor.name), DType::kF32, tensor.shape, safeckpt::TensorRole::kParameter);
  }

  bookkeeping("lm_head");
  for (int layer = 0; layer < static_cast<int>(kLayerPattern.size()); ++layer) {
    std::string mixer = fmt::format("model.layers.{}.mixer.", layer);
    if (kLayerPattern[layer] == 'E') {
      bookkeeping(mixer + "shared_experts.up_proj");
      bookkeeping(mixer + "shared_experts.down_proj");
    } else if (kLayerPattern[layer] == '*') {
      for (const char* module : {"q_proj", "k_proj", "v_proj", "o_proj", "core_attention"}) {
        bookkeeping(mixer + module);
      }
    }
  }
  return manifest;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Generate the safeckpt demo checkpoint (checkpoint/) and its manifest "
               "(manifest.json) under OUTPUT_DIR."};
  std::string output;
  app.add_option("output_dir", output, "Directory to create")->required();
  CLI11_PARSE(app, argc, argv);

  Dimensions dimensions;
  std::vector<HfTensor> tensors = ListTensors(dimensions);
  fs::path checkpoint_dir = fs::path(output) / "checkpoint";
  std::error_code error;
  fs::create_directories(checkpoint_dir, error);
  if (error) {
    std::fprintf(stderr, "safeckpt-make-demo: error: cannot create '%s': %s\n",
                 checkpoint_dir.c_str(), error.message().c_str());
    return 1;
  }

  safeckpt::Status status = WriteCheckpoint(checkpoint_dir, tensors);
  if (status.ok()) status = WriteConfig(checkpoint_dir, dimensions);
  if (status.ok()) {
    status = WriteText(fs::path(output) / "manifest.json",
                       safeckpt::FormatManifest(BuildManifest(tensors)));
  }
  if (!status.ok()) {
    std::fprintf(stderr, "safeckpt-make-demo: error: %s\n", status.message().c_str());
    return 1;
  }
  std::printf("wrote %zu tensors in %d shards to %s and the manifest to %s\n", tensors.size(),
              kShardCount, checkpoint_dir.c_str(), (fs::path(output) / "manifest.json").c_str());
  return 0;
}
