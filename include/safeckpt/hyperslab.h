// Hyperslabs: the rectangular part of a tensor that one rank holds.
//
// A hyperslab has one [start, stop) index range per dimension of its tensor.
// A rank's destination memory holds exactly the hyperslab's elements,
// row-major, so a row shard [r0, r1) of a [rows, cols] tensor is
// {[r0, r1), [0, cols)} and its destination is (r1 - r0) * cols elements.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "safeckpt/dtype.h"
#include "safeckpt/status.h"

namespace safeckpt {

// Indices [start, stop) along one dimension. Empty when stop <= start.
struct IndexRange {
  uint64_t start = 0;
  uint64_t stop = 0;

  uint64_t size() const { return stop > start ? stop - start : 0; }
  bool operator==(const IndexRange&) const = default;
};

struct Hyperslab {
  std::vector<IndexRange> ranges;  // one per dimension, outermost first

  // The whole of a tensor of `shape`: [0, n) along every dimension.
  static Hyperslab Whole(const Shape& shape);

  // The number of indices along each dimension (its local shape).
  Shape shape() const;

  // True when the hyperslab covers all of a tensor of `shape`.
  bool IsWhole(const Shape& shape) const;

  // True when some dimension has an empty range, so there are no elements.
  bool IsEmpty() const;

  bool operator==(const Hyperslab&) const = default;
};

// Formats a hyperslab as "[0:4, 0:8]" ("[]" for a scalar).
std::string FormatHyperslab(const Hyperslab& slab);

// Checks that `slab` fits a tensor of `shape`: as many ranges as dimensions,
// and start <= stop <= size along each. Fails with kSliceInvalid naming
// `tensor`, the hyperslab and the shape.
Status CheckHyperslab(const Hyperslab& slab, const Shape& shape, std::string_view tensor);

// The elements two hyperslabs of the same tensor share, or nullopt when they
// share none or have different numbers of dimensions.
std::optional<Hyperslab> Intersect(const Hyperslab& a, const Hyperslab& b);

// The indices rank `rank` of `world_size` holds when `size` indices are split
// as torch.chunk splits them: chunks of ceil(size / world_size), the last
// non-empty one shorter when the division is uneven, and trailing ranks empty
// when size < world_size. Requires rank < world_size.
IndexRange ChunkRange(uint64_t size, uint32_t rank, uint32_t world_size);

}  // namespace safeckpt
