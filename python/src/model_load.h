// Loading a checkpoint into the tensors of a live model, whose parameters
// may share memory (tied embeddings), as load_into does.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "safeckpt/load_report.h"
#include "safeckpt/loader.h"
#include "safeckpt/model_state.h"
#include "safeckpt/sharding.h"
#include "safeckpt/status.h"

namespace safeckpt::python {

// One tensor of the model. `alias_of` is the index of the first earlier
// tensor whose memory this one shares exactly (same address, dtype and
// shape), as torch ties lm_head.weight to the embedding; -1 when none.
// Tensors that share memory only in part are not allowed.
struct ModelTensor {
  ExpectedTensor tensor;
  int64_t alias_of = -1;
};

// Reconciles the checkpoint at `checkpoint_path` with `tensors` and, when
// options.read_data is set and the policy accepts, reads every match into
// its destination.
//
// The shapes in `tensors` are those of the live tensors, which for a rank
// of a sharded model are its parts. Unless `sharding` is a single-process
// layout, each tensor's global shape is taken from the checkpoint tensor it
// matches, and `sharding` resolves the part of it that this rank holds. A
// tensor whose resolved part has the live tensor's shape loads that part.
// Any other keeps its live shape, so the report shows a shape mismatch.
// options.rank and options.world_size are taken from `sharding`.
//
// A tensor that aliases another is tied to it (ExpectedTensor::tied_to), so
// the report lists it as tied rather than missing when the checkpoint holds
// only one of the names. Memory that several loaded names share is written
// once: by the last of them (in `tensors` order) that the checkpoint holds
// under its own name, which is the value torch's load_state_dict leaves,
// because it copies names in order. The report lists every name as loaded.
//
// Errors are those of Checkpoint::Open and LoadCheckpoint; the destinations
// may be partly written after a failed read.
Result<LoadReport> LoadIntoModel(const std::string& checkpoint_path,
                                 std::vector<ModelTensor> tensors, const ShardingLayout& sharding,
                                 LoadOptions options);

}  // namespace safeckpt::python
