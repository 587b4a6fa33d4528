// The load plan: copy requests turned into positioned-read tasks.
//
// The plan does not depend on checkpoints or models. Its input is a list of
// copy requests (a byte range of a file, its dtype and element count, and
// where and in which dtype the elements go), so it can be built and tested
// on any files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "adapt/gather.h"
#include "safeckpt/dtype.h"
#include "safeckpt/status.h"

namespace safeckpt::internal {

// A request to copy `count` elements of `source_dtype`, stored at bytes
// [offset, offset + nbytes) of file `file`, into `destination` as
// `destination_dtype`. When the dtypes are equal the bytes are copied as
// they are, whatever the dtype.
struct CopyRequest {
  std::string tensor;  // name used in error messages
  uint32_t file = 0;   // index into the file list given to the executor
  uint64_t offset = 0; // absolute offset of the first byte in the file
  uint64_t nbytes = 0; // must equal ByteSize(source_dtype, {count})
  DType source_dtype = DType::kU8;
  uint64_t count = 0;
  // ByteSize(destination_dtype, {count}) bytes owned by the caller; may be
  // null only when nbytes is 0.
  void* destination = nullptr;
  DType destination_dtype = DType::kU8;

  // Requests with the same non-zero key (the runs of one sliced tensor) may
  // share one read across a gap of at most PlanOptions::max_gap_bytes, whose
  // bytes are read and discarded. 0 never reads across a gap.
  uint64_t coalesce_key = 0;
};

struct PlanOptions {
  // Workers the executor runs; each one gets its own staging buffer.
  uint32_t workers = 1;

  // Upper bound on staging memory over all workers together.
  uint64_t staging_bytes = 64ull << 20;

  // Largest single read. Values above kMaxReadBytes, and 0, are treated as
  // kMaxReadBytes.
  uint64_t max_read_bytes = 16ull << 20;

  // Largest gap between two direct requests with the same coalesce_key that
  // one read spans; 0 never spans a gap.
  uint64_t max_gap_bytes = 0;
};

// The largest read the plan ever asks for; Linux transfers at most
// 0x7ffff000 bytes per read call, so this stays below that.
inline constexpr uint64_t kMaxReadBytes = 1ull << 30;

// Consecutive file bytes that land in one destination. A null destination
// marks a gap: the bytes are read into scratch memory and dropped.
struct ReadTarget {
  std::byte* destination = nullptr;
  uint64_t length = 0;
  size_t request = 0;  // index into LoadPlan::tensors
};

// Elements that pass through a staging buffer and a conversion kernel.
struct ConversionStep {
  DType from = DType::kU8;
  DType to = DType::kU8;
  uint64_t count = 0;
  std::byte* destination = nullptr;  // where the converted elements go
  size_t request = 0;                // index into LoadPlan::tensors
};

// One positioned read of bytes [offset, offset + length) of one file.
// Either `targets` lists where the bytes go, in order, so that one preadv
// reads them straight into destination memory; or `conversion` is set and
// the bytes are read into the worker's staging buffer and converted.
struct ReadTask {
  uint32_t file = 0;
  uint64_t offset = 0;
  uint64_t length = 0;
  std::vector<ReadTarget> targets;
  std::optional<ConversionStep> conversion;
};

struct LoadPlan {
  std::vector<ReadTask> tasks;  // sorted by file, then offset

  // Gathers (layout changes and dequantization), run after `tasks` on the
  // same workers; GatherTask::request indexes `tensors`.
  std::vector<GatherTask> gathers;

  // Tensor name of every request, indexed like the requests, then of every
  // gather given to PlanLoad, in order.
  std::vector<std::string> tensors;

  uint32_t workers = 1;

  // Staging each worker needs: the longest conversion task, at most
  // staging_bytes / workers. 0 when nothing is converted.
  uint64_t staging_bytes_per_worker = 0;

  uint64_t direct_bytes = 0;     // bytes read straight into destinations
  uint64_t converted_bytes = 0;  // bytes read through staging and converted
  uint64_t gap_bytes = 0;        // bytes read across gaps and dropped

  // The maximum length of a gap target: the scratch memory each worker needs.
  uint64_t max_gap_bytes = 0;
};

// Builds the read tasks for `requests`:
//   - requests without conversion are read straight into their
//     destinations; ranges adjacent in one file are coalesced into one
//     preadv of at most IOV_MAX pieces and max_read_bytes bytes, and longer
//     ranges are split into max_read_bytes chunks so workers share them;
//     ranges of one coalesce_key separated by at most max_gap_bytes are
//     coalesced too, the gap read into scratch memory;
//   - requests with conversion are split into whole-element chunks that fit
//     both max_read_bytes and staging_bytes / workers;
//   - requests of zero bytes are skipped.
// Fails with kSizeMismatch when nbytes disagrees with dtype and count, with
// kOffsetsInvalid when a range overflows, with kDestinationInvalid for a
// null destination, with kUnsupportedConversion for a pair convert.h lacks
// or when one element does not fit a worker's share of the staging memory.
Result<LoadPlan> PlanLoad(const std::vector<CopyRequest>& requests, const PlanOptions& options);

// A gather to plan: the task (its `request` is ignored) and the name of the
// tensor it fills.
struct GatherRequest {
  std::string tensor;
  GatherTask task;
};

// Plans `requests` as above and adds `gathers`, each split into parts whose
// scratch memory fits staging_bytes / workers where one destination row
// allows. Fails as above, and with kUnsupportedConversion for a gather
// CheckGather rejects.
Result<LoadPlan> PlanLoad(const std::vector<CopyRequest>& requests,
                          const std::vector<GatherRequest>& gathers, const PlanOptions& options);

}  // namespace safeckpt::internal
