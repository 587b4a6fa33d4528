// Gathers: the copies a plain positioned read cannot do. A gather reads the
// part of one checkpoint tensor that a destination box needs (and its
// scales), decodes it when it is quantized, and writes it into the box
// transposed, de-interleaved or stacked, converting to the destination dtype.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "adapt/source_view.h"
#include "safeckpt/dtype.h"
#include "safeckpt/hyperslab.h"
#include "safeckpt/status.h"

namespace safeckpt::internal {

// The file and offset of a checkpoint tensor's bytes, and its dtype and shape.
struct TensorLocation {
  uint32_t file = 0;    // index into the file list given to the executor
  uint64_t offset = 0;  // absolute offset of the first byte
  DType dtype = DType::kU8;
  Shape shape;
};

struct GatherTask {
  size_t request = 0;  // index into LoadPlan::tensors: the destination's name
  Decoding decoding = Decoding::kNone;
  TensorLocation values;  // the tensor, the F8 weight or the MXFP4 blocks
  TensorLocation scales;  // the FP8 or MXFP4 scales; unused for kNone

  // The mapping of Piece, with `box` in the destination's local coordinates
  // and `start` the source indices at the box's first element.
  Shape source_shape;  // decoded shape, as LogicalSource::shape
  std::vector<int> axis;
  std::vector<uint64_t> start;
  std::vector<uint64_t> step;
  Hyperslab box;

  std::byte* destination = nullptr;  // the whole local destination tensor
  Shape destination_shape;           // its local shape
  DType destination_dtype = DType::kU8;

  // The dtype elements are in after decoding: F64 for quantized sources.
  DType WorkDType() const { return decoding == Decoding::kNone ? values.dtype : DType::kF64; }
};

// Reads `length` bytes at `offset` of file `file` into `buffer`, counting
// them; returns an error naming the file when it cannot.
using ReadBytesFunction =
    std::function<Status(uint32_t file, uint64_t offset, void* buffer, uint64_t length)>;

// Memory one worker reuses across gathers.
struct GatherScratch {
  std::vector<std::byte> raw;     // the values' bytes of the source box
  std::vector<std::byte> span;    // a byte range covering several rows
  std::vector<std::byte> scales;  // the scales' bytes
  std::vector<double> decoded_scales;
  std::vector<std::byte> work;    // the decoded source box
  std::vector<std::byte> row;     // one destination row before conversion
};

// Checks that `task` can run: the dtypes convert and every element has whole
// bytes. Fails with kUnsupportedConversion naming `tensor`.
Status CheckGather(const GatherTask& task, const std::string& tensor);

// Memory RunGather needs for `task`, in bytes: an estimate that bounds the
// scratch buffers from above.
uint64_t GatherScratchBytes(const GatherTask& task);

// Splits `task` into tasks over parts of its box, each needing at most
// `budget` bytes of scratch where one destination row allows it.
std::vector<GatherTask> SplitGather(const GatherTask& task, uint64_t budget);

// Runs one gather and returns the bytes written into the destination.
Result<uint64_t> RunGather(const GatherTask& task, const ReadBytesFunction& read,
                           GatherScratch& scratch);

}  // namespace safeckpt::internal
