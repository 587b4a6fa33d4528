// _core.load_into, _core.format_manifest and
// _core.manifest_from_checkpoint: the C++ side of safeckpt.load_into,
// safeckpt.check and safeckpt.manifest_from.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "bindings.h"
#include "buffers.h"
#include "errors.h"
#include "model_load.h"
#include "safeckpt/checkpoint.h"
#include "safeckpt/manifest.h"
#include "safeckpt/sharding.h"

namespace safeckpt::python {
namespace {

namespace py = pybind11;

TensorRole ParseRoleOrThrow(const std::string& name, const std::string& tensor) {
  for (TensorRole role : {TensorRole::kParameter, TensorRole::kBuffer, TensorRole::kBookkeeping}) {
    if (TensorRoleName(role) == name) return role;
  }
  throw py::value_error(fmt::format("tensor '{}': unknown role '{}'; accepted: parameter, buffer, "
                                    "bookkeeping",
                                    tensor, name));
}

// The model's tensors and the buffer views that keep their memory in place
// while the GIL is released.
struct PreparedModel {
  std::vector<std::unique_ptr<BufferView>> views;
  std::vector<ModelTensor> tensors;
};

// `entries` contains (name, dtype, shape, role, alias_of, destination)
// tuples. alias_of is the index of the entry whose memory this one shares,
// or -1. destination is a writable buffer, or None for a check and for a
// tensor without memory such as a non-tensor extra state.
PreparedModel PrepareModel(const py::list& entries) {
  PreparedModel prepared;
  prepared.tensors.reserve(entries.size());
  for (py::handle entry : entries) {
    auto [name, dtype, shape, role, alias_of, destination] =
        entry.cast<std::tuple<std::string, std::string, Shape, std::string, int64_t, py::object>>();
    if (alias_of >= static_cast<int64_t>(prepared.tensors.size())) {
      throw py::value_error(fmt::format("tensor '{}': alias_of {} does not name an earlier tensor",
                                        name, alias_of));
    }

    ModelTensor tensor;
    tensor.tensor.name = name;
    tensor.tensor.dtype = ParseDTypeArgument(dtype, name);
    tensor.tensor.shape = std::move(shape);
    tensor.tensor.role = ParseRoleOrThrow(role, name);
    tensor.alias_of = alias_of;
    if (!destination.is_none()) {
      prepared.views.push_back(std::make_unique<BufferView>(destination, /*writable=*/true,
                                                            fmt::format("tensor '{}'", name)));
      tensor.tensor.data = prepared.views.back()->data();
      tensor.tensor.data_bytes = prepared.views.back()->size_bytes();
    }
    prepared.tensors.push_back(std::move(tensor));
  }
  return prepared;
}

LoadOptions MakeLoadOptions(const std::vector<std::pair<std::string, std::string>>& renames,
                            const std::vector<std::string>& bookkeeping, const std::string& policy,
                            uint32_t threads, bool read_data) {
  LoadOptions options;
  for (const auto& [pattern, replacement] : renames) {
    options.rules.renames.push_back({pattern, replacement});
  }
  options.rules.bookkeeping_patterns = bookkeeping;
  std::optional<Policy> parsed = ParsePolicy(policy);
  if (!parsed) {
    throw py::value_error(
        fmt::format("unknown policy '{}'; accepted: default, strict, subset", policy));
  }
  options.policy = *parsed;
  options.threads = threads;
  options.read_data = read_data;
  return options;
}

// A sharding given as (key, kind, dim, ranges): kind "shard" splits
// dimension `dim`, "replicate" keeps the whole tensor and "slice" takes the
// hyperslab `ranges`, a list of (start, stop) pairs.
using ShardingSpec =
    std::tuple<std::string, std::string, uint32_t, std::vector<std::pair<uint64_t, uint64_t>>>;

Sharding ParseSharding(const ShardingSpec& spec) {
  const auto& [key, kind, dim, ranges] = spec;
  if (kind == "shard") return Sharding::Shard(dim);
  if (kind == "replicate") return Sharding::Replicate();
  if (kind == "slice") {
    Hyperslab slab;
    for (const auto& [start, stop] : ranges) slab.ranges.push_back({start, stop});
    return Sharding::Slice(std::move(slab));
  }
  throw py::value_error(fmt::format("sharding of '{}': unknown kind '{}'; accepted: shard, "
                                    "replicate, slice",
                                    key, kind));
}

// `by_name` specs are keyed by tensor name, `rules` specs by RE2 pattern.
ShardingLayout MakeShardingLayout(uint32_t rank, uint32_t world_size,
                                  const std::vector<ShardingSpec>& by_name,
                                  const std::vector<ShardingSpec>& rules) {
  ShardingLayout layout;
  layout.rank = rank;
  layout.world_size = world_size;
  for (const ShardingSpec& spec : by_name) layout.by_name[std::get<0>(spec)] = ParseSharding(spec);
  for (const ShardingSpec& spec : rules) {
    layout.rules.push_back({std::get<0>(spec), ParseSharding(spec)});
  }
  return layout;
}

// Returns (text report, JSON report).
py::tuple LoadInto(const std::string& checkpoint, const py::list& entries,
                   const std::vector<std::pair<std::string, std::string>>& renames,
                   const std::vector<std::string>& bookkeeping, const std::string& policy,
                   uint32_t threads, bool read_data, uint32_t rank, uint32_t world_size,
                   const std::vector<ShardingSpec>& shard_by_name,
                   const std::vector<ShardingSpec>& shard_rules) {
  const LoadOptions options = MakeLoadOptions(renames, bookkeeping, policy, threads, read_data);
  const ShardingLayout sharding = MakeShardingLayout(rank, world_size, shard_by_name, shard_rules);
  PreparedModel model = PrepareModel(entries);

  Status status;
  std::string text;
  std::string json;
  {
    py::gil_scoped_release release;
    Result<LoadReport> report =
        LoadIntoModel(checkpoint, std::move(model.tensors), sharding, options);
    status = report.status();
    if (report.ok()) {
      text = FormatReportText(*report);
      json = FormatReportJson(*report);
    }
  }
  ThrowIfError(status);
  return py::make_tuple(text, json);
}

// `entries` contains (name, dtype, shape, role, tied_to) tuples.
std::string FormatManifestText(const py::list& entries) {
  Manifest manifest;
  for (py::handle entry : entries) {
    auto [name, dtype, shape, role, tied_to] =
        entry.cast<std::tuple<std::string, std::string, Shape, std::string, std::string>>();
    ExpectedTensor tensor;
    tensor.name = name;
    tensor.dtype = ParseDTypeArgument(dtype, name);
    tensor.shape = std::move(shape);
    tensor.role = ParseRoleOrThrow(role, name);
    tensor.tied_to = tied_to;
    ThrowIfError(manifest.model.Add(std::move(tensor)));
  }
  return FormatManifest(manifest);
}

std::string ManifestFromCheckpointText(const std::string& path) {
  Result<Checkpoint> checkpoint = [&] {
    py::gil_scoped_release release;
    return Checkpoint::Open(path);
  }();
  return FormatManifest(ManifestFromCheckpoint(ValueOrThrow(std::move(checkpoint))));
}

}  // namespace

void RegisterLoad(py::module_& module) {
  module.def("load_into", &LoadInto, py::arg("checkpoint"), py::arg("entries"),
             py::arg("renames"), py::arg("bookkeeping"), py::arg("policy"), py::arg("threads"),
             py::arg("read_data"), py::arg("rank"), py::arg("world_size"),
             py::arg("shard_by_name"), py::arg("shard_rules"),
             "Reconcile and load a checkpoint into model tensors; returns (text, json) reports.");
  module.def("format_manifest", &FormatManifestText, py::arg("entries"),
             "Return the manifest text of (name, dtype, shape, role, tied_to) entries.");
  module.def("manifest_from_checkpoint", &ManifestFromCheckpointText, py::arg("path"),
             "Return the manifest text that matches a checkpoint exactly.");
}

}  // namespace safeckpt::python
