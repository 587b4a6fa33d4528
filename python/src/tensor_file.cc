#include "tensor_file.h"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "io/file.h"
#include "load/executor.h"
#include "load/plan.h"

namespace safeckpt::python {
namespace {

// Hyperslabs whose runs lie closer together than this are read whole, in
// chunks, and gathered in memory rather than read with one call per run.
// One read call costs about 1.5 us, the time a page-cache copy at about
// 5 GiB/s needs for 8 KiB, so below this gap reading the gaps is cheaper.
// NOTE: an estimate for page-cache reads on x86 servers, not measured on
// cold storage.
constexpr uint64_t kGatherMaxGapBytes = 8 << 10;

// Staging buffer size for gathered hyperslabs.
constexpr uint64_t kGatherChunkBytes = 16 << 20;

uint32_t WorkerCount(uint32_t requested) {
  if (requested > 0) return requested;
  return std::max(1u, std::thread::hardware_concurrency());
}

Status DestinationSizeError(std::string_view file, std::string_view tensor, uint64_t found,
                            uint64_t required) {
  return InvalidArgument(ErrorId::kDestinationInvalid,
                         fmt::format("{}: tensor '{}': destination has {} bytes but {} bytes are "
                                     "needed",
                                     file, tensor, found, required));
}

}  // namespace

Result<TensorFile> TensorFile::Open(const std::string& path, uint32_t threads) {
  SAFECKPT_ASSIGN_OR_RETURN(SafetensorsHeader header, ReadSafetensorsHeader(path));
  TensorFile file;
  file.name_ = path;
  file.path_ = path;
  file.header_ = std::move(header);
  file.pool_ = std::make_unique<Pool>();
  file.pool_->threads = WorkerCount(threads);
  file.IndexNames();
  return file;
}

Result<TensorFile> TensorFile::FromBytes(std::string_view bytes, std::string display_name) {
  SAFECKPT_ASSIGN_OR_RETURN(SafetensorsHeader header,
                            ParseSafetensorsHeader(bytes, bytes.size(), display_name));
  TensorFile file;
  file.name_ = std::move(display_name);
  file.bytes_ = bytes;
  file.header_ = std::move(header);
  file.IndexNames();
  return file;
}

void TensorFile::IndexNames() {
  by_name_.reserve(header_.tensors.size());
  for (size_t i = 0; i < header_.tensors.size(); ++i) by_name_.emplace(header_.tensors[i].name, i);
}

const TensorInfo* TensorFile::Find(std::string_view name) const {
  auto it = by_name_.find(std::string(name));
  return it == by_name_.end() ? nullptr : &header_.tensors[it->second];
}

Result<const TensorInfo*> TensorFile::Get(std::string_view name) const {
  if (const TensorInfo* tensor = Find(name)) return tensor;
  return NotFound(ErrorId::kNone,
                  fmt::format("{}: tensor '{}' not found; the file has {} tensors, which keys() "
                              "lists",
                              name_, name, header_.tensors.size()));
}

internal::ThreadPool& TensorFile::ThreadPoolForReads() const {
  std::lock_guard<std::mutex> lock(pool_->mutex);
  if (!pool_->pool) pool_->pool = std::make_unique<internal::ThreadPool>(pool_->threads);
  return *pool_->pool;
}

Status TensorFile::RunCopies(const std::vector<Copy>& copies) const {
  if (path_.empty()) {
    for (const Copy& copy : copies) {
      if (copy.length > 0) std::memcpy(copy.destination, bytes_.data() + copy.offset, copy.length);
    }
    return Status::Ok();
  }

  // Byte copies (U8 to U8) through the loader's planner and executor, which
  // coalesce adjacent ranges and split large ones across the workers.
  std::vector<internal::CopyRequest> requests;
  requests.reserve(copies.size());
  for (const Copy& copy : copies) {
    internal::CopyRequest request;
    request.tensor = *copy.tensor;
    request.offset = copy.offset;
    request.nbytes = copy.length;
    request.count = copy.length;
    request.destination = copy.destination;
    requests.push_back(std::move(request));
  }

  internal::ThreadPool& pool = ThreadPoolForReads();
  internal::PlanOptions options;
  options.workers = pool.size();
  SAFECKPT_ASSIGN_OR_RETURN(internal::LoadPlan plan, internal::PlanLoad(requests, options));
  return internal::ExecutePlan(plan, {path_}, pool).status();
}

Status TensorFile::ReadTensors(const std::vector<TensorRead>& reads) const {
  std::vector<Copy> copies;
  copies.reserve(reads.size());
  for (const TensorRead& read : reads) {
    const TensorInfo& tensor = *read.tensor;
    if (read.destination_bytes != tensor.nbytes()) {
      return DestinationSizeError(name_, tensor.name, read.destination_bytes, tensor.nbytes());
    }
    copies.push_back({&tensor.name, header_.data_start() + tensor.data_begin, tensor.nbytes(),
                      read.destination});
  }
  return RunCopies(copies);
}

Status TensorFile::ReadHyperslab(const TensorInfo& tensor, const HyperslabRuns& runs,
                                 void* destination, uint64_t destination_bytes) const {
  if (destination_bytes != runs.total_bytes()) {
    return DestinationSizeError(name_, tensor.name, destination_bytes, runs.total_bytes());
  }

  const bool dense =
      runs.count() > 1 && runs.run_stride_bytes() - runs.run_bytes() <= kGatherMaxGapBytes;
  if (dense && !path_.empty()) return GatherRuns(tensor, runs, destination);

  std::vector<Copy> copies;
  copies.reserve(runs.count());
  auto* out = static_cast<std::byte*>(destination);
  const uint64_t base = header_.data_start() + tensor.data_begin;
  runs.ForEach([&](ByteRun run) {
    copies.push_back({&tensor.name, base + run.offset, run.length, out});
    out += run.length;
  });
  return RunCopies(copies);
}

// Reads the runs' span in chunks into a staging buffer and copies each run
// out of it. A chunk starts at a run, so a gap between chunks is not read.
Status TensorFile::GatherRuns(const TensorInfo& tensor, const HyperslabRuns& runs,
                              void* destination) const {
  SAFECKPT_ASSIGN_OR_RETURN(internal::File file, internal::File::OpenForRead(path_));
  const uint64_t base = header_.data_start() + tensor.data_begin;
  const uint64_t tensor_end = header_.data_start() + tensor.data_end;
  std::vector<std::byte> staging(std::min(kGatherChunkBytes, tensor.nbytes()));

  uint64_t chunk_begin = 0;
  uint64_t chunk_end = 0;
  auto* out = static_cast<std::byte*>(destination);
  Status status;
  runs.ForEach([&](ByteRun run) {
    uint64_t position = base + run.offset;
    uint64_t remaining = run.length;
    while (status.ok() && remaining > 0) {
      if (position < chunk_begin || position >= chunk_end) {
        chunk_begin = position;
        chunk_end = std::min<uint64_t>(position + staging.size(), tensor_end);
        status = file.ReadAt(chunk_begin, staging.data(), chunk_end - chunk_begin);
        if (!status.ok()) status = status.WithContext(fmt::format("tensor '{}'", tensor.name));
        continue;
      }
      const uint64_t length = std::min(remaining, chunk_end - position);
      std::memcpy(out, staging.data() + (position - chunk_begin), length);
      out += length;
      position += length;
      remaining -= length;
    }
  });
  return status;
}

}  // namespace safeckpt::python
