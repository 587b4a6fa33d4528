// The copy plan of a load: each matched native tensor's pieces intersected
// with the destination's slice, as positioned reads where bytes keep their
// order and as gathers where they do not.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "adapt/source_view.h"
#include "load/plan.h"
#include "load/reconcile.h"
#include "safeckpt/checkpoint.h"
#include "safeckpt/model_state.h"
#include "safeckpt/status.h"

namespace safeckpt::internal {

struct CopyPlan {
  std::vector<CopyRequest> requests;
  std::vector<size_t> request_expected;  // per request: index into ModelState::tensors()
  std::vector<GatherRequest> gathers;
  std::vector<size_t> gather_expected;   // per gather: index into ModelState::tensors()
};

// Builds the copies that fill every match's destination slice from the
// pieces of view.tensors[match.source]. Pieces outside the slice are left
// out, so a rank reads only its own experts and rows. A bookkeeping match
// copies the raw bytes of its one checkpoint tensor. Fails with
// kSliceInvalid when a slice of a sub-byte dtype does not fall on whole
// bytes, and with kAdapterInvalid for a bookkeeping entry that an adapter
// stacked or decoded.
Result<CopyPlan> BuildCopyPlan(const Checkpoint& checkpoint, const SourceView& view,
                               const ModelState& model, const std::vector<TensorMatch>& matches);

// Checkpoint tensors (values and scales) that the copies of `matches` read
// from, sorted: what a rank touches.
std::vector<size_t> CheckpointTensorsRead(const SourceView& view, const ModelState& model,
                                          const std::vector<TensorMatch>& matches);

// Elements of `slice` that the pieces of `tensor` cover. Pieces never
// overlap, so the slice is complete when this equals its element count.
uint64_t CoveredElements(const NativeTensor& tensor, const Hyperslab& slice);

}  // namespace safeckpt::internal
