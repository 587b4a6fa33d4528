// Opening a checkpoint directory through model.safetensors.index.json.
#pragma once

#include <string>

#include "safeckpt/checkpoint.h"

namespace safeckpt::internal {

// Opens the directory `directory`, which holds an index file. Checks that
// every shard named exists (listing all missing ones in one error), that
// every indexed tensor is in its shard's header, and records tensors that a
// shard holds but the index maps elsewhere (stale copies) or does not list
// at all, with a warning for each. A wrong metadata.total_size is a warning.
Result<Checkpoint> OpenIndexedDirectory(const std::string& directory, const OpenOptions& options);

}  // namespace safeckpt::internal
