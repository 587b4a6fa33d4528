#include "load/plan.h"

#include <limits.h>

#include <algorithm>
#include <numeric>

#include "load/convert.h"

namespace safeckpt::internal {
namespace {

// Linux defines IOV_MAX in <limits.h>; POSIX guarantees at least 16.
#ifdef IOV_MAX
constexpr size_t kMaxIovecs = IOV_MAX;
#else
constexpr size_t kMaxIovecs = 16;
#endif

std::string Quoted(const std::string& tensor) { return "tensor '" + tensor + "'"; }

uint64_t EffectiveMaxRead(uint64_t max_read_bytes) {
  if (max_read_bytes == 0 || max_read_bytes > kMaxReadBytes) return kMaxReadBytes;
  return max_read_bytes;
}

Status ValidateRequest(const CopyRequest& request) {
  const std::optional<uint64_t> expected = ByteSize(request.source_dtype, {request.count});
  if (!expected || *expected != request.nbytes) {
    return InvalidArgument(
        ErrorId::kSizeMismatch,
        Quoted(request.tensor) + ": " + std::to_string(request.count) + " elements of " +
            std::string(DTypeName(request.source_dtype)) + " do not fill " +
            std::to_string(request.nbytes) + " bytes");
  }

  uint64_t end = 0;
  if (__builtin_add_overflow(request.offset, request.nbytes, &end)) {
    return InvalidArgument(ErrorId::kOffsetsInvalid,
                           Quoted(request.tensor) + ": byte range at offset " +
                               std::to_string(request.offset) + " of length " +
                               std::to_string(request.nbytes) + " overflows 64 bits");
  }

  if (request.nbytes > 0 && request.destination == nullptr) {
    return InvalidArgument(ErrorId::kDestinationInvalid,
                           Quoted(request.tensor) + ": destination memory is null");
  }

  if (request.source_dtype != request.destination_dtype &&
      !ByteSize(request.destination_dtype, {request.count})) {
    return InvalidArgument(ErrorId::kSizeMismatch,
                           Quoted(request.tensor) + ": " + std::to_string(request.count) +
                               " elements of " +
                               std::string(DTypeName(request.destination_dtype)) +
                               " have no whole byte size");
  }
  return CheckConversion(request.source_dtype, request.destination_dtype, request.tensor);
}

// Sorts request indices by file, then offset, then request order.
std::vector<size_t> SortedByPosition(const std::vector<CopyRequest>& requests,
                                     const std::vector<size_t>& indices) {
  std::vector<size_t> sorted = indices;
  std::stable_sort(sorted.begin(), sorted.end(), [&](size_t a, size_t b) {
    if (requests[a].file != requests[b].file) return requests[a].file < requests[b].file;
    return requests[a].offset < requests[b].offset;
  });
  return sorted;
}

// Returns the gap between the open task's end and `request`, when a read
// may span it: same file and coalesce key, and at most max_gap bytes.
std::optional<uint64_t> SpannableGap(const ReadTask& task, const CopyRequest& request,
                                     const CopyRequest& previous, uint64_t max_gap) {
  const uint64_t end = task.offset + task.length;
  if (request.coalesce_key == 0 || request.coalesce_key != previous.coalesce_key) return std::nullopt;
  if (task.file != request.file || request.offset < end) return std::nullopt;
  const uint64_t gap = request.offset - end;
  if (gap == 0 || gap > max_gap) return std::nullopt;
  return gap;
}

// Adds direct reads for `requests[direct]`, coalescing ranges that follow
// each other in a file (or, within one coalesce key, are separated by a small
// gap) and splitting at max_read bytes.
void AddDirectTasks(const std::vector<CopyRequest>& requests, const std::vector<size_t>& direct,
                    uint64_t max_read, uint64_t max_gap, LoadPlan& plan) {
  std::vector<ReadTask>& tasks = plan.tasks;
  bool task_open = false;
  size_t previous = 0;
  for (size_t index : SortedByPosition(requests, direct)) {
    const CopyRequest& request = requests[index];
    auto* destination = static_cast<std::byte*>(request.destination);

    // Read across a small gap of the same sliced tensor rather than start a
    // new read; the gap counts against the read's size and piece limits.
    if (task_open) {
      ReadTask& task = tasks.back();
      std::optional<uint64_t> gap = SpannableGap(task, request, requests[previous], max_gap);
      if (gap && task.length + *gap < max_read && task.targets.size() + 1 < kMaxIovecs) {
        task.targets.push_back(ReadTarget{nullptr, *gap, index});
        task.length += *gap;
        plan.gap_bytes += *gap;
        plan.max_gap_bytes = std::max(plan.max_gap_bytes, *gap);
      }
    }
    previous = index;

    uint64_t done = 0;
    while (done < request.nbytes) {
      const uint64_t position = request.offset + done;
      const bool extends = task_open && tasks.back().file == request.file &&
                           tasks.back().offset + tasks.back().length == position &&
                           tasks.back().length < max_read &&
                           tasks.back().targets.size() < kMaxIovecs;
      if (!extends) {
        ReadTask task;
        task.file = request.file;
        task.offset = position;
        tasks.push_back(std::move(task));
        task_open = true;
      }

      ReadTask& task = tasks.back();
      const uint64_t piece = std::min(request.nbytes - done, max_read - task.length);
      task.targets.push_back(ReadTarget{destination + done, piece, index});
      task.length += piece;
      done += piece;
    }
  }
}

// Adds conversion reads for one request in chunks of `chunk_elements`.
void AddConversionTasks(const CopyRequest& request, size_t index, uint64_t chunk_elements,
                        std::vector<ReadTask>& tasks) {
  const uint64_t source_size = DTypeBits(request.source_dtype) / 8;
  const uint64_t destination_size = DTypeBits(request.destination_dtype) / 8;
  auto* destination = static_cast<std::byte*>(request.destination);

  for (uint64_t first = 0; first < request.count; first += chunk_elements) {
    const uint64_t count = std::min(chunk_elements, request.count - first);
    ReadTask task;
    task.file = request.file;
    task.offset = request.offset + first * source_size;
    task.length = count * source_size;
    task.conversion = ConversionStep{request.source_dtype, request.destination_dtype, count,
                                     destination + first * destination_size, index};
    tasks.push_back(std::move(task));
  }
}

// Elements of `request` per conversion task: whole elements that fit both
// one read and one worker's staging buffer.
Result<uint64_t> ConversionChunkElements(const CopyRequest& request, uint64_t staging_per_worker,
                                         uint64_t max_read, const PlanOptions& options) {
  const uint64_t element_size = DTypeBits(request.source_dtype) / 8;
  if (staging_per_worker < element_size) {
    return OutOfRange(ErrorId::kUnsupportedConversion,
                      Quoted(request.tensor) + ": converting " +
                          std::string(DTypeName(request.source_dtype)) + " needs " +
                          std::to_string(element_size) +
                          " bytes of staging per worker, but staging_bytes " +
                          std::to_string(options.staging_bytes) + " over " +
                          std::to_string(options.workers) + " workers gives " +
                          std::to_string(staging_per_worker) +
                          "; raise staging_bytes or use fewer threads");
  }
  const uint64_t by_staging = staging_per_worker / element_size;
  const uint64_t by_read = std::max<uint64_t>(1, max_read / element_size);
  return std::min(by_staging, by_read);
}

}  // namespace

Result<LoadPlan> PlanLoad(const std::vector<CopyRequest>& requests, const PlanOptions& options) {
  LoadPlan plan;
  plan.workers = std::max<uint32_t>(1, options.workers);
  const uint64_t max_read = EffectiveMaxRead(options.max_read_bytes);
  const uint64_t staging_per_worker = options.staging_bytes / plan.workers;

  std::vector<size_t> direct;
  std::vector<ReadTask> conversion_tasks;
  for (size_t index = 0; index < requests.size(); ++index) {
    const CopyRequest& request = requests[index];
    plan.tensors.push_back(request.tensor);
    SAFECKPT_RETURN_IF_ERROR(ValidateRequest(request));
    if (request.nbytes == 0) continue;

    if (request.source_dtype == request.destination_dtype) {
      direct.push_back(index);
      plan.direct_bytes += request.nbytes;
      continue;
    }

    SAFECKPT_ASSIGN_OR_RETURN(
        uint64_t chunk_elements,
        ConversionChunkElements(request, staging_per_worker, max_read, options));
    AddConversionTasks(request, index, chunk_elements, conversion_tasks);
    plan.converted_bytes += request.nbytes;
  }

  AddDirectTasks(requests, direct, max_read, options.max_gap_bytes, plan);
  for (const ReadTask& task : conversion_tasks) {
    plan.staging_bytes_per_worker = std::max(plan.staging_bytes_per_worker, task.length);
  }
  plan.tasks.insert(plan.tasks.end(), std::make_move_iterator(conversion_tasks.begin()),
                    std::make_move_iterator(conversion_tasks.end()));

  std::stable_sort(plan.tasks.begin(), plan.tasks.end(), [](const ReadTask& a, const ReadTask& b) {
    if (a.file != b.file) return a.file < b.file;
    return a.offset < b.offset;
  });
  return plan;
}

}  // namespace safeckpt::internal

namespace safeckpt::internal {

Result<LoadPlan> PlanLoad(const std::vector<CopyRequest>& requests,
                          const std::vector<GatherRequest>& gathers, const PlanOptions& options) {
  SAFECKPT_ASSIGN_OR_RETURN(LoadPlan plan, PlanLoad(requests, options));
  const uint64_t budget = options.staging_bytes / plan.workers;
  for (const GatherRequest& gather : gathers) {
    SAFECKPT_RETURN_IF_ERROR(CheckGather(gather.task, gather.tensor));
    GatherTask task = gather.task;
    task.request = plan.tensors.size();
    plan.tensors.push_back(gather.tensor);
    for (GatherTask& part : SplitGather(task, budget)) plan.gathers.push_back(std::move(part));
  }
  return plan;
}

}  // namespace safeckpt::internal
