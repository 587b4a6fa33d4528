#include "load/executor.h"

#include <limits.h>
#include <sys/uio.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "format/same_file.h"
#include "io/file.h"
#include "load/convert.h"

namespace safeckpt::internal {
namespace {

using Clock = std::chrono::steady_clock;

#ifdef IOV_MAX
constexpr size_t kMaxIovecs = IOV_MAX;
#else
constexpr size_t kMaxIovecs = 16;
#endif

// Alignment of staging buffers: a cache line on x86-64 and common ARM cores,
// and enough for any vector load the conversion kernels use.
constexpr uint64_t kStagingAlignment = 64;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct FreeDeleter {
  void operator()(std::byte* buffer) const { std::free(buffer); }
};
using StagingBuffer = std::unique_ptr<std::byte, FreeDeleter>;

// Outcome of a vectored read: the bytes transferred, and the errno of the
// call that failed (0 when the read completed or the file ended first).
struct VectoredRead {
  uint64_t done = 0;
  int error = 0;
};

// Drops the first `transferred` bytes from iovecs[first...], advancing
// `first` past the entries that are full and trimming a partly filled one.
// NOTE: a transfer that stops inside an entry and then continues happens
// only after a signal or above 0x7ffff000 bytes, and no test forces it.
void ConsumeIovecs(std::vector<iovec>& iovecs, size_t& first, uint64_t transferred) {
  while (first < iovecs.size() && transferred >= iovecs[first].iov_len) {
    transferred -= iovecs[first].iov_len;
    ++first;
  }
  if (transferred > 0) {
    iovecs[first].iov_base = static_cast<char*>(iovecs[first].iov_base) + transferred;
    iovecs[first].iov_len -= transferred;
  }
}

// Reads `total` bytes at `offset` into `iovecs`, retrying EINTR and partial
// transfers (preadv may stop early, e.g. at a signal or above 0x7ffff000
// bytes on Linux).
VectoredRead ReadVectorAt(int fd, uint64_t offset, uint64_t total, std::vector<iovec>& iovecs) {
  VectoredRead read;
  size_t first = 0;
  while (read.done < total) {
    const auto count = static_cast<int>(std::min(iovecs.size() - first, kMaxIovecs));
    const ssize_t got = ::preadv(fd, &iovecs[first], count, static_cast<off_t>(offset + read.done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      read.error = errno;
      return read;
    }
    if (got == 0) return read;

    read.done += static_cast<uint64_t>(got);
    ConsumeIovecs(iovecs, first, static_cast<uint64_t>(got));
  }
  return read;
}

// State shared by the tasks of one ExecutePlan call. Each worker touches
// only its own staging buffer and convert-time slot.
class Execution {
 public:
  Execution(const LoadPlan& plan, const std::vector<std::string>& paths, uint32_t workers,
            const std::vector<CheckpointFile>* identities)
      : plan_(plan),
        paths_(paths),
        identities_(identities),
        files_(paths.size()),
        bytes_read_(paths.size()),
        bytes_written_(plan.tensors.size()),
        staging_(workers),
        gap_scratch_(workers),
        gather_scratch_(workers),
        convert_seconds_(workers, 0.0) {}

  Status OpenFiles();
  // Fails with kFileChanged when a file was modified while it was read, so
  // a write in place during the load cannot pass as a clean load.
  Status CheckFilesUnchanged() const;
  Status RunTask(size_t index, uint32_t worker);
  ExecutionStats Stats(double wall_seconds) const;

 private:
  Status ReadDirect(const ReadTask& task, uint32_t worker);
  Status RunGather(const GatherTask& gather, uint32_t worker);
  Status ReadForGather(const GatherTask& gather, uint32_t file, uint64_t offset, void* buffer,
                       uint64_t length);
  Status OpenFile(uint32_t file);
  Status ReadAndConvert(const ReadTask& task, uint32_t worker);
  Status ReadInto(const ReadTask& task, std::vector<iovec>& iovecs);
  Result<std::byte*> Staging(uint32_t worker);
  const std::string& TensorAt(const ReadTask& task, uint64_t position) const;
  Status ReadError(const ReadTask& task, const VectoredRead& read) const;

  const LoadPlan& plan_;
  const std::vector<std::string>& paths_;
  const std::vector<CheckpointFile>* identities_;  // may be null
  std::vector<File> files_;
  std::vector<std::atomic<uint64_t>> bytes_read_;
  // Bytes stored into each request's destination, indexed like plan.tensors.
  std::vector<std::atomic<uint64_t>> bytes_written_;
  std::vector<StagingBuffer> staging_;
  // Per-worker memory that gap targets are read into and dropped from.
  std::vector<std::vector<std::byte>> gap_scratch_;
  std::vector<GatherScratch> gather_scratch_;
  std::atomic<uint64_t> gather_bytes_read_{0};  // source bytes the gathers read
  std::vector<double> convert_seconds_;
};

Status Execution::OpenFile(uint32_t file) {
  if (file >= paths_.size()) {
    return Status(StatusCode::kInvalidArgument, ErrorId::kInternal,
                  "the load plan reads file " + std::to_string(file) + " but only " +
                      std::to_string(paths_.size()) + " files were given");
  }
  if (files_[file].fd() >= 0) return Status::Ok();
  SAFECKPT_ASSIGN_OR_RETURN(files_[file], File::OpenForRead(paths_[file]));
  if (identities_ != nullptr && file < identities_->size()) {
    SAFECKPT_RETURN_IF_ERROR(CheckSameFile(files_[file], (*identities_)[file]));
  }
  return Status::Ok();
}

Status Execution::OpenFiles() {
  for (const ReadTask& task : plan_.tasks) SAFECKPT_RETURN_IF_ERROR(OpenFile(task.file));
  for (const GatherTask& gather : plan_.gathers) {
    SAFECKPT_RETURN_IF_ERROR(OpenFile(gather.values.file));
    if (gather.decoding != Decoding::kNone) SAFECKPT_RETURN_IF_ERROR(OpenFile(gather.scales.file));
  }
  return Status::Ok();
}

Status Execution::CheckFilesUnchanged() const {
  if (identities_ == nullptr) return Status::Ok();
  for (size_t file = 0; file < files_.size() && file < identities_->size(); ++file) {
    if (files_[file].fd() < 0) continue;
    SAFECKPT_RETURN_IF_ERROR(CheckSameFile(files_[file], (*identities_)[file]));
  }
  return Status::Ok();
}

Status Execution::RunTask(size_t index, uint32_t worker) {
  if (index >= plan_.tasks.size()) {
    return RunGather(plan_.gathers[index - plan_.tasks.size()], worker);
  }
  const ReadTask& task = plan_.tasks[index];
  if (task.conversion) return ReadAndConvert(task, worker);
  return ReadDirect(task, worker);
}

Status Execution::ReadDirect(const ReadTask& task, uint32_t worker) {
  std::vector<std::byte>& scratch = gap_scratch_[worker];
  if (scratch.size() < plan_.max_gap_bytes) scratch.resize(plan_.max_gap_bytes);

  std::vector<iovec> iovecs;
  iovecs.reserve(task.targets.size());
  for (const ReadTarget& target : task.targets) {
    void* base = target.destination != nullptr ? static_cast<void*>(target.destination)
                                               : static_cast<void*>(scratch.data());
    iovecs.push_back(iovec{base, static_cast<size_t>(target.length)});
  }
  SAFECKPT_RETURN_IF_ERROR(ReadInto(task, iovecs));

  for (const ReadTarget& target : task.targets) {
    if (target.destination == nullptr) continue;
    bytes_written_[target.request].fetch_add(target.length, std::memory_order_relaxed);
  }
  return Status::Ok();
}

Status Execution::ReadForGather(const GatherTask& gather, uint32_t file, uint64_t offset,
                                 void* buffer, uint64_t length) {
  std::vector<iovec> iovecs = {iovec{buffer, static_cast<size_t>(length)}};
  const VectoredRead read = ReadVectorAt(files_[file].fd(), offset, length, iovecs);
  bytes_read_[file].fetch_add(read.done, std::memory_order_relaxed);
  gather_bytes_read_.fetch_add(read.done, std::memory_order_relaxed);
  if (read.done == length) return Status::Ok();

  const std::string prefix =
      paths_[file] + ": tensor '" + plan_.tensors[gather.request] + "': ";
  if (read.error != 0) {
    return IoError(ErrorId::kReadFailed, prefix + "read failed at offset " +
                                             std::to_string(offset + read.done) + ": " +
                                             std::strerror(read.error));
  }
  return IoError(ErrorId::kShortRead,
                 prefix + "file ended at byte " + std::to_string(offset + read.done) +
                     " while reading " + std::to_string(length) + " bytes at offset " +
                     std::to_string(offset) +
                     "; the file is shorter than when it was opened (truncated or replaced?)");
}

Status Execution::RunGather(const GatherTask& gather, uint32_t worker) {
  const auto read = [&](uint32_t file, uint64_t offset, void* buffer, uint64_t length) {
    return ReadForGather(gather, file, offset, buffer, length);
  };
  const auto start = Clock::now();
  SAFECKPT_ASSIGN_OR_RETURN(uint64_t written,
                            internal::RunGather(gather, read, gather_scratch_[worker]));
  convert_seconds_[worker] += SecondsSince(start);
  bytes_written_[gather.request].fetch_add(written, std::memory_order_relaxed);
  return Status::Ok();
}

Status Execution::ReadAndConvert(const ReadTask& task, uint32_t worker) {
  SAFECKPT_ASSIGN_OR_RETURN(std::byte* staging, Staging(worker));
  std::vector<iovec> iovecs = {iovec{staging, static_cast<size_t>(task.length)}};
  SAFECKPT_RETURN_IF_ERROR(ReadInto(task, iovecs));

  const ConversionStep& step = *task.conversion;
  const auto start = Clock::now();
  FindConvertKernel(step.from, step.to)(staging, step.destination, step.count);
  convert_seconds_[worker] += SecondsSince(start);
  bytes_written_[step.request].fetch_add(step.count * DTypeBits(step.to) / 8,
                                         std::memory_order_relaxed);
  return Status::Ok();
}

Status Execution::ReadInto(const ReadTask& task, std::vector<iovec>& iovecs) {
  const VectoredRead read = ReadVectorAt(files_[task.file].fd(), task.offset, task.length, iovecs);
  bytes_read_[task.file].fetch_add(read.done, std::memory_order_relaxed);
  if (read.done < task.length) return ReadError(task, read);
  return Status::Ok();
}

Result<std::byte*> Execution::Staging(uint32_t worker) {
  StagingBuffer& buffer = staging_[worker];
  if (buffer) return buffer.get();

  const uint64_t size = plan_.staging_bytes_per_worker;
  const uint64_t rounded = (size + kStagingAlignment - 1) / kStagingAlignment * kStagingAlignment;
  buffer.reset(static_cast<std::byte*>(std::aligned_alloc(kStagingAlignment, rounded)));
  if (!buffer) {
    return Status(StatusCode::kOutOfRange, ErrorId::kInternal,
                  "cannot allocate " + std::to_string(rounded) +
                      " bytes of staging memory for conversions; lower staging_bytes");
  }
  return buffer.get();
}

// Returns the name of the tensor whose bytes sit `position` bytes into the
// task.
const std::string& Execution::TensorAt(const ReadTask& task, uint64_t position) const {
  if (task.conversion) return plan_.tensors[task.conversion->request];
  for (const ReadTarget& target : task.targets) {
    if (position < target.length) return plan_.tensors[target.request];
    position -= target.length;
  }
  return plan_.tensors[task.targets.back().request];
}

Status Execution::ReadError(const ReadTask& task, const VectoredRead& read) const {
  const uint64_t position = task.offset + read.done;
  const std::string prefix =
      paths_[task.file] + ": tensor '" + TensorAt(task, read.done) + "': ";

  if (read.error != 0) {
    return IoError(ErrorId::kReadFailed, prefix + "read failed at offset " +
                                             std::to_string(position) + ": " +
                                             std::strerror(read.error));
  }
  return IoError(ErrorId::kShortRead,
                 prefix + "file ended at byte " + std::to_string(position) + " while reading " +
                     std::to_string(task.length) + " bytes at offset " +
                     std::to_string(task.offset) +
                     "; the file is shorter than when it was opened (truncated or replaced?)");
}

ExecutionStats Execution::Stats(double wall_seconds) const {
  ExecutionStats stats;
  for (const std::atomic<uint64_t>& bytes : bytes_read_) {
    stats.bytes_read_per_file.push_back(bytes.load());
    stats.bytes_read += bytes.load();
  }
  for (const std::atomic<uint64_t>& bytes : bytes_written_) {
    stats.bytes_written_per_request.push_back(bytes.load());
  }
  stats.wall_seconds = wall_seconds;
  stats.converted_bytes = plan_.converted_bytes + gather_bytes_read_.load();

  double convert_total = 0;
  for (double seconds : convert_seconds_) convert_total += seconds;
  stats.convert_seconds = convert_total / static_cast<double>(convert_seconds_.size());
  return stats;
}

}  // namespace

Result<ExecutionStats> ExecutePlan(const LoadPlan& plan, const std::vector<std::string>& files,
                                   ThreadPool& pool, const std::vector<CheckpointFile>* identities) {
  if (pool.size() != plan.workers) {
    return Status(StatusCode::kInvalidArgument, ErrorId::kInternal,
                  "the load plan was made for " + std::to_string(plan.workers) +
                      " workers but the thread pool has " + std::to_string(pool.size()));
  }

  const auto start = Clock::now();
  Execution execution(plan, files, pool.size(), identities);
  SAFECKPT_RETURN_IF_ERROR(execution.OpenFiles());
  const size_t count = plan.tasks.size() + plan.gathers.size();
  SAFECKPT_RETURN_IF_ERROR(pool.Run(count, [&](size_t task, uint32_t worker) {
    return execution.RunTask(task, worker);
  }));
  SAFECKPT_RETURN_IF_ERROR(execution.CheckFilesUnchanged());
  return execution.Stats(SecondsSince(start));
}

}  // namespace safeckpt::internal
