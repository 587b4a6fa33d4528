// The checkpoint writer shared by SaveCheckpoint (tensors in memory) and
// ConvertCheckpoint (tensors streamed from another checkpoint): validation,
// shard planning, headers, the crash-safe transaction and the copies.
#pragma once

#include <string>
#include <vector>

#include "safeckpt/dtype.h"
#include "safeckpt/status.h"
#include "safeckpt/writer.h"
#include "save/tensor_copier.h"

namespace safeckpt::internal {

// One tensor to write and where its bytes come from. When source.dtype
// differs from dtype, the bytes are converted on the way.
struct OutputTensor {
  std::string name;
  DType dtype = DType::kU8;
  Shape shape;
  ByteSource source;
};

// Settings for tests, not for callers.
struct WriteTuning {
  // Reserve each file's size with fallocate before copying. Tests turn it
  // off to make a full file system fail in the middle of a copy instead.
  bool reserve_space = true;
};

// Writes `tensors` to `destination` as SaveCheckpoint documents. Every check
// that can fail on the input (names, sizes, conversions, layout) runs before
// anything is written.
Result<SaveSummary> WriteCheckpoint(const std::string& destination,
                                    const std::vector<OutputTensor>& tensors,
                                    const SaveOptions& options, const WriteTuning& tuning = {});

// Returns `metadata` with "format": "pt" first and any other "format" entry
// dropped.
Metadata PyTorchMetadata(const Metadata& metadata);

// True when `destination` names a single file rather than a checkpoint
// directory: it ends in ".safetensors" and is not an existing directory.
bool IsSingleFileDestination(const std::string& destination);

}  // namespace safeckpt::internal
