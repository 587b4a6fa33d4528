#include "model_load.h"

#include <algorithm>
#include <set>
#include <string_view>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>

#include "safeckpt/checkpoint.h"

namespace safeckpt::python {
namespace {

Result<ModelState> BuildModelState(const std::vector<ModelTensor>& tensors,
                                   const std::vector<bool>& include) {
  ModelState model;
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (!include[i]) continue;
    ExpectedTensor tensor = tensors[i].tensor;
    if (tensors[i].alias_of >= 0) {
      tensor.tied_to = tensors[static_cast<size_t>(tensors[i].alias_of)].tensor.name;
    }
    SAFECKPT_RETURN_IF_ERROR(model.Add(std::move(tensor)));
  }
  return model;
}

bool HasAliases(const std::vector<ModelTensor>& tensors) {
  return std::any_of(tensors.begin(), tensors.end(),
                     [](const ModelTensor& tensor) { return tensor.alias_of >= 0; });
}

// Chooses, among aliases that the dry run loaded, the one to read for each
// shared memory: the last loaded under its own name (not through a tie),
// or the last loaded at all. Returns which tensors the real load keeps.
std::vector<bool> KeepOneWriterPerMemory(const std::vector<ModelTensor>& tensors,
                                         const LoadReport& dry_run) {
  std::set<std::string_view> loaded(dry_run.loaded.begin(), dry_run.loaded.end());
  loaded.insert(dry_run.bookkeeping_loaded.begin(), dry_run.bookkeeping_loaded.end());
  std::set<std::string_view> through_tie;
  for (const TiedSource& tied : dry_run.tied) through_tie.insert(tied.name);

  // The writer chosen so far for each memory, keyed by the first tensor.
  std::vector<int64_t> writer(tensors.size(), -1);
  std::vector<bool> writer_direct(tensors.size(), false);
  for (size_t i = 0; i < tensors.size(); ++i) {
    const std::string& name = tensors[i].tensor.name;
    if (!loaded.contains(name)) continue;
    const size_t memory = tensors[i].alias_of >= 0 ? static_cast<size_t>(tensors[i].alias_of) : i;
    const bool direct = !through_tie.contains(name);
    if (writer[memory] < 0 || direct || !writer_direct[memory]) {
      writer[memory] = static_cast<int64_t>(i);
      writer_direct[memory] = direct || writer_direct[memory];
    }
  }

  std::vector<bool> keep(tensors.size(), true);
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (!loaded.contains(tensors[i].tensor.name)) continue;
    const size_t memory = tensors[i].alias_of >= 0 ? static_cast<size_t>(tensors[i].alias_of) : i;
    keep[i] = writer[memory] == static_cast<int64_t>(i);
  }
  return keep;
}

// Checks that the real load filled exactly what the dry run reported,
// less the aliases it skipped; any difference is a bug here.
Status CheckSameMatches(const LoadReport& dry_run, const LoadReport& real,
                        const std::vector<ModelTensor>& tensors, const std::vector<bool>& keep) {
  std::set<std::string_view> expected(dry_run.loaded.begin(), dry_run.loaded.end());
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (!keep[i]) expected.erase(tensors[i].tensor.name);
  }
  const std::set<std::string_view> found(real.loaded.begin(), real.loaded.end());
  if (expected == found) return Status::Ok();
  return Status(StatusCode::kInvalidArgument, ErrorId::kInternal,
                fmt::format("{}: loading tensors that share memory matched {} names instead of "
                            "{}; please report this with the model's state_dict names",
                            dry_run.checkpoint, found.size(), expected.size()));
}

// Runs the load as a dry run over every name, then reads with one writer
// per shared memory, and reports the dry run with the real run's timings.
Result<LoadReport> LoadWithAliases(const Checkpoint& checkpoint,
                                   const std::vector<ModelTensor>& tensors,
                                   const LoadOptions& options) {
  const std::vector<bool> all(tensors.size(), true);
  SAFECKPT_ASSIGN_OR_RETURN(ModelState model, BuildModelState(tensors, all));
  LoadOptions dry_options = options;
  dry_options.read_data = false;
  SAFECKPT_ASSIGN_OR_RETURN(LoadReport report, LoadCheckpoint(checkpoint, model, dry_options));
  if (report.rejected || !options.read_data) return report;

  const std::vector<bool> keep = KeepOneWriterPerMemory(tensors, report);
  SAFECKPT_ASSIGN_OR_RETURN(ModelState writers, BuildModelState(tensors, keep));
  LoadOptions read_options = options;
  read_options.policy = Policy::kDefault;  // the dry run applied the caller's policy
  SAFECKPT_ASSIGN_OR_RETURN(LoadReport read, LoadCheckpoint(checkpoint, writers, read_options));
  SAFECKPT_RETURN_IF_ERROR(CheckSameMatches(report, read, tensors, keep));

  report.data_read = read.data_read;
  report.plan = read.plan;
  report.read = read.read;
  report.convert = read.convert;
  report.threads = read.threads;
  report.checksums = std::move(read.checksums);
  report.rank.bytes_read_per_file = std::move(read.rank.bytes_read_per_file);
  return report;
}

// Sets the global shape and slice of every tensor whose part `sharding`
// resolves to exactly its live shape. The global shapes come from a dry run
// over the live shapes, whose shape mismatches name the checkpoint's shape.
Status ResolveSlices(const Checkpoint& checkpoint, const ShardingLayout& sharding,
                     const LoadOptions& options, std::vector<ModelTensor>& tensors) {
  const std::vector<bool> all(tensors.size(), true);
  SAFECKPT_ASSIGN_OR_RETURN(ModelState live, BuildModelState(tensors, all));
  LoadOptions dry_options = options;
  dry_options.read_data = false;
  dry_options.policy = Policy::kDefault;
  SAFECKPT_ASSIGN_OR_RETURN(LoadReport dry_run, LoadCheckpoint(checkpoint, live, dry_options));

  std::unordered_map<std::string_view, const Shape*> global_shapes;
  for (const ShapeMismatch& mismatch : dry_run.shape_mismatches) {
    global_shapes.emplace(mismatch.name, &mismatch.found);
  }

  ModelState global;
  for (const ModelTensor& tensor : tensors) {
    ExpectedTensor expected = tensor.tensor;
    expected.data = nullptr;
    expected.data_bytes = 0;
    auto found = global_shapes.find(expected.name);
    if (found != global_shapes.end()) expected.shape = *found->second;
    SAFECKPT_RETURN_IF_ERROR(global.Add(std::move(expected)));
  }
  SAFECKPT_RETURN_IF_ERROR(ApplySharding(sharding, global));

  for (size_t i = 0; i < tensors.size(); ++i) {
    const ExpectedTensor& resolved = global.tensors()[i];
    if (resolved.LocalShape() != tensors[i].tensor.shape) continue;
    tensors[i].tensor.shape = resolved.shape;
    tensors[i].tensor.slice = resolved.slice;
  }
  return Status::Ok();
}

}  // namespace

Result<LoadReport> LoadIntoModel(const std::string& checkpoint_path,
                                 std::vector<ModelTensor> tensors, const ShardingLayout& sharding,
                                 LoadOptions options) {
  OpenOptions open_options;
  open_options.logger = options.logger;
  SAFECKPT_ASSIGN_OR_RETURN(Checkpoint checkpoint, Checkpoint::Open(checkpoint_path, open_options));

  options.rank = sharding.rank;
  options.world_size = sharding.world_size;
  if (!sharding.IsSingleProcess()) {
    SAFECKPT_RETURN_IF_ERROR(ResolveSlices(checkpoint, sharding, options, tensors));
  }

  if (HasAliases(tensors)) return LoadWithAliases(checkpoint, tensors, options);

  const std::vector<bool> all(tensors.size(), true);
  SAFECKPT_ASSIGN_OR_RETURN(ModelState model, BuildModelState(tensors, all));
  return LoadCheckpoint(checkpoint, model, options);
}

}  // namespace safeckpt::python
