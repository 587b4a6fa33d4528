#include "safeckpt/hyperslab.h"

#include <algorithm>

#include <fmt/format.h>

namespace safeckpt {

Hyperslab Hyperslab::Whole(const Shape& shape) {
  Hyperslab slab;
  for (uint64_t size : shape) slab.ranges.push_back({0, size});
  return slab;
}

Shape Hyperslab::shape() const {
  Shape shape;
  for (const IndexRange& range : ranges) shape.push_back(range.size());
  return shape;
}

bool Hyperslab::IsWhole(const Shape& shape) const {
  if (ranges.size() != shape.size()) return false;
  for (size_t dim = 0; dim < shape.size(); ++dim) {
    if (ranges[dim].start != 0 || ranges[dim].stop != shape[dim]) return false;
  }
  return true;
}

bool Hyperslab::IsEmpty() const {
  return std::any_of(ranges.begin(), ranges.end(),
                     [](const IndexRange& range) { return range.size() == 0; });
}

std::string FormatHyperslab(const Hyperslab& slab) {
  std::string text = "[";
  for (size_t dim = 0; dim < slab.ranges.size(); ++dim) {
    if (dim > 0) text += ", ";
    text += fmt::format("{}:{}", slab.ranges[dim].start, slab.ranges[dim].stop);
  }
  text += "]";
  return text;
}

Status CheckHyperslab(const Hyperslab& slab, const Shape& shape, std::string_view tensor) {
  if (slab.ranges.size() != shape.size()) {
    return InvalidArgument(
        ErrorId::kSliceInvalid,
        fmt::format("tensor '{}': slice {} has {} dimensions but shape {} has {}; give one "
                    "[start, stop] range per dimension",
                    tensor, FormatHyperslab(slab), slab.ranges.size(), FormatShape(shape),
                    shape.size()));
  }
  for (size_t dim = 0; dim < shape.size(); ++dim) {
    const IndexRange& range = slab.ranges[dim];
    if (range.start <= range.stop && range.stop <= shape[dim]) continue;
    return InvalidArgument(
        ErrorId::kSliceInvalid,
        fmt::format("tensor '{}': slice {} does not fit shape {}: dimension {} has range "
                    "[{}, {}) but allowed is 0 <= start <= stop <= {}",
                    tensor, FormatHyperslab(slab), FormatShape(shape), dim, range.start,
                    range.stop, shape[dim]));
  }
  return Status::Ok();
}

std::optional<Hyperslab> Intersect(const Hyperslab& a, const Hyperslab& b) {
  if (a.ranges.size() != b.ranges.size()) return std::nullopt;
  Hyperslab common;
  for (size_t dim = 0; dim < a.ranges.size(); ++dim) {
    IndexRange range{std::max(a.ranges[dim].start, b.ranges[dim].start),
                     std::min(a.ranges[dim].stop, b.ranges[dim].stop)};
    if (range.size() == 0) return std::nullopt;
    common.ranges.push_back(range);
  }
  return common;
}

IndexRange ChunkRange(uint64_t size, uint32_t rank, uint32_t world_size) {
  if (world_size == 0 || rank >= world_size) return {size, size};

  // ceil(size / world_size) without overflow; rank * chunk may exceed 64
  // bits only when it is past `size` anyway, so it is clamped.
  const uint64_t chunk = size / world_size + (size % world_size != 0 ? 1 : 0);
  uint64_t start = 0;
  if (__builtin_mul_overflow(chunk, static_cast<uint64_t>(rank), &start) || start > size) {
    start = size;
  }
  const uint64_t stop = std::min(size, start + std::min(chunk, size - start));
  return {start, stop};
}

}  // namespace safeckpt
