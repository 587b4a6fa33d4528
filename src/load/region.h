// Contiguous runs of a hyperslab copy: the row-major element ranges that are
// consecutive both in a source tensor and in a destination tensor, so each
// can be one read or one memcpy.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include "safeckpt/dtype.h"
#include "safeckpt/hyperslab.h"

namespace safeckpt::internal {

// `count` elements that start `source` elements into the source tensor and
// `destination` elements into the destination tensor.
struct ElementRun {
  uint64_t source = 0;
  uint64_t destination = 0;
  uint64_t count = 0;
};

// Row-major offset of element `index` (one index per dimension) of a tensor
// of `shape`. The caller guarantees index[d] < shape[d].
uint64_t RowMajorOffset(const Shape& shape, const std::vector<uint64_t>& index);

// Calls `visit` for each run of copying hyperslab `source_box` of a tensor of
// `source_shape` into hyperslab `destination_box` of a tensor of
// `destination_shape`, element for element in row-major order. Both boxes
// have the same shape (the caller checks); runs come in row-major order and
// are as long as both layouts allow: a dim-0 slice of a row-major tensor is
// one run. Does nothing when a box is empty.
void ForEachRun(const Shape& source_shape, const Hyperslab& source_box,
                const Shape& destination_shape, const Hyperslab& destination_box,
                const std::function<void(const ElementRun&)>& visit);

// Number of runs ForEachRun would visit, without visiting them.
uint64_t CountRuns(const Shape& source_shape, const Hyperslab& source_box,
                   const Shape& destination_shape, const Hyperslab& destination_box);

}  // namespace safeckpt::internal
