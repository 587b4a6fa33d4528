#include "load/region.h"

#include <vector>

namespace safeckpt::internal {
namespace {

// Row-major strides in elements.
std::vector<uint64_t> Strides(const Shape& shape) {
  std::vector<uint64_t> strides(shape.size(), 1);
  for (size_t dim = shape.size(); dim-- > 1;) strides[dim - 1] = strides[dim] * shape[dim];
  return strides;
}

// The outermost dimension that a run still spans: every dimension after it
// is covered whole by both boxes, so one run continues across it.
size_t FirstRunDimension(const Shape& source_shape, const Shape& destination_shape,
                         const Shape& counts) {
  size_t first = counts.size() - 1;
  while (first > 0 && counts[first] == source_shape[first] &&
         counts[first] == destination_shape[first]) {
    --first;
  }
  return first;
}

uint64_t Product(const Shape& counts, size_t begin) {
  uint64_t product = 1;
  for (size_t dim = begin; dim < counts.size(); ++dim) product *= counts[dim];
  return product;
}

}  // namespace

uint64_t RowMajorOffset(const Shape& shape, const std::vector<uint64_t>& index) {
  uint64_t offset = 0;
  for (size_t dim = 0; dim < shape.size(); ++dim) offset = offset * shape[dim] + index[dim];
  return offset;
}

void ForEachRun(const Shape& source_shape, const Hyperslab& source_box,
                const Shape& destination_shape, const Hyperslab& destination_box,
                const std::function<void(const ElementRun&)>& visit) {
  if (source_box.IsEmpty() || destination_box.IsEmpty()) return;
  const Shape counts = source_box.shape();
  if (counts.empty()) {
    visit({0, 0, 1});
    return;
  }

  const size_t first = FirstRunDimension(source_shape, destination_shape, counts);
  const uint64_t run = Product(counts, first);
  const std::vector<uint64_t> source_strides = Strides(source_shape);
  const std::vector<uint64_t> destination_strides = Strides(destination_shape);

  // Odometer over the dimensions before `first`.
  std::vector<uint64_t> index(first, 0);
  while (true) {
    ElementRun element_run{0, 0, run};
    for (size_t dim = 0; dim < counts.size(); ++dim) {
      const uint64_t step = dim < first ? index[dim] : 0;
      element_run.source += (source_box.ranges[dim].start + step) * source_strides[dim];
      element_run.destination +=
          (destination_box.ranges[dim].start + step) * destination_strides[dim];
    }
    visit(element_run);

    size_t dim = first;
    while (dim > 0) {
      --dim;
      if (++index[dim] < counts[dim]) break;
      index[dim] = 0;
      if (dim == 0) return;
    }
    if (first == 0) return;
  }
}

uint64_t CountRuns(const Shape& source_shape, const Hyperslab& source_box,
                   const Shape& destination_shape, const Hyperslab& destination_box) {
  if (source_box.IsEmpty() || destination_box.IsEmpty()) return 0;
  const Shape counts = source_box.shape();
  if (counts.empty()) return 1;
  const size_t first = FirstRunDimension(source_shape, destination_shape, counts);
  uint64_t runs = 1;
  for (size_t dim = 0; dim < first; ++dim) runs *= counts[dim];
  return runs;
}

}  // namespace safeckpt::internal
