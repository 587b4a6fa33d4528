#include "safeckpt/loader.h"

#include <algorithm>
#include <chrono>
#include <numeric>
#include <thread>
#include <unordered_map>

#include "io/thread_pool.h"
#include "load/convert.h"
#include "load/executor.h"
#include "load/plan.h"
#include "load/reconcile.h"
#include "load/region.h"
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

const std::string& FilePath(const Checkpoint& checkpoint, const CheckpointTensor& source) {
  return checkpoint.files()[source.file].path;
}

// Checks that every weight's checkpoint dtype converts to the model dtype.
// Bookkeeping entries are copied as raw bytes and need no conversion.
Status CheckConversions(const Checkpoint& checkpoint, const ModelState& model,
                        const std::vector<internal::TensorMatch>& matches) {
  for (const internal::TensorMatch& match : matches) {
    if (match.bookkeeping) continue;
    const ExpectedTensor& expected = model.tensors()[match.expected];
    const CheckpointTensor& source = checkpoint.tensors()[match.source];
    const Status status = internal::CheckConversion(source.dtype, expected.dtype, expected.name);
    if (!status.ok()) return status.WithContext(FilePath(checkpoint, source));
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

Status CheckDestinations(const Checkpoint& checkpoint, const ModelState& model,
                         const std::vector<internal::TensorMatch>& matches) {
  for (const internal::TensorMatch& match : matches) {
    SAFECKPT_RETURN_IF_ERROR(CheckDestination(model.tensors()[match.expected],
                                              checkpoint.tensors()[match.source],
                                              match.bookkeeping));
  }
  return Status::Ok();
}

// Copy requests and, for each, the index of the expected tensor it fills.
struct Requests {
  std::vector<internal::CopyRequest> requests;
  std::vector<size_t> expected;
};

internal::CopyRequest WholeRequest(const ExpectedTensor& expected, const CheckpointTensor& source,
                                   bool bookkeeping) {
  internal::CopyRequest request;
  request.tensor = expected.name;
  request.file = source.file;
  request.offset = source.offset;
  request.nbytes = source.nbytes;
  request.destination = expected.data;
  if (bookkeeping) {
    request.source_dtype = DType::kU8;
    request.destination_dtype = DType::kU8;
    request.count = source.nbytes;
  } else {
    request.source_dtype = source.dtype;
    request.destination_dtype = expected.dtype;
    request.count = ElementCount(source.shape).value_or(0);
  }
  return request;
}

// Element offsets and counts in bits must fall on whole bytes, which only
// sub-byte dtypes (F4, F6) can violate.
Result<uint64_t> WholeBytes(uint64_t elements, DType dtype, const ExpectedTensor& expected) {
  const uint64_t bits = elements * DTypeBits(dtype);
  if (bits % 8 == 0) return bits / 8;
  return InvalidArgument(
      ErrorId::kSliceInvalid,
      "tensor '" + expected.name + "': slice " + FormatHyperslab(*expected.slice) + " of " +
          std::string(DTypeName(dtype)) + " " + FormatShape(expected.shape) +
          " does not start and end on whole bytes; align the slice to multiples of " +
          std::to_string(8 / std::gcd(DTypeBits(dtype), 8u)) + " elements");
}

// One request per contiguous run of a sliced tensor: a row shard is one run,
// an inner-dimension slice one run per covered row. Runs share a coalesce
// key, so the plan may read across the small gaps between them.
Status AddSliceRequests(const ExpectedTensor& expected, const CheckpointTensor& source,
                        uint64_t coalesce_key, Requests& out, size_t expected_index) {
  const Hyperslab& slab = *expected.slice;
  const Shape local = slab.shape();
  Status status;
  internal::ForEachRun(source.shape, slab, local, Hyperslab::Whole(local),
                       [&](const internal::ElementRun& run) {
    if (!status.ok()) return;
    Result<uint64_t> source_offset = WholeBytes(run.source, source.dtype, expected);
    Result<uint64_t> nbytes = WholeBytes(run.count, source.dtype, expected);
    Result<uint64_t> destination_offset = WholeBytes(run.destination, expected.dtype, expected);
    for (const Status& step : {source_offset.status(), nbytes.status(),
                               destination_offset.status()}) {
      if (!step.ok()) {
        status = step;
        return;
      }
    }

    internal::CopyRequest request;
    request.tensor = expected.name;
    request.file = source.file;
    request.offset = source.offset + *source_offset;
    request.nbytes = *nbytes;
    request.source_dtype = source.dtype;
    request.destination_dtype = expected.dtype;
    request.count = run.count;
    request.destination = static_cast<std::byte*>(expected.data) + *destination_offset;
    request.coalesce_key = coalesce_key;
    out.requests.push_back(std::move(request));
    out.expected.push_back(expected_index);
  });
  return status;
}

// Copy requests for every match. A tied match reads its source tensor, which
// Reconcile has already resolved; a bookkeeping match copies raw bytes of the
// whole entry.
Result<Requests> BuildRequests(const Checkpoint& checkpoint, const ModelState& model,
                               const std::vector<internal::TensorMatch>& matches) {
  Requests out;
  out.requests.reserve(matches.size());
  uint64_t coalesce_key = 0;
  for (const internal::TensorMatch& match : matches) {
    const ExpectedTensor& expected = model.tensors()[match.expected];
    const CheckpointTensor& source = checkpoint.tensors()[match.source];
    if (!match.bookkeeping && expected.slice && !expected.slice->IsWhole(expected.shape)) {
      SAFECKPT_RETURN_IF_ERROR(
          AddSliceRequests(expected, source, ++coalesce_key, out, match.expected));
      continue;
    }
    out.requests.push_back(WholeRequest(expected, source, match.bookkeeping));
    out.expected.push_back(match.expected);
  }
  return out;
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
void ReportWrites(const ModelState& model, const std::vector<size_t>& request_expected,
                  const std::vector<uint64_t>& written_per_request, LoadReport& report) {
  std::unordered_map<std::string_view, uint64_t> written;
  for (size_t request = 0; request < written_per_request.size(); ++request) {
    written[model.tensors()[request_expected[request]].name] += written_per_request[request];
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

// Fills the rank part of the report from the loaded tensors' slices.
void ReportRank(const ModelState& model, const LoadOptions& options, LoadReport& report) {
  report.rank.rank = options.rank;
  report.rank.world_size = options.world_size;
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
Status ReadMatches(const Checkpoint& checkpoint, const ModelState& model,
                   const std::vector<internal::TensorMatch>& matches, const LoadOptions& options,
                   LoadReport& report) {
  const uint32_t workers = WorkerCount(options.threads);

  const auto plan_start = Clock::now();
  internal::PlanOptions plan_options;
  plan_options.workers = workers;
  plan_options.staging_bytes = options.staging_bytes;
  plan_options.max_read_bytes = options.max_read_bytes;
  plan_options.max_gap_bytes = options.max_gap_bytes;
  SAFECKPT_ASSIGN_OR_RETURN(Requests requests, BuildRequests(checkpoint, model, matches));
  SAFECKPT_ASSIGN_OR_RETURN(internal::LoadPlan plan,
                            internal::PlanLoad(requests.requests, plan_options));
  report.plan.bytes = plan.direct_bytes + plan.converted_bytes + plan.gap_bytes;
  report.plan.seconds = SecondsSince(plan_start);

  internal::ThreadPool pool(workers);
  SAFECKPT_ASSIGN_OR_RETURN(internal::ExecutionStats stats,
                            internal::ExecutePlan(plan, FilePaths(checkpoint), pool));
  ReportWrites(model, requests.expected, stats.bytes_written_per_request, report);
  ReportBytesPerFile(checkpoint, stats.bytes_read_per_file, report);
  report.read.bytes = stats.bytes_read;
  report.read.seconds = stats.wall_seconds;
  report.convert.bytes = stats.converted_bytes;
  report.convert.seconds = stats.convert_seconds;
  report.threads = workers;

  if (options.checksums) SAFECKPT_RETURN_IF_ERROR(ComputeChecksums(model, matches, pool, report));
  return Status::Ok();
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
  SAFECKPT_ASSIGN_OR_RETURN(internal::Reconciliation reconciliation,
                            internal::Reconcile(checkpoint, model, rules, options.policy));
  LoadReport& report = reconciliation.report;
  const std::vector<internal::TensorMatch>& matches = reconciliation.matches;

  SAFECKPT_RETURN_IF_ERROR(CheckConversions(checkpoint, model, matches));
  ReportRank(model, options, report);
  if (report.rejected || !options.read_data) return std::move(report);

  SAFECKPT_RETURN_IF_ERROR(CheckDestinations(checkpoint, model, matches));
  SAFECKPT_RETURN_IF_ERROR(ReadMatches(checkpoint, model, matches, options, report));
  ReportRank(model, options, report);
  report.data_read = true;
  LogThroughput(options.logger, report);
  return std::move(report);
}

}  // namespace safeckpt
