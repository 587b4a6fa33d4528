// Reconciliation: matching checkpoint tensors to expected tensors under the
// key rules, and deciding what the policy makes of the differences.
#pragma once

#include <cstddef>
#include <vector>

#include "safeckpt/checkpoint.h"
#include "safeckpt/key_rules.h"
#include "safeckpt/load_report.h"
#include "safeckpt/model_state.h"
#include "safeckpt/status.h"

namespace safeckpt::internal {

// One expected tensor to fill from one checkpoint tensor. Shapes are equal;
// dtypes may differ.
struct TensorMatch {
  size_t expected = 0;  // index into ModelState::tensors()
  size_t source = 0;    // index into Checkpoint::tensors(), or the sources given
  bool bookkeeping = false;
};

struct Reconciliation {
  // Every list and count except timings and checksums; `loaded` names what
  // would be loaded, and `rejected` is set when the policy rejects the load.
  LoadReport report;
  std::vector<TensorMatch> matches;  // sorted by expected name
};

// Matches names after renames and wrapper-prefix stripping, resolves tied
// sources, sorts out bookkeeping entries and applies the policy. Reads no
// tensor data.
Result<Reconciliation> Reconcile(const Checkpoint& checkpoint, const ModelState& model,
                                 const CompiledKeyRules& rules, Policy policy);

// Reconciles `sources` in place of the checkpoint's own tensors: the native
// tensors a layout adapter makes of them. TensorMatch::source then indexes
// `sources`; names in the report are theirs. The checkpoint gives the path,
// stale copies and warnings.
Result<Reconciliation> Reconcile(const Checkpoint& checkpoint,
                                 const std::vector<CheckpointTensor>& sources,
                                 const ModelState& model, const CompiledKeyRules& rules,
                                 Policy policy);

}  // namespace safeckpt::internal
