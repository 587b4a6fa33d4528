// The source view: a checkpoint seen through a layout adapter, as the native
// tensors a model expects. Each native tensor is a list of pieces, and each
// piece copies part of one checkpoint tensor (decoded when it is quantized)
// into a box of the native tensor, transposed, interleaved or as it is. No
// data is read to build a view: it is the copy plan that a load intersects
// with each rank's slices.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "adapt/adapter_spec.h"
#include "safeckpt/checkpoint.h"
#include "safeckpt/dtype.h"
#include "safeckpt/hyperslab.h"
#include "safeckpt/status.h"

namespace safeckpt::internal {

inline constexpr size_t kNoTensor = std::numeric_limits<size_t>::max();

enum class Decoding : uint8_t {
  kNone,
  kFp8Block,  // F8 values times an F32, BF16 or F16 scale per 128 x 128 block
  kMxfp4,     // E2M1 pairs in U8 [..., rows, groups, 16], E8M0 scales [..., rows, groups]
};

// A checkpoint tensor as pieces read it: the tensor itself, or a quantized
// tensor and its scales decoded together.
struct LogicalSource {
  std::string name;  // Hugging Face name; X for X_blocks, X.weight for FP8
  size_t tensor = kNoTensor;  // index into Checkpoint::tensors(): the values
  size_t scale = kNoTensor;   // the scales, for kFp8Block and kMxfp4
  Decoding decoding = Decoding::kNone;
  DType dtype = DType::kU8;  // the values' dtype; F4 for MXFP4
  Shape shape;               // decoded shape: MXFP4 [..., rows, groups * 32]
};

// Copies part of one logical source into the box `box` of a native tensor.
// Along box dimension j the source walks dimension axis[j] from
// start[axis[j]] in steps of step[axis[j]]. Where axis[j] is -1, the box has
// one index that the source lacks (the expert index of a per-expert tensor).
// Every source dimension is walked by exactly one box dimension.
struct Piece {
  size_t source = 0;  // index into SourceView::sources
  Hyperslab box;      // in the native tensor's global coordinates
  std::vector<int> axis;
  std::vector<uint64_t> start;  // one per source dimension
  std::vector<uint64_t> step;   // one per source dimension

  // True when elements keep their row-major order: no decoding, unit steps
  // and source dimensions walked in order, so runs of bytes copy as they are.
  bool KeepsOrder(const LogicalSource& source) const;
};

// A native tensor and the pieces that fill it.
struct NativeTensor {
  std::string name;
  DType dtype = DType::kU8;  // the sources' dtype (F8 or F4 before decoding)
  Shape shape;
  std::vector<Piece> pieces;
  bool decoded = false;  // some piece dequantizes, so only float destinations work
  bool stacked = false;  // built from several checkpoint tensors or transposed
};

struct SourceView {
  std::string adapter;  // empty for the identity view
  std::vector<LogicalSource> sources;
  std::vector<NativeTensor> tensors;  // sorted by name

  // The native tensors as checkpoint tensors (name, dtype, shape; file and
  // offset unused), for reconciliation by name.
  std::vector<CheckpointTensor> AsCheckpointTensors() const;
};

// One native tensor per checkpoint tensor, each a single piece copying it
// whole: the view of a load without an adapter.
SourceView IdentityView(const Checkpoint& checkpoint);

// Applies `spec` to `tensors` (a checkpoint's, or tensors a writer is about
// to write); `display_name` starts error messages. Fails with
// kAdapterInvalid naming the tensors when quantized tensors and their scales
// disagree, when experts of one stack have different shapes or dtypes, or
// when two tensors map to one native name.
Result<SourceView> BuildSourceView(std::string_view display_name,
                                   const std::vector<CheckpointTensor>& tensors,
                                   const AdapterSpec& spec);

}  // namespace safeckpt::internal
