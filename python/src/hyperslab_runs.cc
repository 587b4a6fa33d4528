#include "hyperslab_runs.h"

#include <numeric>
#include <string>

#include <fmt/format.h>

namespace safeckpt::python {
namespace {

std::string FormatRanges(const std::vector<uint64_t>& starts, const std::vector<uint64_t>& stops) {
  std::string text = "[";
  for (size_t dim = 0; dim < starts.size() && dim < stops.size(); ++dim) {
    if (dim > 0) text += ", ";
    text += fmt::format("{}:{}", starts[dim], stops[dim]);
  }
  return text + "]";
}

Status CheckFits(const Shape& shape, const std::vector<uint64_t>& starts,
                 const std::vector<uint64_t>& stops, std::string_view tensor) {
  const bool fits_rank = starts.size() == shape.size() && stops.size() == shape.size();
  bool fits = fits_rank;
  for (size_t dim = 0; fits && dim < shape.size(); ++dim) {
    fits = starts[dim] <= stops[dim] && stops[dim] <= shape[dim];
  }
  if (fits) return Status::Ok();
  return InvalidArgument(ErrorId::kShapeInvalid,
                         fmt::format("tensor '{}': hyperslab {} does not fit shape {}; each range "
                                     "must be start:stop with start <= stop <= the dimension",
                                     tensor, FormatRanges(starts, stops), FormatShape(shape)));
}

}  // namespace

Result<HyperslabRuns> HyperslabRuns::Plan(DType dtype, const Shape& shape,
                                          const std::vector<uint64_t>& starts,
                                          const std::vector<uint64_t>& stops,
                                          std::string_view tensor) {
  SAFECKPT_RETURN_IF_ERROR(CheckFits(shape, starts, stops, tensor));
  if (!ByteSize(dtype, shape)) {
    return InvalidArgument(ErrorId::kShapeOverflow,
                           fmt::format("tensor '{}': shape {} of {} has no whole byte size",
                                       tensor, FormatShape(shape), DTypeName(dtype)));
  }

  // Element strides, row-major. They cannot overflow because the element
  // count of `shape` fits 64 bits.
  const size_t rank = shape.size();
  std::vector<uint64_t> strides(rank, 1);
  for (size_t dim = rank; dim-- > 1;) strides[dim - 1] = strides[dim] * shape[dim];

  HyperslabRuns runs;
  runs.bits_ = DTypeBits(dtype);
  for (size_t dim = 0; dim < rank; ++dim) {
    if (starts[dim] == stops[dim]) return runs;  // no elements: count() is 0
  }

  // The run dimension is the innermost one not selected whole (or the
  // outermost); every dimension inside it is whole, so one run covers them.
  size_t run_dim = rank == 0 ? 0 : rank - 1;
  while (run_dim > 0 && starts[run_dim] == 0 && stops[run_dim] == shape[run_dim]) --run_dim;

  uint64_t run_elements = 1;
  if (rank > 0) run_elements = (stops[run_dim] - starts[run_dim]) * strides[run_dim];

  runs.count_ = 1;
  uint64_t first_element = 0;
  for (size_t dim = 0; dim < rank; ++dim) first_element += starts[dim] * strides[dim];
  for (size_t dim = 0; dim < run_dim; ++dim) {
    runs.count_ *= stops[dim] - starts[dim];
    runs.starts_.push_back(starts[dim]);
    runs.stops_.push_back(stops[dim]);
    runs.strides_.push_back(strides[dim]);
  }
  runs.first_element_ = first_element;

  // Every run starts at first_element plus multiples of the outer strides,
  // so checking those (where a dimension has more than one index) and the
  // run length covers every run.
  const uint64_t bits = runs.bits_;
  bool whole_bytes = (first_element * bits) % 8 == 0 && (run_elements * bits) % 8 == 0;
  for (size_t dim = 0; dim < run_dim; ++dim) {
    if (stops[dim] - starts[dim] > 1) whole_bytes = whole_bytes && (strides[dim] * bits) % 8 == 0;
  }
  if (!whole_bytes) {
    return InvalidArgument(
        ErrorId::kBitsNotByteAligned,
        fmt::format("tensor '{}': hyperslab {} of {} (a {}-bit dtype) starts or ends inside a "
                    "byte; choose ranges whose element offsets are multiples of {}",
                    tensor, FormatRanges(starts, stops), DTypeName(dtype), bits,
                    8 / std::gcd<uint64_t>(8, bits)));
  }
  runs.run_bytes_ = run_elements * bits / 8;
  for (size_t dim = run_dim; runs.count_ > 1 && dim-- > 0;) {
    if (stops[dim] - starts[dim] > 1) {
      runs.run_stride_bytes_ = strides[dim] * bits / 8;
      break;
    }
  }
  return runs;
}

}  // namespace safeckpt::python
