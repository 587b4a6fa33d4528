#include "safeckpt/sharding.h"

#include <memory>
#include <utility>

#include <fmt/format.h>
#include <re2/re2.h>

namespace safeckpt {
namespace {

Status SliceInvalid(std::string message) {
  return InvalidArgument(ErrorId::kSliceInvalid, std::move(message));
}

Result<std::vector<std::unique_ptr<RE2>>> CompileRules(const std::vector<ShardingRule>& rules) {
  std::vector<std::unique_ptr<RE2>> compiled;
  RE2::Options options;
  options.set_log_errors(false);
  for (size_t index = 0; index < rules.size(); ++index) {
    const std::string& pattern = rules[index].pattern;
    auto regex = std::make_unique<RE2>(pattern, options);
    if (!regex->ok()) {
      return InvalidArgument(
          ErrorId::kRuleInvalid,
          fmt::format("sharding rule {}: pattern '{}' is not a valid RE2 regular expression: {}",
                      index, pattern, regex->error()));
    }
    compiled.push_back(std::move(regex));
  }
  return compiled;
}

const Sharding& ShardingFor(const ShardingLayout& layout,
                            const std::vector<std::unique_ptr<RE2>>& patterns,
                            const std::string& name) {
  static const Sharding kReplicate;
  auto named = layout.by_name.find(name);
  if (named != layout.by_name.end()) return named->second;
  for (size_t index = 0; index < patterns.size(); ++index) {
    if (RE2::PartialMatch(name, *patterns[index])) return layout.rules[index].sharding;
  }
  return kReplicate;
}

Status CheckDestinationSize(const ExpectedTensor& tensor) {
  if (tensor.data == nullptr) return Status::Ok();
  const std::optional<uint64_t> bytes = ByteSize(tensor.dtype, tensor.LocalShape());
  if (bytes && *bytes == tensor.data_bytes) return Status::Ok();
  return InvalidArgument(
      ErrorId::kDestinationInvalid,
      fmt::format("tensor '{}': destination is {} bytes but its slice {} of {} {} needs {} "
                  "bytes; allocate the destination after applying the sharding",
                  tensor.name, tensor.data_bytes,
                  FormatHyperslab(tensor.slice.value_or(Hyperslab::Whole(tensor.shape))),
                  DTypeName(tensor.dtype), FormatShape(tensor.shape), bytes.value_or(0)));
}

}  // namespace

std::string FormatSharding(const Sharding& sharding) {
  switch (sharding.kind) {
    case Sharding::Kind::kReplicate: return "replicate";
    case Sharding::Kind::kShard: return fmt::format("shard dim {}", sharding.dim);
    case Sharding::Kind::kSlice: return "slice " + FormatHyperslab(sharding.slice);
  }
  return "unknown";
}

Result<Hyperslab> ResolveSharding(const Sharding& sharding, const Shape& shape, uint32_t rank,
                                  uint32_t world_size, std::string_view tensor) {
  if (world_size == 0 || rank >= world_size) {
    return SliceInvalid(fmt::format("rank {} is not below world_size {}; ranks count from 0",
                                    rank, world_size));
  }

  switch (sharding.kind) {
    case Sharding::Kind::kReplicate:
      return Hyperslab::Whole(shape);

    case Sharding::Kind::kShard: {
      if (sharding.dim >= shape.size()) {
        return SliceInvalid(fmt::format(
            "tensor '{}': cannot shard dimension {} of shape {}, which has {} dimensions", tensor,
            sharding.dim, FormatShape(shape), shape.size()));
      }
      Hyperslab slab = Hyperslab::Whole(shape);
      slab.ranges[sharding.dim] = ChunkRange(shape[sharding.dim], rank, world_size);
      return slab;
    }

    case Sharding::Kind::kSlice:
      SAFECKPT_RETURN_IF_ERROR(CheckHyperslab(sharding.slice, shape, tensor));
      return sharding.slice;
  }
  return SliceInvalid(fmt::format("tensor '{}': unknown sharding kind", tensor));
}

Status ApplySharding(const ShardingLayout& layout, ModelState& model) {
  if (layout.world_size == 0 || layout.rank >= layout.world_size) {
    return SliceInvalid(fmt::format("rank {} is not below world_size {}; ranks count from 0",
                                    layout.rank, layout.world_size));
  }
  for (const auto& [name, sharding] : layout.by_name) {
    if (model.Find(name) != nullptr) continue;
    return SliceInvalid(fmt::format("a sharding ({}) is given for tensor '{}', which the model "
                                    "does not have",
                                    FormatSharding(sharding), name));
  }
  SAFECKPT_ASSIGN_OR_RETURN(std::vector<std::unique_ptr<RE2>> patterns,
                            CompileRules(layout.rules));

  for (ExpectedTensor& tensor : model.mutable_tensors()) {
    // Bookkeeping entries are module state that every rank keeps whole.
    if (tensor.role == TensorRole::kBookkeeping) {
      tensor.slice.reset();
      continue;
    }
    const Sharding& sharding = ShardingFor(layout, patterns, tensor.name);
    SAFECKPT_ASSIGN_OR_RETURN(
        Hyperslab slab,
        ResolveSharding(sharding, tensor.shape, layout.rank, layout.world_size, tensor.name));
    if (slab.IsWhole(tensor.shape)) {
      tensor.slice.reset();
    } else {
      tensor.slice = std::move(slab);
    }
    SAFECKPT_RETURN_IF_ERROR(CheckDestinationSize(tensor));
  }
  return Status::Ok();
}

}  // namespace safeckpt
