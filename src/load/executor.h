// The load executor: runs a LoadPlan's positioned reads and conversions on
// a thread pool.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/thread_pool.h"
#include "load/plan.h"
#include "safeckpt/checkpoint.h"
#include "safeckpt/status.h"

namespace safeckpt::internal {

struct ExecutionStats {
  // Bytes read from each file, indexed like the `files` argument.
  std::vector<uint64_t> bytes_read_per_file;
  uint64_t bytes_read = 0;

  // Bytes stored into each request's destination, indexed like
  // LoadPlan::tensors: what the load actually wrote.
  std::vector<uint64_t> bytes_written_per_request;

  // Wall-clock seconds from opening the files to the last task's end.
  double wall_seconds = 0;

  // Source bytes that passed through conversion kernels, gathers included.
  uint64_t converted_bytes = 0;

  // Seconds spent in conversion kernels, summed over workers and divided by
  // the number of workers: the share of the wall time spent converting when
  // the workers were busy throughout.
  double convert_seconds = 0;
};

// Opens every file the plan reads once (read-only), then runs its tasks and
// gathers on `pool`, which must have plan.workers threads. Direct tasks use
// one preadv loop each, retrying interrupted calls and partial transfers;
// conversion tasks read into a per-worker staging buffer of
// plan.staging_bytes_per_worker bytes, allocated on first use, and convert
// into the destination. Gathers count their reads per file and their time
// as conversion time.
//
// The first failure stops the remaining tasks. Errors name the file, the
// offset and the tensor: kShortRead when a file ends early (truncated after
// the checkpoint was opened), kReadFailed for an I/O error, kNotFound when a
// file is gone. Destination memory of a failed load is partly written.
//
// With `identities` (one per file, as recorded when the checkpoint was
// opened), each file is checked after it is opened and a file replaced or
// modified since then fails with kFileChanged, so a load never reads data
// from a file other than the one whose header was validated.
Result<ExecutionStats> ExecutePlan(const LoadPlan& plan, const std::vector<std::string>& files,
                                   ThreadPool& pool,
                                   const std::vector<CheckpointFile>* identities = nullptr);

}  // namespace safeckpt::internal
