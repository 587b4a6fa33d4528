// safeckpt inspect: what a checkpoint holds, without reading tensor data.
#include <fmt/core.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "cli/commands.h"
#include "core/byte_units.h"
#include "core/json_writer.h"
#include "core/terminal_text.h"
#include "safeckpt/checkpoint.h"
#include "safeckpt/load_report.h"
#include "safeckpt/logger.h"

namespace safeckpt::cli {
namespace {

struct DTypeTotals {
  uint64_t count = 0;
  uint64_t bytes = 0;
};

std::map<std::string, DTypeTotals> TotalsByDType(const Checkpoint& checkpoint) {
  std::map<std::string, DTypeTotals> totals;
  for (const CheckpointTensor& tensor : checkpoint.tensors()) {
    DTypeTotals& entry = totals[std::string(DTypeName(tensor.dtype))];
    entry.count += 1;
    entry.bytes += tensor.nbytes;
  }
  return totals;
}

// One line of the grouped listing: names sharing dtype and shape, with
// numeric indices folded.
struct TensorGroup {
  std::string names;
  DType dtype;
  Shape shape;
};

std::vector<TensorGroup> GroupByDTypeAndShape(const Checkpoint& checkpoint) {
  std::map<std::pair<DType, Shape>, std::vector<std::string>> buckets;
  for (const CheckpointTensor& tensor : checkpoint.tensors()) {
    buckets[{tensor.dtype, tensor.shape}].push_back(tensor.name);
  }
  std::vector<TensorGroup> groups;
  for (const auto& [key, names] : buckets) {
    for (std::string& grouped : GroupNames(names)) {
      groups.push_back({std::move(grouped), key.first, key.second});
    }
  }
  std::sort(groups.begin(), groups.end(),
            [](const TensorGroup& a, const TensorGroup& b) { return a.names < b.names; });
  return groups;
}

Status PrintText(const Checkpoint& checkpoint, bool all) {
  std::string out;
  out += fmt::format("checkpoint: {} ({} file{}{})\n", internal::EscapeForTerminal(checkpoint.path()), checkpoint.files().size(),
                     checkpoint.files().size() == 1 ? "" : "s",
                     checkpoint.has_index() ? ", with index" : "");
  out += fmt::format("tensors: {}, {} ({} bytes)\n", checkpoint.tensors().size(),
                     internal::FormatBytes(checkpoint.tensor_bytes()), checkpoint.tensor_bytes());

  std::map<uint32_t, uint64_t> tensors_per_file;
  for (const CheckpointTensor& tensor : checkpoint.tensors()) tensors_per_file[tensor.file] += 1;
  out += "files:\n";
  for (uint32_t i = 0; i < checkpoint.files().size(); ++i) {
    const CheckpointFile& file = checkpoint.files()[i];
    out += fmt::format("  {}  {}  {} {}\n", internal::EscapeForTerminal(file.name),
                       internal::FormatBytes(file.size), tensors_per_file[i],
                       tensors_per_file[i] == 1 ? "tensor" : "tensors");
    for (const auto& [key, value] : file.metadata) {
      out += fmt::format("    metadata {} = {}\n", internal::EscapeForTerminal(key),
                         internal::EscapeForTerminal(value));
    }
  }

  out += "dtypes:\n";
  for (const auto& [name, totals] : TotalsByDType(checkpoint)) {
    out += fmt::format("  {:<12} {:>8} tensors  {}\n", name, totals.count, internal::FormatBytes(totals.bytes));
  }

  if (all) {
    out += "tensors:\n";
    for (const CheckpointTensor& tensor : checkpoint.tensors()) {
      out += fmt::format("  {}  {}  {}  {}\n", internal::EscapeForTerminal(tensor.name),
                         DTypeName(tensor.dtype), FormatShape(tensor.shape),
                         internal::EscapeForTerminal(checkpoint.files()[tensor.file].name));
    }
  } else {
    out += "tensors (names grouped by dtype and shape):\n";
    for (const TensorGroup& group : GroupByDTypeAndShape(checkpoint)) {
      out += fmt::format("  {}  {}  {}\n", internal::EscapeForTerminal(group.names),
                         DTypeName(group.dtype), FormatShape(group.shape));
    }
  }

  for (const StaleCopy& stale : checkpoint.stale_copies()) {
    out += fmt::format("stale copy: '{}' in {} is never read; the index maps it to {}\n",
                       internal::EscapeForTerminal(stale.tensor),
                       internal::EscapeForTerminal(stale.file),
                       internal::EscapeForTerminal(stale.index_file));
  }
  return WriteStdout(out);
}

Status PrintJson(const Checkpoint& checkpoint) {
  internal::JsonWriter json(2);
  json.BeginObject();
  json.Key("checkpoint");
  json.String(checkpoint.path());
  json.Key("has_index");
  json.Bool(checkpoint.has_index());
  json.Key("tensor_count");
  json.Uint(checkpoint.tensors().size());
  json.Key("tensor_bytes");
  json.Uint(checkpoint.tensor_bytes());

  json.Key("files");
  json.BeginArray();
  for (const CheckpointFile& file : checkpoint.files()) {
    json.BeginObject(/*inline_container=*/true);
    json.Key("name");
    json.String(file.name);
    json.Key("size");
    json.Uint(file.size);
    json.Key("metadata");
    json.BeginObject();
    for (const auto& [key, value] : file.metadata) {
      json.Key(key);
      json.String(value);
    }
    json.EndObject();
    json.EndObject();
  }
  json.EndArray();

  json.Key("dtypes");
  json.BeginObject();
  for (const auto& [name, totals] : TotalsByDType(checkpoint)) {
    json.Key(name);
    json.BeginObject(/*inline_container=*/true);
    json.Key("count");
    json.Uint(totals.count);
    json.Key("bytes");
    json.Uint(totals.bytes);
    json.EndObject();
  }
  json.EndObject();

  json.Key("tensors");
  json.BeginArray();
  for (const CheckpointTensor& tensor : checkpoint.tensors()) {
    json.BeginObject(/*inline_container=*/true);
    json.Key("name");
    json.String(tensor.name);
    json.Key("dtype");
    json.String(DTypeName(tensor.dtype));
    json.Key("shape");
    json.BeginArray();
    for (uint64_t dim : tensor.shape) json.Uint(dim);
    json.EndArray();
    json.Key("file");
    json.String(checkpoint.files()[tensor.file].name);
    json.Key("offset");
    json.Uint(tensor.offset);
    json.Key("nbytes");
    json.Uint(tensor.nbytes);
    json.EndObject();
  }
  json.EndArray();

  json.Key("stale_copies");
  json.BeginArray();
  for (const StaleCopy& stale : checkpoint.stale_copies()) {
    json.BeginObject(/*inline_container=*/true);
    json.Key("tensor");
    json.String(stale.tensor);
    json.Key("file");
    json.String(stale.file);
    json.Key("index_file");
    json.String(stale.index_file);
    json.EndObject();
  }
  json.EndArray();

  json.Key("warnings");
  json.BeginArray();
  for (const std::string& warning : checkpoint.warnings()) json.String(warning);
  json.EndArray();
  json.EndObject();

  return WriteStdout(json.Take() + "\n");
}

}  // namespace

int RunInspect(const InspectOptions& options) {
  StderrLogger logger;
  OpenOptions open_options;
  open_options.logger = &logger;
  open_options.strict_index = options.strict_index;
  Result<Checkpoint> checkpoint = Checkpoint::Open(options.checkpoint, open_options);
  if (!checkpoint.ok()) return ReportError(checkpoint.status(), kExitBadCheckpoint);

  Status printed = options.format == OutputFormat::kJson ? PrintJson(*checkpoint)
                                                         : PrintText(*checkpoint, options.all);
  return printed.ok() ? kExitOk : ReportError(printed, kExitWriteFailed);
}

}  // namespace safeckpt::cli
