// The built-in layout adapters, described as data: renames of whole name
// components, expert-stacking rules and the quantized formats to decode.
// source_view.cc turns a spec and a checkpoint into native tensors.
#pragma once

#include <string_view>
#include <vector>

namespace safeckpt::internal {

// Replaces the name components `from` (one or more whole components, such as
// "block_sparse_moe" or "backbone.norm_f") with `to`. An anchored rename
// matches only at the start of a name. Renames apply in order, each at its
// first match; list specific renames before general ones.
struct ComponentRename {
  std::string_view from;  // Hugging Face spelling
  std::string_view to;    // native spelling
  bool anchored = false;
};

// Per-expert Hugging Face tensors, after renames:
//   PREFIX.experts.E.GATE.weight [I, H], PREFIX.experts.E.UP.weight [I, H],
//   PREFIX.experts.E.DOWN.weight [H, I]
// stacked into PREFIX.experts.gate_and_up_projs [E, H, 2I] (gate then up,
// each transposed) and PREFIX.experts.down_projs [E, I, H]. Without a gate
// projection (`gate` empty) the stack is [E, H, I] of up alone.
struct PerExpertRule {
  std::string_view gate;
  std::string_view up;
  std::string_view down;
};

// How grouped expert tensors lay out gate and up.
enum class GroupedLayout : uint8_t {
  // gate_up [E, 2I, H] (gate rows, then up rows) and down [E, H, I], both
  // transposed into the native layout (Qwen3.5-MoE, GraniteMoE).
  kTransposed,
  // gate_up [E, H, 2I] with gate and up in even and odd columns, down
  // [E, I, H] as native, biases [E, 2I] and [E, H] beside them (GPT-OSS).
  // Decoded MXFP4 tensors are [E, 2I, H] and [E, H, I] and are transposed.
  kInterleaved,
};

// Grouped Hugging Face tensors, after renames: PREFIX.GATE_UP and
// PREFIX.DOWN (and PREFIX.GATE_UP_bias, PREFIX.DOWN_bias when present)
// become PREFIX.experts.gate_and_up_projs, PREFIX.experts.down_projs and
// their _bias tensors.
struct GroupedRule {
  std::string_view gate_up;  // e.g. "experts.gate_up_proj" or "input_linear.weight"
  std::string_view down;
  GroupedLayout layout = GroupedLayout::kTransposed;
};

struct AdapterSpec {
  std::string_view name;
  std::vector<std::string_view> model_types;  // config.json "model_type" values
  std::string_view description;
  std::vector<ComponentRename> renames;
  std::vector<PerExpertRule> per_expert;
  std::vector<GroupedRule> grouped;
  // Decode X.weight (F8_E4M3 or F8_E5M2) with X.weight_scale_inv, one scale
  // per 128 x 128 block, when the destination dtype is wider.
  bool fp8_block_scales = false;
  // Decode X_blocks and X_scales (MXFP4) into X.
  bool mxfp4 = false;
};

// Every built-in adapter, in a fixed order.
const std::vector<AdapterSpec>& AdapterSpecs();

// The adapter named `name`, or null.
const AdapterSpec* FindAdapterSpec(std::string_view name);

}  // namespace safeckpt::internal
