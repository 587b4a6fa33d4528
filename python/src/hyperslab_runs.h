// The byte runs that a hyperslab of a row-major tensor occupies in the file.
//
// A hyperslab selects [start, stop) along every dimension. Its elements lie
// in runs of consecutive bytes: the innermost dimensions it covers whole are
// merged with the innermost partial one, so a row range of a matrix is one
// run and a column range is one run per row. Runs come in row-major order of
// the hyperslab, so copying them one after another fills a row-major
// destination of the hyperslab's shape.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "safeckpt/dtype.h"
#include "safeckpt/status.h"

namespace safeckpt::python {

// Consecutive bytes of a tensor, counted from the tensor's first byte.
struct ByteRun {
  uint64_t offset = 0;
  uint64_t length = 0;
};

class HyperslabRuns {
 public:
  // Plans the runs of the hyperslab [starts, stops) of a tensor of `dtype`
  // and `shape`, which must have a whole byte size. Fails with
  // kInvalidArgument (kShapeInvalid) when the hyperslab has the wrong number
  // of dimensions or does not fit `shape`, and (kBitsNotByteAligned) when a
  // run of a sub-byte dtype such as F4 would start or end inside a byte.
  // `tensor` names the tensor in messages.
  static Result<HyperslabRuns> Plan(DType dtype, const Shape& shape,
                                    const std::vector<uint64_t>& starts,
                                    const std::vector<uint64_t>& stops, std::string_view tensor);

  // Number of runs; 0 when the hyperslab has no elements.
  uint64_t count() const { return count_; }

  // Bytes of every run.
  uint64_t run_bytes() const { return run_bytes_; }

  // Bytes of the whole hyperslab: count() * run_bytes().
  uint64_t total_bytes() const { return count_ * run_bytes_; }

  // Bytes from the start of one run to the start of the next along the
  // innermost outer dimension that selects more than one index: the gap
  // between runs plus run_bytes(). 0 when there is at most one run.
  uint64_t run_stride_bytes() const { return run_stride_bytes_; }

  // Calls visit(ByteRun) for every run, in row-major order of the hyperslab,
  // so source offsets increase.
  template <typename Visit>
  void ForEach(Visit&& visit) const;

 private:
  uint32_t bits_ = 8;
  std::vector<uint64_t> starts_;
  std::vector<uint64_t> stops_;
  std::vector<uint64_t> strides_;  // elements, one per outer dimension
  uint64_t first_element_ = 0;     // element offset of the first run
  uint64_t count_ = 0;
  uint64_t run_bytes_ = 0;
  uint64_t run_stride_bytes_ = 0;
};

template <typename Visit>
void HyperslabRuns::ForEach(Visit&& visit) const {
  if (count_ == 0) return;

  // An odometer over the outer dimensions, which select one run each.
  const size_t outer = starts_.size();
  std::vector<uint64_t> index(starts_);
  for (uint64_t run = 0; run < count_; ++run) {
    uint64_t element = first_element_;
    for (size_t dim = 0; dim < outer; ++dim) element += (index[dim] - starts_[dim]) * strides_[dim];
    visit(ByteRun{element * bits_ / 8, run_bytes_});

    for (size_t dim = outer; dim-- > 0;) {
      if (++index[dim] < stops_[dim]) break;
      index[dim] = starts_[dim];
    }
  }
}

}  // namespace safeckpt::python
