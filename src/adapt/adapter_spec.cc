#include "adapt/adapter_spec.h"

namespace safeckpt::internal {

const std::vector<AdapterSpec>& AdapterSpecs() {
  static const std::vector<AdapterSpec> specs = {
      {"mixtral",
       {"mixtral"},
       "Mixtral: block_sparse_moe.experts.E.{w1,w3,w2} stacked; block_sparse_moe becomes mlp",
       {{"block_sparse_moe", "mlp"}},
       {{"w1", "w3", "w2"}},
       {},
       false,
       false},
      {"qwen_moe",
       {"qwen2_moe", "qwen3_moe"},
       "Qwen2-MoE, Qwen3-MoE: mlp.experts.E.{gate_proj,up_proj,down_proj} stacked",
       {},
       {{"gate_proj", "up_proj", "down_proj"}},
       {},
       false,
       false},
      {"deepseek_v3",
       {"deepseek_v3"},
       "DeepSeek-V3: experts stacked as qwen_moe, FP8 weights dequantized with weight_scale_inv",
       {},
       {{"gate_proj", "up_proj", "down_proj"}},
       {},
       true,
       false},
      {"nemotron_h",
       {"nemotron_h"},
       "Nemotron-H: mixer.experts.E.{up_proj,down_proj} stacked (no gate); backbone becomes "
       "model, embeddings embed_tokens, norm_f norm",
       {{"backbone.norm_f", "model.norm", true},
        {"backbone", "model", true},
        {"embeddings", "embed_tokens"}},
       {{"", "up_proj", "down_proj"}},
       {},
       false,
       false},
      // NOTE: "qwen3_5_moe" is the model_type this adapter assumes for
      // Qwen3.5-MoE checkpoints, unchecked against a real config.json.
      // --adapter qwen3_5_moe selects it whatever model_type the file names.
      {"qwen3_5_moe",
       {"qwen3_5_moe"},
       "Qwen3.5-MoE: grouped experts.gate_up_proj [E, 2I, H] and experts.down_proj [E, H, I] "
       "transposed",
       {},
       {},
       {{"experts.gate_up_proj", "experts.down_proj", GroupedLayout::kTransposed}},
       false,
       false},
      {"granitemoe",
       {"granitemoe"},
       "GraniteMoE: block_sparse_moe.input_linear [E, 2I, H] and output_linear [E, H, I] "
       "transposed; router.layer becomes gate",
       {{"block_sparse_moe.router.layer", "mlp.gate"}, {"block_sparse_moe", "mlp"}},
       {},
       {{"input_linear.weight", "output_linear.weight", GroupedLayout::kTransposed}},
       false,
       false},
      {"gpt_oss",
       {"gpt_oss"},
       "GPT-OSS: interleaved experts.gate_up_proj and down_proj with biases, MXFP4 _blocks and "
       "_scales decoded; mlp.router becomes mlp.gate",
       {{"mlp.router", "mlp.gate"}},
       {},
       {{"experts.gate_up_proj", "experts.down_proj", GroupedLayout::kInterleaved}},
       false,
       true},
  };
  return specs;
}

const AdapterSpec* FindAdapterSpec(std::string_view name) {
  for (const AdapterSpec& spec : AdapterSpecs()) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

}  // namespace safeckpt::internal
