#include "safeckpt/loader.h"

#include <chrono>
#include <thread>

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
// and shape imply (bookkeeping entries: as large as the checkpoint bytes).
Status CheckDestination(const ExpectedTensor& expected, const CheckpointTensor& source,
                        bool bookkeeping) {
  const std::optional<uint64_t> required = ByteSize(expected.dtype, expected.shape);
  if (!required) {
    return DestinationError(expected, "shape " + FormatShape(expected.shape) + " of " +
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
                                          " bytes but shape " + FormatShape(expected.shape) +
                                          " of " + std::string(DTypeName(expected.dtype)) +
                                          " needs " + std::to_string(*required) + " bytes");
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

// One copy request per match. A tied match reads its source tensor, which
// Reconcile has already resolved; a bookkeeping match copies raw bytes.
std::vector<internal::CopyRequest> BuildRequests(
    const Checkpoint& checkpoint, const ModelState& model,
    const std::vector<internal::TensorMatch>& matches) {
  std::vector<internal::CopyRequest> requests;
  requests.reserve(matches.size());
  for (const internal::TensorMatch& match : matches) {
    const ExpectedTensor& expected = model.tensors()[match.expected];
    const CheckpointTensor& source = checkpoint.tensors()[match.source];

    internal::CopyRequest request;
    request.tensor = expected.name;
    request.file = source.file;
    request.offset = source.offset;
    request.nbytes = source.nbytes;
    request.destination = expected.data;
    if (match.bookkeeping) {
      request.source_dtype = DType::kU8;
      request.destination_dtype = DType::kU8;
      request.count = source.nbytes;
    } else {
      request.source_dtype = source.dtype;
      request.destination_dtype = expected.dtype;
      request.count = ElementCount(source.shape).value_or(0);
    }
    requests.push_back(std::move(request));
  }
  return requests;
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
  SAFECKPT_ASSIGN_OR_RETURN(
      internal::LoadPlan plan,
      internal::PlanLoad(BuildRequests(checkpoint, model, matches), plan_options));
  report.plan.bytes = plan.direct_bytes + plan.converted_bytes;
  report.plan.seconds = SecondsSince(plan_start);

  internal::ThreadPool pool(workers);
  SAFECKPT_ASSIGN_OR_RETURN(internal::ExecutionStats stats,
                            internal::ExecutePlan(plan, FilePaths(checkpoint), pool));
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
  if (report.rejected || !options.read_data) return std::move(report);

  SAFECKPT_RETURN_IF_ERROR(CheckDestinations(checkpoint, model, matches));
  SAFECKPT_RETURN_IF_ERROR(ReadMatches(checkpoint, model, matches, options, report));
  report.data_read = true;
  LogThroughput(options.logger, report);
  return std::move(report);
}

}  // namespace safeckpt
