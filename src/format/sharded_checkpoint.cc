#include "format/sharded_checkpoint.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "format/checkpoint_builder.h"
#include "format/header_file.h"
#include "format/quote.h"
#include "io/file.h"

namespace safeckpt::internal {
namespace {

namespace fs = std::filesystem;

// How many tensor names one warning lists before it only counts the rest.
constexpr size_t kMaxNamesPerWarning = 10;

// How many missing shard files the error lists before it only counts the
// rest, so an index naming 300,000 absent files gives a short message.
constexpr size_t kMaxMissingShardsListed = 100;

// A shard named by the index, with its validated header.
// Moving a Shard keeps `tensors` valid because the tensor vector keeps its
// buffer. A copy would point into the original, so copying is disabled.
struct Shard {
  Shard() = default;
  Shard(Shard&&) = default;
  Shard& operator=(Shard&&) = default;
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  std::string name;
  std::string path;
  HeaderOfFile read;
  // Tensors of read.header by name, pointing into read.header.tensors.
  std::unordered_map<std::string_view, const TensorInfo*> tensors;
};

std::string JoinQuoted(const std::vector<std::string_view>& names, size_t max_names) {
  std::string text;
  size_t shown = std::min(names.size(), max_names);
  for (size_t i = 0; i < shown; ++i) {
    if (i > 0) text += ", ";
    text += Quote(names[i]);
  }
  if (shown < names.size()) text += " ... and " + std::to_string(names.size() - shown) + " more";
  return text;
}

// Returns the distinct file names of the weight map, sorted.
std::vector<std::string> ShardNames(const CheckpointIndex& index) {
  std::vector<std::string> names;
  for (const auto& [tensor, file] : index.weight_map) names.push_back(file);
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

// Checks all shards before reading any, so one error lists every missing
// file. A symlink counts as present when its target exists. A file that
// cannot be checked (no permission, for example) counts as present, so
// reading its header reports the system error.
Status CheckShardsExist(const std::string& directory, const std::vector<std::string>& names,
                        const std::string& index_path) {
  std::vector<std::string_view> missing;
  for (const std::string& name : names) {
    std::error_code error;
    bool exists = fs::exists(fs::path(directory) / name, error);
    if (!exists && !error) missing.push_back(name);
  }
  if (missing.empty()) return Status::Ok();

  return NotFound(ErrorId::kIndexShardMissing,
                  index_path + ": " + std::to_string(missing.size()) + " of the " +
                      std::to_string(names.size()) + " shard files it names " +
                      (missing.size() == 1 ? "does" : "do") +
                      " not exist: " + JoinQuoted(missing, kMaxMissingShardsListed) +
                      "; download the missing shards or fix the index");
}

Result<std::vector<Shard>> ReadShards(const std::string& directory,
                                      const std::vector<std::string>& names,
                                      const ReaderLimits& limits) {
  std::vector<Shard> shards(names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    Shard& shard = shards[i];
    shard.name = names[i];
    shard.path = (fs::path(directory) / names[i]).string();
    SAFECKPT_ASSIGN_OR_RETURN(shard.read, ReadHeaderOfFile(shard.path, limits));
    for (const TensorInfo& tensor : shard.read.header.tensors) shard.tensors[tensor.name] = &tensor;
  }
  return shards;
}

// Adds each indexed tensor from the shard the index names. Fails when that
// shard's header lacks the tensor, naming the first such tensor.
Status AddIndexedTensors(const CheckpointIndex& index, const std::vector<Shard>& shards,
                         const std::map<std::string_view, uint32_t>& shard_numbers,
                         const std::string& index_path, CheckpointBuilder& builder) {
  for (const auto& [tensor, file] : index.weight_map) {
    uint32_t number = shard_numbers.at(file);
    auto found = shards[number].tensors.find(tensor);
    if (found == shards[number].tensors.end()) {
      return Corruption(ErrorId::kIndexTensorNotInShard,
                        index_path + ": weight_map maps tensor " + Quote(tensor) + " to " +
                            Quote(file) + ", but that shard's header has no such tensor");
    }
    builder.AddTensor(number, *found->second);
  }
  return Status::Ok();
}

constexpr std::string_view kStrictHint =
    "; this is an error only under --strict-index (OpenOptions::strict_index)";

// Warns about tensors in a shard that the index does not map to it, or
// fails under strict_index. A tensor that the index maps to another shard
// is a stale copy, and one the index does not mention is unlisted. Neither
// is ever read.
Status CheckUnmappedTensors(const std::vector<Shard>& shards,
                            const std::unordered_map<std::string_view, std::string_view>& file_of,
                            bool strict, CheckpointBuilder& builder) {
  for (const Shard& shard : shards) {
    std::vector<std::string_view> unlisted;
    for (const TensorInfo& tensor : shard.read.header.tensors) {
      auto mapped = file_of.find(tensor.name);
      if (mapped == file_of.end()) {
        unlisted.push_back(tensor.name);
      } else if (mapped->second != shard.name) {
        if (strict) {
          return Corruption(ErrorId::kIndexStaleCopy,
                            shard.path + ": contains a copy of tensor " + Quote(tensor.name) +
                                " that the index maps to " + Quote(mapped->second) +
                                "; remove the stale copy or fix the index" + std::string(kStrictHint));
        }
        builder.AddStaleCopy({tensor.name, shard.name, std::string(mapped->second)});
      }
    }
    if (unlisted.empty()) continue;
    std::string count =
        unlisted.size() == 1 ? "a tensor" : std::to_string(unlisted.size()) + " tensors";
    std::string message = shard.path + ": contains " + count + " that the index does not list";
    if (strict) {
      return Corruption(ErrorId::kIndexUnlistedTensor,
                        message + ": " + JoinQuoted(unlisted, kMaxNamesPerWarning) +
                            (unlisted.size() == 1 ? "; add it to weight_map or remove it"
                                                  : "; add them to weight_map or remove them") +
                            std::string(kStrictHint));
    }
    builder.Warn(message + ", which the checkpoint ignores: " +
                 JoinQuoted(unlisted, kMaxNamesPerWarning));
  }
  return Status::Ok();
}

Status CheckTotalSize(const CheckpointIndex& index, const std::vector<Shard>& shards,
                      const std::map<std::string_view, uint32_t>& shard_numbers,
                      const std::string& index_path, bool strict, CheckpointBuilder& builder) {
  if (!index.total_size) return Status::Ok();
  uint64_t indexed_bytes = 0;
  for (const auto& [tensor, file] : index.weight_map) {
    const Shard& shard = shards[shard_numbers.at(file)];
    // Saturates instead of wrapping; each term is bounded by a file size.
    uint64_t nbytes = shard.tensors.at(tensor)->nbytes();
    if (__builtin_add_overflow(indexed_bytes, nbytes, &indexed_bytes)) indexed_bytes = UINT64_MAX;
  }
  if (indexed_bytes == *index.total_size) return Status::Ok();

  std::string message = index_path + ": metadata.total_size is " +
                        std::to_string(*index.total_size) +
                        " bytes, but the tensors in weight_map take " +
                        std::to_string(indexed_bytes) + " bytes";
  if (strict) {
    return Corruption(ErrorId::kIndexTotalSize,
                      message + "; correct total_size" + std::string(kStrictHint));
  }
  builder.Warn(message + "; loading does not use this value, so the mismatch is harmless");
  return Status::Ok();
}

}  // namespace

Result<Checkpoint> OpenIndexedDirectory(const std::string& directory, const OpenOptions& options) {
  std::string index_path = (fs::path(directory) / kIndexFileName).string();
  SAFECKPT_ASSIGN_OR_RETURN(std::string text,
                            ReadWholeFile(index_path, options.limits.max_header_bytes));
  SAFECKPT_ASSIGN_OR_RETURN(CheckpointIndex index, ParseCheckpointIndex(text, index_path, options.limits));

  std::vector<std::string> names = ShardNames(index);
  SAFECKPT_RETURN_IF_ERROR(CheckShardsExist(directory, names, index_path));
  SAFECKPT_ASSIGN_OR_RETURN(std::vector<Shard> shards,
                            ReadShards(directory, names, options.limits));

  CheckpointBuilder builder(directory, /*has_index=*/true, options.logger);
  if (options.strict_index && !index.total_size_problem.empty()) {
    return Corruption(ErrorId::kIndexTotalSize, index.total_size_problem +
                                                    "; write the byte count as an integer" +
                                                    std::string(kStrictHint));
  }
  for (const std::string& warning : index.warnings) builder.Warn(warning);
  builder.SetDeclaredTotalSize(index.total_size);

  std::map<std::string_view, uint32_t> shard_numbers;
  for (const Shard& shard : shards) {
    shard_numbers[shard.name] = builder.AddFile(shard.name, shard.path, shard.read);
  }
  SAFECKPT_RETURN_IF_ERROR(AddIndexedTensors(index, shards, shard_numbers, index_path, builder));

  std::unordered_map<std::string_view, std::string_view> file_of;
  for (const auto& [tensor, file] : index.weight_map) file_of[tensor] = file;
  SAFECKPT_RETURN_IF_ERROR(
      CheckUnmappedTensors(shards, file_of, options.strict_index, builder));
  SAFECKPT_RETURN_IF_ERROR(
      CheckTotalSize(index, shards, shard_numbers, index_path, options.strict_index, builder));
  return std::move(builder).Finish();
}

}  // namespace safeckpt::internal
