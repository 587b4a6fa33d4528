// Loading a checkpoint into a model state.
#pragma once

#include <cstdint>

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
  uint64_t staging_bytes = 64ull << 20;

  // Largest single positioned read; larger ranges are split so workers share
  // big tensors.
  uint64_t max_read_bytes = 16ull << 20;

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
Result<LoadReport> LoadCheckpoint(const Checkpoint& checkpoint, ModelState& model,
                                  const LoadOptions& options);

}  // namespace safeckpt
