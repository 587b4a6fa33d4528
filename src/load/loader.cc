#include "safeckpt/loader.h"

#include <algorithm>
#include <chrono>
#include <thread>
#include <unordered_map>

#include "adapt/adapter_spec.h"
#include "adapt/copy_plan.h"
#include "adapt/source_view.h"
#include "io/thread_pool.h"
#include "load/convert.h"
#include "load/executor.h"
#include "load/plan.h"
#include "load/reconcile.h"
#include "load/sha256.h"

namespace safeckpt {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

uint32_t WorkerCount(uint32_t requested) {
  if (requested > 0) return requested;
  const unsigned cores = std::thread::hardware_concurrency();
  return cores > 0 ? cores : 1;
}

// Checks that every weight's source dtype converts to the model dtype: a
// dequantized source converts from F64, anything else from its own dtype.
// Bookkeeping entries are copied as raw bytes and need no conversion.
Status CheckConversions(const Checkpoint& checkpoint, const internal::SourceView& view,
                        const ModelState& model, const std::vector<internal::TensorMatch>& matches) {
  for (const internal::TensorMatch& match : matches) {
    if (match.bookkeeping) continue;
    const ExpectedTensor& expected = model.tensors()[match.expected];
    const internal::NativeTensor& native = view.tensors[match.source];
    const internal::LogicalSource& first = view.sources[native.pieces.front().source];
    const std::string& context =
        native.stacked || native.pieces.size() != 1
            ? checkpoint.path()
            : checkpoint.files()[checkpoint.tensors()[first.tensor].file].path;
    if (native.decoded && !internal::CanConvert(DType::kF64, expected.dtype)) {
      return Unimplemented(ErrorId::kUnsupportedConversion,
                           context + ": tensor '" + expected.name + "': quantized " +
                               std::string(DTypeName(native.dtype)) +
                               " dequantizes only into F64, F32, F16 or BF16, not " +
                               std::string(DTypeName(expected.dtype)));
    }
    if (native.decoded) continue;
    const Status status = internal::CheckConversion(native.dtype, expected.dtype, expected.name);
    if (!status.ok()) return status.WithContext(context);
  }
  return Status::Ok();
}

Status DestinationError(const ExpectedTensor& expected, const std::string& problem) {
  return InvalidArgument(ErrorId::kDestinationInvalid,
                         "tensor '" + expected.name + "': " + problem);
}

// Checks one destination: present, and exactly as large as the model dtype
// and local shape imply (bookkeeping entries: as large as the checkpoint
// bytes).
Status CheckDestination(const ExpectedTensor& expected, const CheckpointTensor& source,
                        bool bookkeeping) {
  const Shape local = expected.LocalShape();
  const std::optional<uint64_t> required = ByteSize(expected.dtype, local);
  if (!required) {
    return DestinationError(expected, "shape " + FormatShape(local) + " of " +
                                          std::string(DTypeName(expected.dtype)) +
                                          " has no whole byte size");
  }
  if (expected.data == nullptr && *required > 0) {
    return DestinationError(expected, "destination memory is null but " +
                                          std::to_string(*required) +
                                          " bytes are needed; set data before loading");
  }
  if (expected.data_bytes != *required) {
    return DestinationError(expected, "destination has " + std::to_string(expected.data_bytes) +
                                          " bytes but shape " + FormatShape(local) +
                                          " of " + std::string(DTypeName(expected.dtype)) +
                                          " needs " + std::to_string(*required) + " bytes");
  }
  if (bookkeeping && expected.IsSliced()) {
    return DestinationError(expected, "bookkeeping entries load whole, but the tensor has slice " +
                                          FormatHyperslab(*expected.slice) +
                                          "; replicate bookkeeping entries");
  }
  if (bookkeeping && expected.data_bytes != source.nbytes) {
    return DestinationError(expected, "destination has " + std::to_string(expected.data_bytes) +
                                          " bytes but checkpoint entry '" + source.name +
                                          "' has " + std::to_string(source.nbytes) + " bytes");
  }
  if (!bookkeeping && ElementCount(expected.shape) != ElementCount(source.shape)) {
    return Status(StatusCode::kInvalidArgument, ErrorId::kInternal,
                  "tensor '" + expected.name + "': matched to '" + source.name +
                      "' although shapes " + FormatShape(expected.shape) + " and " +
                      FormatShape(source.shape) + " differ");
  }
  return Status::Ok();
}

Status CheckDestinations(const std::vector<CheckpointTensor>& sources, const ModelState& model,
                         const std::vector<internal::TensorMatch>& matches) {
  for (const internal::TensorMatch& match : matches) {
    SAFECKPT_RETURN_IF_ERROR(CheckDestination(model.tensors()[match.expected],
                                              sources[match.source], match.bookkeeping));
  }
  return Status::Ok();
}

std::vector<std::string> FilePaths(const Checkpoint& checkpoint) {
  std::vector<std::string> paths;
  for (const CheckpointFile& file : checkpoint.files()) paths.push_back(file.path);
  return paths;
}

// Computes the SHA-256 of every matched destination, one task per tensor.
Status ComputeChecksums(const ModelState& model,
                        const std::vector<internal::TensorMatch>& matches,
                        internal::ThreadPool& pool, LoadReport& report) {
  std::vector<std::string> digests(matches.size());
  SAFECKPT_RETURN_IF_ERROR(pool.Run(matches.size(), [&](size_t index, uint32_t) -> Status {
    const ExpectedTensor& expected = model.tensors()[matches[index].expected];
    SAFECKPT_ASSIGN_OR_RETURN(digests[index],
                              internal::Sha256Hex(expected.data, expected.data_bytes));
    return Status::Ok();
  }));

  for (size_t index = 0; index < matches.size(); ++index) {
    report.checksums[model.tensors()[matches[index].expected].name] = std::move(digests[index]);
  }
  return Status::Ok();
}

// Bytes of an expected tensor's destination: its slice, or all of it.
uint64_t DestinationBytes(const ExpectedTensor& expected) {
  return ByteSize(expected.dtype, expected.LocalShape()).value_or(0);
}

// Moves every loaded tensor whose destination was not completely written to
// the missing list, so "loaded" names only what the load actually stored.
// Written bytes are indexed like LoadPlan::tensors: the copy plan's requests,
// then its gathers.
void ReportWrites(const ModelState& model, const internal::CopyPlan& copies,
                  const std::vector<uint64_t>& written_per_request, LoadReport& report) {
  std::unordered_map<std::string_view, uint64_t> written;
  const size_t requests = copies.request_expected.size();
  for (size_t request = 0; request < written_per_request.size(); ++request) {
    const size_t expected = request < requests ? copies.request_expected[request]
                                               : copies.gather_expected[request - requests];
    written[model.tensors()[expected].name] += written_per_request[request];
  }

  std::vector<std::string> loaded;
  for (std::string& name : report.loaded) {
    const ExpectedTensor* expected = model.Find(name);
    if (expected != nullptr && written[name] < DestinationBytes(*expected)) {
      report.missing.push_back(std::move(name));
      continue;
    }
    loaded.push_back(std::move(name));
  }
  report.loaded = std::move(loaded);
  std::sort(report.missing.begin(), report.missing.end());
}

void ReportBytesPerFile(const Checkpoint& checkpoint, const std::vector<uint64_t>& bytes_per_file,
                        LoadReport& report) {
  for (size_t file = 0; file < bytes_per_file.size(); ++file) {
    if (bytes_per_file[file] == 0) continue;
    report.rank.bytes_read_per_file.push_back({checkpoint.files()[file].name, bytes_per_file[file]});
  }
}

// Moves loaded tensors whose slice the pieces do not cover (an expert
// missing from the checkpoint) to the missing list. Only an adapter makes
// such tensors.
void ReportUncovered(const internal::SourceView& view, const ModelState& model,
                     const std::vector<internal::TensorMatch>& matches, LoadReport& report) {
  std::unordered_map<std::string_view, bool> complete;
  for (const internal::TensorMatch& match : matches) {
    if (match.bookkeeping) continue;
    const ExpectedTensor& expected = model.tensors()[match.expected];
    const Hyperslab slice = expected.slice.value_or(Hyperslab::Whole(expected.shape));
    const uint64_t needed = ElementCount(slice.shape()).value_or(0);
    complete[expected.name] =
        internal::CoveredElements(view.tensors[match.source], slice) == needed;
  }

  std::vector<std::string> loaded;
  for (std::string& name : report.loaded) {
    auto found = complete.find(name);
    if (found != complete.end() && !found->second) {
      report.missing.push_back(std::move(name));
      continue;
    }
    loaded.push_back(std::move(name));
  }
  report.loaded = std::move(loaded);
  std::sort(report.missing.begin(), report.missing.end());
}

// Fills the rank part of the report from the loaded tensors' slices.
void ReportRank(const internal::SourceView& view, const ModelState& model,
                const std::vector<internal::TensorMatch>& matches, const LoadOptions& options,
                LoadReport& report) {
  report.rank.rank = options.rank;
  report.rank.world_size = options.world_size;
  report.rank.adapter = view.adapter;
  report.rank.adapter_sources =
      view.adapter.empty() ? 0 : internal::CheckpointTensorsRead(view, model, matches).size();
  report.rank.sliced = 0;
  report.rank.empty = 0;
  report.rank.destination_bytes = 0;
  for (const std::string& name : report.loaded) {
    const ExpectedTensor* expected = model.Find(name);
    if (expected == nullptr) continue;
    if (expected->IsSliced()) ++report.rank.sliced;
    if (expected->slice && expected->slice->IsEmpty()) ++report.rank.empty;
    report.rank.destination_bytes += DestinationBytes(*expected);
  }
}

// Plans, reads and converts every match, filling the report's timings.
Status ReadMatches(const Checkpoint& checkpoint, const internal::SourceView& view,
                   const ModelState& model, const std::vector<internal::TensorMatch>& matches,
                   const LoadOptions& options, LoadReport& report) {
  const uint32_t workers = WorkerCount(options.threads);

  // The pool may start fewer threads than asked when the system refuses
  // some, so the plan is made for the workers it really has.
  internal::ThreadPool pool(workers);
  const auto plan_start = Clock::now();
  internal::PlanOptions plan_options;
  plan_options.workers = pool.size();
  plan_options.staging_bytes = options.staging_bytes;
  plan_options.max_read_bytes = options.max_read_bytes;
  plan_options.max_gap_bytes = options.max_gap_bytes;
  SAFECKPT_ASSIGN_OR_RETURN(internal::CopyPlan copies,
                            internal::BuildCopyPlan(checkpoint, view, model, matches));
  SAFECKPT_ASSIGN_OR_RETURN(internal::LoadPlan plan,
                            internal::PlanLoad(copies.requests, copies.gathers, plan_options));
  report.plan.bytes = plan.direct_bytes + plan.converted_bytes + plan.gap_bytes;
  report.plan.seconds = SecondsSince(plan_start);

  SAFECKPT_ASSIGN_OR_RETURN(internal::ExecutionStats stats,
                            internal::ExecutePlan(plan, FilePaths(checkpoint), pool, &checkpoint.files()));
  ReportWrites(model, copies, stats.bytes_written_per_request, report);
  ReportBytesPerFile(checkpoint, stats.bytes_read_per_file, report);
  report.read.bytes = stats.bytes_read;
  report.read.seconds = stats.wall_seconds;
  report.convert.bytes = stats.converted_bytes;
  report.convert.seconds = stats.convert_seconds;
  report.threads = pool.size();

  if (options.checksums) SAFECKPT_RETURN_IF_ERROR(ComputeChecksums(model, matches, pool, report));
  return Status::Ok();
}

// The checkpoint in the model's layout: through the adapter named in
// `options`, or tensor for tensor.
Result<internal::SourceView> ViewCheckpoint(const Checkpoint& checkpoint,
                                            const LoadOptions& options) {
  if (options.adapter.empty()) return internal::IdentityView(checkpoint);
  const internal::AdapterSpec* spec = internal::FindAdapterSpec(options.adapter);
  if (spec == nullptr) {
    std::string names;
    for (const internal::AdapterSpec& known : internal::AdapterSpecs()) {
      names += names.empty() ? "" : ", ";
      names += known.name;
    }
    return InvalidArgument(ErrorId::kAdapterInvalid, "unknown adapter '" + options.adapter +
                                                         "'; known adapters: " + names);
  }
  return internal::BuildSourceView(checkpoint.path(), checkpoint.tensors(), *spec);
}

void LogThroughput(Logger* logger, const LoadReport& report) {
  if (logger == nullptr) return;
  logger->Log(LogLevel::kInfo,
              "read " + std::to_string(report.read.bytes) + " bytes in " +
                  std::to_string(report.read.seconds) + " s (" +
                  std::to_string(report.read.GiBPerSecond()) + " GiB/s) on " +
                  std::to_string(report.threads) + " threads");
}

}  // namespace

Result<LoadReport> LoadCheckpoint(const Checkpoint& checkpoint, ModelState& model,
                                  const LoadOptions& options) {
  SAFECKPT_ASSIGN_OR_RETURN(CompiledKeyRules rules, CompiledKeyRules::Compile(options.rules));
  SAFECKPT_ASSIGN_OR_RETURN(internal::SourceView view, ViewCheckpoint(checkpoint, options));
  const std::vector<CheckpointTensor> sources = view.AsCheckpointTensors();
  SAFECKPT_ASSIGN_OR_RETURN(
      internal::Reconciliation reconciliation,
      internal::Reconcile(checkpoint, sources, model, rules, options.policy));
  LoadReport& report = reconciliation.report;
  const std::vector<internal::TensorMatch>& matches = reconciliation.matches;

  SAFECKPT_RETURN_IF_ERROR(CheckConversions(checkpoint, view, model, matches));
  ReportUncovered(view, model, matches, report);
  ReportRank(view, model, matches, options, report);
  if (report.rejected || !options.read_data) return std::move(report);

  SAFECKPT_RETURN_IF_ERROR(CheckDestinations(sources, model, matches));
  SAFECKPT_RETURN_IF_ERROR(ReadMatches(checkpoint, view, model, matches, options, report));
  ReportRank(view, model, matches, options, report);
  report.data_read = true;
  LogThroughput(options.logger, report);
  return std::move(report);
}

}  // namespace safeckpt
