// Loading a checkpoint into a model state.
#pragma once

#include <cstdint>
#include <string>

#include "safeckpt/checkpoint.h"
#include "safeckpt/key_rules.h"
#include "safeckpt/load_report.h"
#include "safeckpt/logger.h"
#include "safeckpt/model_state.h"
#include "safeckpt/status.h"

namespace safeckpt {

struct LoadOptions {
  KeyRules rules;
  Policy policy = Policy::kDefault;

  // When false, only reconcile names and shapes (safeckpt check): no tensor
  // data is read and destinations may be null.
  bool read_data = true;

  // Worker threads for positioned reads and conversion; 0 means one per core.
  uint32_t threads = 0;

  // Upper bound on staging memory used for conversions, shared by all
  // workers. Reads that need no conversion go straight into destinations.
  // The load fails with kUnsupportedConversion when staging_bytes / threads
  // cannot hold one element of a tensor that needs converting.
  uint64_t staging_bytes = 64ull << 20;

  // Largest single positioned read; larger ranges are split so workers share
  // big tensors. 0 and values above 1 GiB mean 1 GiB.
  uint64_t max_read_bytes = 16ull << 20;

  // Reads of one sliced tensor's rows may span gaps of at most this many
  // bytes, read and dropped, rather than issue one read per row.
  uint64_t max_gap_bytes = 4096;

  // The layout adapter to load through (adapter.h lists them), or empty to
  // match checkpoint tensors to expected tensors one for one.
  std::string adapter;

  // This process's rank and the number of ranks, named in the report. The
  // part of each tensor the rank holds is ExpectedTensor::slice, which
  // ApplySharding (sharding.h) sets; these fields do not change it.
  uint32_t rank = 0;
  uint32_t world_size = 1;

  // Compute the SHA-256 of every loaded destination.
  bool checksums = false;

  Logger* logger = nullptr;
};

// Reconciles `checkpoint` with `model` under `options.rules` and
// `options.policy`, then, unless the policy rejects the load or read_data is
// false, reads every matched tensor into its destination, converting dtype on
// the way.
//
// Returns an error for failures that stop the load (unreadable file,
// unsupported conversion, missing destination memory). A load the policy
// rejects is not an error: the report has rejected = true and no data is read.
// An unsupported conversion is an error also when read_data is false, so a
// check finds it before any load.
//
// A sliced tensor (ExpectedTensor::slice) reads only the bytes of its slice:
// a slice along dimension 0 is one contiguous read, a slice of inner
// dimensions one read per covered row, rows separated by at most
// max_gap_bytes read together. Its destination holds the slice row-major.
// "loaded" lists only tensors whose destinations were completely written.
//
// Destinations receive little-endian bytes, as in the file. A tied tensor is
// filled from its source tensor, and a bookkeeping entry is copied as raw
// bytes whatever its dtype. After a failed read, destinations may be partly
// written.
//
// Report timings when data is read:
//   plan:    bytes to read, and seconds spent planning the reads;
//   read:    bytes read from files, and wall-clock seconds from opening the
//            files until the last read and conversion finished;
//   convert: bytes read that went through a dtype conversion, and seconds
//            spent in conversion kernels, summed over workers and divided
//            by the number of workers. This is the part of the read time
//            spent converting if the work was spread evenly;
//   threads: the number of workers used.
// Checksums, when requested, are computed after the read and are not timed.
Result<LoadReport> LoadCheckpoint(const Checkpoint& checkpoint, ModelState& model,
                                  const LoadOptions& options);

}  // namespace safeckpt
