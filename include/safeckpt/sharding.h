// Sharding: which part of each tensor this rank holds.
//
// A load runs as rank `rank` of `world_size` processes. Each expected tensor
// is either replicated (every rank holds all of it), sharded along one
// dimension (FSDP2's Shard(dim), tensor-parallel row or column slices, and
// expert parallelism on a stacked [experts, ...] tensor), or given an
// explicit hyperslab. ApplySharding turns these rules into each tensor's
// `slice` (model_state.h), which is what the loader reads.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "safeckpt/hyperslab.h"
#include "safeckpt/model_state.h"
#include "safeckpt/status.h"

namespace safeckpt {

struct Sharding {
  enum class Kind : uint8_t {
    kReplicate,  // every rank has the whole tensor
    kShard,      // dimension `dim` split into world_size chunks as torch.chunk splits it
    kSlice,      // the explicit hyperslab `slice`, whatever the rank
  };

  Kind kind = Kind::kReplicate;
  uint32_t dim = 0;  // kShard only
  Hyperslab slice;   // kSlice only

  static Sharding Replicate() { return {}; }
  static Sharding Shard(uint32_t dim) { return {Kind::kShard, dim, {}}; }
  static Sharding Slice(Hyperslab slice) { return {Kind::kSlice, 0, std::move(slice)}; }

  bool operator==(const Sharding&) const = default;
};

// Formats a sharding as "replicate", "shard dim 0" or "slice [0:4, 0:8]".
std::string FormatSharding(const Sharding& sharding);

// A sharding for every tensor whose model name matches `pattern` (RE2,
// partial match: "experts\\." matches any name containing "experts.").
struct ShardingRule {
  std::string pattern;
  Sharding sharding;
};

// This rank and the sharding of every tensor: a per-name entry wins, then
// the first matching rule; a tensor that neither names is replicated.
struct ShardingLayout {
  uint32_t rank = 0;
  uint32_t world_size = 1;
  std::map<std::string, Sharding, std::less<>> by_name;
  std::vector<ShardingRule> rules;

  // True when the layout describes one process holding whole tensors.
  bool IsSingleProcess() const { return world_size == 1 && by_name.empty() && rules.empty(); }
};

// Returns the part of a tensor of `shape` that `rank` of `world_size` holds.
// Fails with kSliceInvalid naming `tensor` when rank >= world_size, when the
// sharded dimension does not exist, or when an explicit slice does not fit.
Result<Hyperslab> ResolveSharding(const Sharding& sharding, const Shape& shape, uint32_t rank,
                                  uint32_t world_size, std::string_view tensor);

// Sets the `slice` of every tensor of `model` from `layout`: a whole-tensor
// result leaves `slice` unset, so a single-process layout changes nothing.
// Bookkeeping entries (role kBookkeeping) always stay whole.
// Fails with kSliceInvalid as ResolveSharding does, and when a per-name entry
// names no tensor of `model`. Fails with kRuleInvalid when a pattern does
// not compile, and with kDestinationInvalid when a tensor already has
// destination memory whose size differs from its new slice. On failure
// `model` may be partly updated.
Status ApplySharding(const ShardingLayout& layout, ModelState& model);

}  // namespace safeckpt
