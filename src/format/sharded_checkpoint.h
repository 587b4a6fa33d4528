// Opening a checkpoint directory through model.safetensors.index.json.
#pragma once

#include <string>

#include "safeckpt/checkpoint.h"

namespace safeckpt::internal {

// Opens `directory`, which contains an index file. Checks that every shard
// named exists, listing all missing ones in one error, and that every
// indexed tensor is in its shard's header. Tensors that a shard contains
// but the index maps elsewhere (stale copies) or does not list at all are
// recorded with a warning. A wrong metadata.total_size is a warning too.
Result<Checkpoint> OpenIndexedDirectory(const std::string& directory, const OpenOptions& options);

}  // namespace safeckpt::internal
