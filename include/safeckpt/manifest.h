// The manifest: a JSON description of a model's expected tensors, for the
// command line.
//
//   {"safeckpt_manifest": 1,
//    "renames": [["^backbone\\.", "model."]],
//    "tensors": {
//      "model.embed_tokens.weight": {"dtype": "BF16", "shape": [32000, 4096]},
//      "model.layers.0.self_attn.q_proj._extra_state":
//          {"dtype": "U8", "shape": [0], "role": "bookkeeping"},
//      "lm_head.weight": {"dtype": "BF16", "shape": [32000, 4096],
//                         "tied_to": "model.embed_tokens.weight"}}}
//
// A rank's view of a sharded model adds "rank", "world_size", per-tensor
// {"shard": {"dim": 0}}, {"replicate": true} or {"slice": [[0, 2], [0, 8]]},
// and "sharding" rules that apply one of these to every name matching a
// pattern: [{"pattern": "experts\\.", "shard": {"dim": 0}}]. Shapes are
// always global shapes.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "safeckpt/checkpoint.h"
#include "safeckpt/key_rules.h"
#include "safeckpt/model_state.h"
#include "safeckpt/sharding.h"
#include "safeckpt/status.h"

namespace safeckpt {

inline constexpr int kManifestVersion = 1;

struct Manifest {
  // Tensors in file order, no destination memory. Slices are already set
  // from `sharding`; call ApplySharding again after changing it.
  ModelState model;
  std::vector<RenameRule> renames;

  // "rank", "world_size", the per-tensor "shard" / "replicate" / "slice"
  // entries and the "sharding" rules.
  ShardingLayout sharding;

  // "adapter": the layout adapter to load through; empty for none.
  std::string adapter;
};

// Parses manifest text. Errors (kManifestInvalid) name `display_name`, the
// tensor and the offending value.
Result<Manifest> ParseManifest(std::string_view text, std::string_view display_name);

// Reads and parses a manifest file.
Result<Manifest> ReadManifest(const std::string& path);

// Formats a manifest as pretty-printed JSON, one tensor per line.
std::string FormatManifest(const Manifest& manifest);

// Builds the manifest that matches `checkpoint` exactly: every tensor with
// its dtype and shape, names ending in _extra_state marked bookkeeping.
Manifest ManifestFromCheckpoint(const Checkpoint& checkpoint);

}  // namespace safeckpt
