#include "save/tensor_copier.h"

#include <fcntl.h>  // sync_file_range
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>

#include "format/quote.h"
#include "load/convert.h"
#include "save/checkpoint_transaction.h"

namespace safeckpt::internal {
namespace {

// Largest chunk of a same-dtype copy. Chunks this size keep every worker
// busy on large tensors without making one syscall wait on gigabytes.
constexpr uint64_t kMaxCopyChunk = 16ull << 20;

// A piece of one job: bytes [first, first + count) of a same-dtype copy, or
// elements [first, first + count) of a conversion.
struct Chunk {
  size_t job = 0;
  uint64_t first = 0;
  uint64_t count = 0;
};

struct WorkerBuffers {
  std::vector<std::byte> input;
  std::vector<std::byte> output;
};

// Starts writeback of a range just written, without waiting for it, so the
// disk writes while later chunks are copied and the final fsync has less
// left to do. Errors are ignored: the fsync reports any write failure.
void StartWriteback(const CopyJob& job, uint64_t offset, uint64_t length) {
  ::sync_file_range(job.fd, static_cast<off_t>(offset), static_cast<off_t>(length), SYNC_FILE_RANGE_WRITE);
}

bool NeedsConversion(const CopyJob& job) { return job.source.dtype != job.dtype; }

uint64_t ElementBytes(DType dtype) { return std::max<uint64_t>(DTypeBits(dtype) / 8, 1); }

std::string Describe(const CopyJob& job) {
  return job.name.empty() ? "the header" : "tensor " + Quote(job.name);
}

std::vector<Chunk> SplitIntoChunks(const std::vector<CopyJob>& jobs, uint64_t worker_bytes) {
  std::vector<Chunk> chunks;
  for (size_t i = 0; i < jobs.size(); ++i) {
    const CopyJob& job = jobs[i];
    uint64_t total = job.nbytes;
    uint64_t per_chunk = std::min(kMaxCopyChunk, worker_bytes);
    if (NeedsConversion(job)) {
      total = job.elements;
      uint64_t element_bytes = ElementBytes(job.source.dtype) + ElementBytes(job.dtype);
      per_chunk = std::max<uint64_t>(1, worker_bytes / element_bytes);
    }
    for (uint64_t first = 0; first < total; first += per_chunk) {
      chunks.push_back({i, first, std::min(per_chunk, total - first)});
    }
  }
  return chunks;
}

Status WriteAll(const CopyJob& job, const std::byte* data, uint64_t length, uint64_t offset) {
  while (length > 0) {
    size_t request = static_cast<size_t>(std::min<uint64_t>(length, 1ull << 30));
    ssize_t wrote = ::pwrite(job.fd, data, request, static_cast<off_t>(offset));
    if (wrote < 0) {
      if (errno == EINTR) continue;
      return IoError(ErrorId::kWriteFailed,
                     WriteErrorMessage("cannot write " + Describe(job) + " at offset " +
                                           std::to_string(offset) + " of",
                                       *job.path, errno));
    }
    data += wrote;
    length -= static_cast<uint64_t>(wrote);
    offset += static_cast<uint64_t>(wrote);
  }
  return Status::Ok();
}

class Copier {
 public:
  Copier(const std::vector<CopyJob>& jobs, uint32_t workers) : jobs_(jobs), buffers_(workers) {}

  Status Run(const Chunk& chunk, uint32_t worker) {
    const CopyJob& job = jobs_[chunk.job];
    SAFECKPT_RETURN_IF_ERROR(Fill(job, chunk, worker));
    if (NeedsConversion(job)) {
      uint64_t out_size = ElementBytes(job.dtype);
      StartWriteback(job, job.offset + chunk.first * out_size, chunk.count * out_size);
    } else {
      StartWriteback(job, job.offset + chunk.first, chunk.count);
    }
    return Status::Ok();
  }

  CopyStats stats() const { return {bytes_read_.load(), bytes_written_.load(), bytes_converted_.load()}; }

 private:
  Status Fill(const CopyJob& job, const Chunk& chunk, uint32_t worker) {
    if (NeedsConversion(job)) return Convert(job, chunk, buffers_[worker]);
    if (job.source.memory != nullptr) {
      const auto* data = static_cast<const std::byte*>(job.source.memory) + chunk.first;
      SAFECKPT_RETURN_IF_ERROR(WriteAll(job, data, chunk.count, job.offset + chunk.first));
      bytes_written_ += chunk.count;
      return Status::Ok();
    }
    if (use_copy_file_range_.load(std::memory_order_relaxed)) {
      bool unsupported = false;
      SAFECKPT_RETURN_IF_ERROR(CopyInKernel(job, chunk, unsupported));
      if (!unsupported) return Status::Ok();
      use_copy_file_range_.store(false, std::memory_order_relaxed);
    }
    return CopyThroughBuffer(job, chunk, buffers_[worker]);
  }

  // Copies with copy_file_range. Sets `unsupported` (and copies nothing)
  // when the pair of file systems does not support it.
  Status CopyInKernel(const CopyJob& job, const Chunk& chunk, bool& unsupported) {
    loff_t in = static_cast<loff_t>(job.source.offset + chunk.first);
    loff_t out = static_cast<loff_t>(job.offset + chunk.first);
    uint64_t remaining = chunk.count;
    while (remaining > 0) {
      size_t request = static_cast<size_t>(std::min<uint64_t>(remaining, 1ull << 30));
      ssize_t copied = ::copy_file_range(job.source.file->fd(), &in, job.fd, &out, request, 0);
      if (copied < 0) {
        int error = errno;
        if (error == EINTR) continue;
        bool nothing_copied = remaining == chunk.count;
        if (nothing_copied && (error == EXDEV || error == EINVAL || error == ENOSYS ||
                               error == EOPNOTSUPP || error == EBADF)) {
          unsupported = true;
          return Status::Ok();
        }
        return IoError(ErrorId::kWriteFailed,
                       WriteErrorMessage("cannot copy " + Describe(job) + " from '" +
                                             job.source.file->path() + "' at offset " +
                                             std::to_string(in) + " to",
                                         *job.path, error));
      }
      if (copied == 0) return SourceEnded(job, static_cast<uint64_t>(in));
      remaining -= static_cast<uint64_t>(copied);
      bytes_read_ += static_cast<uint64_t>(copied);
      bytes_written_ += static_cast<uint64_t>(copied);
    }
    return Status::Ok();
  }

  Status CopyThroughBuffer(const CopyJob& job, const Chunk& chunk, WorkerBuffers& buffers) {
    if (buffers.input.size() < chunk.count) buffers.input.resize(chunk.count);
    SAFECKPT_RETURN_IF_ERROR(
        job.source.file->ReadAt(job.source.offset + chunk.first, buffers.input.data(), chunk.count));
    bytes_read_ += chunk.count;
    SAFECKPT_RETURN_IF_ERROR(WriteAll(job, buffers.input.data(), chunk.count, job.offset + chunk.first));
    bytes_written_ += chunk.count;
    return Status::Ok();
  }

  Status Convert(const CopyJob& job, const Chunk& chunk, WorkerBuffers& buffers) {
    uint64_t in_size = ElementBytes(job.source.dtype);
    uint64_t out_size = ElementBytes(job.dtype);
    uint64_t in_bytes = chunk.count * in_size;
    uint64_t out_bytes = chunk.count * out_size;

    const std::byte* input = nullptr;
    if (job.source.memory != nullptr) {
      input = static_cast<const std::byte*>(job.source.memory) + chunk.first * in_size;
    } else {
      if (buffers.input.size() < in_bytes) buffers.input.resize(in_bytes);
      SAFECKPT_RETURN_IF_ERROR(
          job.source.file->ReadAt(job.source.offset + chunk.first * in_size, buffers.input.data(), in_bytes));
      bytes_read_ += in_bytes;
      input = buffers.input.data();
    }

    if (buffers.output.size() < out_bytes) buffers.output.resize(out_bytes);
    ConvertKernel kernel = FindConvertKernel(job.source.dtype, job.dtype);
    kernel(input, buffers.output.data(), chunk.count);
    SAFECKPT_RETURN_IF_ERROR(WriteAll(job, buffers.output.data(), out_bytes, job.offset + chunk.first * out_size));
    bytes_written_ += out_bytes;
    bytes_converted_ += out_bytes;
    return Status::Ok();
  }

  Status SourceEnded(const CopyJob& job, uint64_t at) const {
    return IoError(ErrorId::kShortRead, "'" + job.source.file->path() + "': file ended at byte " +
                                            std::to_string(at) + " while copying " + Describe(job) +
                                            " (was it truncated while open?)");
  }

  const std::vector<CopyJob>& jobs_;
  std::vector<WorkerBuffers> buffers_;
  std::atomic<bool> use_copy_file_range_{true};
  std::atomic<uint64_t> bytes_read_{0};
  std::atomic<uint64_t> bytes_written_{0};
  std::atomic<uint64_t> bytes_converted_{0};
};

}  // namespace

Result<CopyStats> RunCopyJobs(const std::vector<CopyJob>& jobs, ThreadPool& pool,
                              uint64_t buffer_bytes) {
  uint64_t worker_bytes = std::max<uint64_t>(1, buffer_bytes / pool.size());
  std::vector<Chunk> chunks = SplitIntoChunks(jobs, worker_bytes);
  Copier copier(jobs, pool.size());
  SAFECKPT_RETURN_IF_ERROR(pool.Run(chunks.size(), [&](size_t task, uint32_t worker) {
    return copier.Run(chunks[task], worker);
  }));
  return copier.stats();
}

}  // namespace safeckpt::internal
