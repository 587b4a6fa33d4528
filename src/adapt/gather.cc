#include "adapt/gather.h"

#include <algorithm>
#include <array>
#include <cstring>

#include <fmt/format.h>

#include "adapt/dequantize.h"
#include "load/convert.h"
#include "load/region.h"

namespace safeckpt::internal {
namespace {

// Rows of one source box whose byte range is at most this much larger than
// twice their bytes are read in one call and copied out, rather than read
// row by row.
constexpr uint64_t kSpanSlackBytes = 64 << 10;

uint64_t ElementBytes(DType dtype) { return DTypeBits(dtype) / 8; }

uint64_t Product(const std::vector<uint64_t>& counts) {
  uint64_t product = 1;
  for (uint64_t count : counts) product *= count;
  return product;
}

std::vector<uint64_t> Strides(const std::vector<uint64_t>& counts) {
  std::vector<uint64_t> strides(counts.size(), 1);
  for (size_t dim = counts.size(); dim-- > 1;) strides[dim - 1] = strides[dim] * counts[dim];
  return strides;
}

// The part of the decoded source a gather reads: per source dimension, the
// first index and the number of indices.
struct SourceBox {
  std::vector<uint64_t> low;
  std::vector<uint64_t> count;

  Hyperslab AsHyperslab() const {
    Hyperslab slab;
    for (size_t dim = 0; dim < low.size(); ++dim) slab.ranges.push_back({low[dim], low[dim] + count[dim]});
    return slab;
  }
};

SourceBox BoundingBox(const GatherTask& task) {
  SourceBox box{task.start, std::vector<uint64_t>(task.source_shape.size(), 1)};
  for (size_t dim = 0; dim < task.axis.size(); ++dim) {
    const int axis = task.axis[dim];
    if (axis < 0) continue;
    const uint64_t size = task.box.ranges[dim].size();
    box.count[axis] = size == 0 ? 0 : task.step[axis] * (size - 1) + 1;
  }

  // MXFP4 decodes whole 32-element blocks along the last dimension.
  if (task.decoding == Decoding::kMxfp4 && !box.low.empty()) {
    const uint64_t first = box.low.back() / kMxfp4BlockElements;
    const uint64_t end = box.low.back() + box.count.back();
    const uint64_t last = (end + kMxfp4BlockElements - 1) / kMxfp4BlockElements;
    box.low.back() = first * kMxfp4BlockElements;
    box.count.back() = (last - first) * kMxfp4BlockElements;
  }
  return box;
}

// Reads hyperslab `region` of the tensor at `location` into `out`, compact
// and row-major. Rows close together in the file are read in one call.
Status ReadRegion(const ReadBytesFunction& read, const TensorLocation& location,
                  const Hyperslab& region, std::vector<std::byte>& out, std::vector<std::byte>& span) {
  const uint64_t element = ElementBytes(location.dtype);
  const Shape counts = region.shape();
  out.resize(Product(counts) * element);
  if (out.empty()) return Status::Ok();

  std::vector<ElementRun> runs;
  ForEachRun(location.shape, region, counts, Hyperslab::Whole(counts),
             [&runs](const ElementRun& run) { runs.push_back(run); });

  const uint64_t first = runs.front().source * element;
  const uint64_t end = (runs.back().source + runs.back().count) * element;
  if (runs.size() > 1 && end - first <= 2 * out.size() + kSpanSlackBytes) {
    span.resize(end - first);
    SAFECKPT_RETURN_IF_ERROR(read(location.file, location.offset + first, span.data(), span.size()));
    for (const ElementRun& run : runs) {
      std::memcpy(out.data() + run.destination * element,
                  span.data() + run.source * element - first, run.count * element);
    }
    return Status::Ok();
  }

  for (const ElementRun& run : runs) {
    SAFECKPT_RETURN_IF_ERROR(read(location.file, location.offset + run.source * element,
                                  out.data() + run.destination * element, run.count * element));
  }
  return Status::Ok();
}

// Calls visit(index) for every index of a box of `counts`, row-major, over
// dimensions [0, dims).
template <typename Visit>
void ForEachIndex(const std::vector<uint64_t>& counts, size_t dims, Visit visit) {
  for (size_t dim = 0; dim < dims; ++dim) {
    if (counts[dim] == 0) return;
  }
  std::vector<uint64_t> index(dims, 0);
  while (true) {
    visit(index);
    size_t dim = dims;
    while (dim > 0) {
      --dim;
      if (++index[dim] < counts[dim]) break;
      index[dim] = 0;
      if (dim == 0) return;
    }
    if (dims == 0) return;
  }
}

// Decodes FP8 values times their 128 x 128 block's scale into `work`
// (doubles). The block of an element comes from its global row and column,
// so a box that starts inside a block uses that block's scale.
Status DecodeFp8Block(const GatherTask& task, const SourceBox& box, const ReadBytesFunction& read,
                      GatherScratch& scratch) {
  const size_t rank = box.low.size();
  SAFECKPT_RETURN_IF_ERROR(ReadRegion(read, task.values, box.AsHyperslab(), scratch.raw, scratch.span));

  Hyperslab scale_region;
  for (size_t dim = 0; dim < rank; ++dim) {
    if (dim + 2 < rank) {
      scale_region.ranges.push_back({box.low[dim], box.low[dim] + box.count[dim]});
      continue;
    }
    const uint64_t first = box.low[dim] / kFp8BlockSize;
    const uint64_t last = (box.low[dim] + box.count[dim] - 1) / kFp8BlockSize;
    scale_region.ranges.push_back({first, last + 1});
  }
  SAFECKPT_RETURN_IF_ERROR(ReadRegion(read, task.scales, scale_region, scratch.scales, scratch.span));
  const Shape scale_counts = scale_region.shape();
  scratch.decoded_scales.resize(Product(scale_counts));
  DecodeToDouble(task.scales.dtype, scratch.scales.data(), scratch.decoded_scales.data(),
                 scratch.decoded_scales.size());

  std::array<double, 256> values;
  std::array<uint8_t, 256> codes;
  for (size_t code = 0; code < codes.size(); ++code) codes[code] = static_cast<uint8_t>(code);
  DecodeToDouble(task.values.dtype, codes.data(), values.data(), codes.size());

  scratch.work.resize(Product(box.count) * sizeof(double));
  auto* work = reinterpret_cast<double*>(scratch.work.data());
  const auto* raw = reinterpret_cast<const uint8_t*>(scratch.raw.data());
  const uint64_t columns = box.count[rank - 1];
  const uint64_t first_block_row = scale_region.ranges[rank - 2].start;
  const uint64_t first_block_column = scale_region.ranges[rank - 1].start;
  uint64_t row = 0;
  ForEachIndex(box.count, rank - 1, [&](const std::vector<uint64_t>& index) {
    std::vector<uint64_t> scale_index(rank, 0);
    for (size_t dim = 0; dim + 2 < rank; ++dim) scale_index[dim] = index[dim];
    scale_index[rank - 2] = (box.low[rank - 2] + index[rank - 2]) / kFp8BlockSize - first_block_row;
    const uint64_t scale_row = RowMajorOffset(scale_counts, scale_index);
    for (uint64_t column = 0; column < columns; ++column) {
      const uint64_t block = (box.low[rank - 1] + column) / kFp8BlockSize - first_block_column;
      const uint64_t element = row * columns + column;
      work[element] = values[raw[element]] * scratch.decoded_scales[scale_row + block];
    }
    ++row;
  });
  return Status::Ok();
}

// Decodes MXFP4 blocks into `work` (doubles): each byte holds two E2M1
// values, the low nibble first, and each 16-byte block shares one E8M0
// scale. `box` covers whole blocks along the last dimension.
Status DecodeMxfp4(const GatherTask& task, const SourceBox& box, const ReadBytesFunction& read,
                   GatherScratch& scratch) {
  const size_t rank = box.low.size();
  Hyperslab scale_region;
  for (size_t dim = 0; dim + 1 < rank; ++dim) {
    scale_region.ranges.push_back({box.low[dim], box.low[dim] + box.count[dim]});
  }
  const uint64_t first_block = box.low[rank - 1] / kMxfp4BlockElements;
  const uint64_t blocks = box.count[rank - 1] / kMxfp4BlockElements;
  scale_region.ranges.push_back({first_block, first_block + blocks});
  Hyperslab block_region = scale_region;
  block_region.ranges.push_back({0, kMxfp4BlockBytes});

  SAFECKPT_RETURN_IF_ERROR(ReadRegion(read, task.values, block_region, scratch.raw, scratch.span));
  SAFECKPT_RETURN_IF_ERROR(ReadRegion(read, task.scales, scale_region, scratch.scales, scratch.span));

  scratch.work.resize(Product(box.count) * sizeof(double));
  auto* work = reinterpret_cast<double*>(scratch.work.data());
  const auto* raw = reinterpret_cast<const uint8_t*>(scratch.raw.data());
  const auto* scales = reinterpret_cast<const uint8_t*>(scratch.scales.data());
  const uint64_t block_count = scratch.scales.size();
  for (uint64_t block = 0; block < block_count; ++block) {
    const double scale = DecodeE8M0(scales[block]);
    for (uint64_t byte = 0; byte < kMxfp4BlockBytes; ++byte) {
      const uint8_t pair = raw[block * kMxfp4BlockBytes + byte];
      work[block * kMxfp4BlockElements + 2 * byte] = DecodeE2M1(pair & 0x0f) * scale;
      work[block * kMxfp4BlockElements + 2 * byte + 1] = DecodeE2M1(pair >> 4) * scale;
    }
  }
  return Status::Ok();
}

// Fills scratch.work with the source box in the work dtype.
Status LoadSourceBox(const GatherTask& task, const SourceBox& box, const ReadBytesFunction& read,
                     GatherScratch& scratch) {
  switch (task.decoding) {
    case Decoding::kNone:
      return ReadRegion(read, task.values, box.AsHyperslab(), scratch.work, scratch.span);
    case Decoding::kFp8Block:
      return DecodeFp8Block(task, box, read, scratch);
    case Decoding::kMxfp4:
      return DecodeMxfp4(task, box, read, scratch);
  }
  return Status::Ok();
}

// Writes the destination box row by row: each row's elements are picked
// from the work buffer along the source dimension the row walks, then
// converted into destination memory.
uint64_t ScatterRows(const GatherTask& task, const SourceBox& box, GatherScratch& scratch) {
  const uint64_t work_element = ElementBytes(task.WorkDType());
  const uint64_t destination_element = ElementBytes(task.destination_dtype);
  const ConvertKernel kernel = FindConvertKernel(task.WorkDType(), task.destination_dtype);
  const std::vector<uint64_t> work_strides = Strides(box.count);

  // Work offset of the box's first element, and per box dimension the work
  // elements one step along it moves.
  uint64_t base = 0;
  for (size_t dim = 0; dim < box.low.size(); ++dim) {
    base += (task.start[dim] - box.low[dim]) * work_strides[dim];
  }
  const size_t dims = task.box.ranges.size();
  std::vector<uint64_t> moves(dims, 0);
  for (size_t dim = 0; dim < dims; ++dim) {
    const int axis = task.axis[dim];
    if (axis >= 0) moves[dim] = task.step[axis] * work_strides[axis];
  }

  if (dims == 0) {
    kernel(scratch.work.data() + base * work_element, task.destination, 1);
    return destination_element;
  }

  const Shape counts = task.box.shape();
  const uint64_t row_length = counts[dims - 1];
  const uint64_t inner_move = moves[dims - 1];
  scratch.row.resize(row_length * work_element);
  uint64_t written = 0;
  ForEachIndex(counts, dims - 1, [&](const std::vector<uint64_t>& index) {
    uint64_t work_offset = base;
    std::vector<uint64_t> destination_index(dims);
    for (size_t dim = 0; dim + 1 < dims; ++dim) {
      work_offset += index[dim] * moves[dim];
      destination_index[dim] = task.box.ranges[dim].start + index[dim];
    }
    destination_index[dims - 1] = task.box.ranges[dims - 1].start;

    const std::byte* row = scratch.work.data() + work_offset * work_element;
    if (inner_move != 1) {
      for (uint64_t element = 0; element < row_length; ++element) {
        std::memcpy(scratch.row.data() + element * work_element,
                    scratch.work.data() + (work_offset + element * inner_move) * work_element,
                    work_element);
      }
      row = scratch.row.data();
    }
    const uint64_t destination_offset = RowMajorOffset(task.destination_shape, destination_index);
    kernel(row, task.destination + destination_offset * destination_element, row_length);
    written += row_length * destination_element;
  });
  return written;
}

}  // namespace

Status CheckGather(const GatherTask& task, const std::string& tensor) {
  if (DTypeBits(task.values.dtype) % 8 != 0 || DTypeBits(task.destination_dtype) % 8 != 0) {
    return Unimplemented(ErrorId::kUnsupportedConversion,
                         fmt::format("tensor '{}': {} to {} needs a layout change, which safeckpt "
                                     "does only for dtypes of whole bytes",
                                     tensor, DTypeName(task.values.dtype),
                                     DTypeName(task.destination_dtype)));
  }
  if (task.decoding != Decoding::kNone && !CanConvert(DType::kF64, task.destination_dtype)) {
    return Unimplemented(ErrorId::kUnsupportedConversion,
                         fmt::format("tensor '{}': quantized {} dequantizes only into F64, F32, "
                                     "F16 or BF16, not {}",
                                     tensor, DTypeName(task.values.dtype),
                                     DTypeName(task.destination_dtype)));
  }
  return CheckConversion(task.WorkDType(), task.destination_dtype, tensor);
}

uint64_t GatherScratchBytes(const GatherTask& task) {
  const SourceBox box = BoundingBox(task);
  const uint64_t elements = Product(box.count);
  const uint64_t raw = task.decoding == Decoding::kNone ? 0 : elements * ElementBytes(task.values.dtype);
  const uint64_t work = elements * ElementBytes(task.WorkDType());
  // The span buffer takes at most twice the raw bytes plus the slack.
  return work + 3 * std::max(raw, work) + kSpanSlackBytes;
}

std::vector<GatherTask> SplitGather(const GatherTask& task, uint64_t budget) {
  const uint64_t needed = GatherScratchBytes(task);
  if (needed <= budget) return {task};

  for (size_t dim = 0; dim < task.box.ranges.size(); ++dim) {
    const IndexRange range = task.box.ranges[dim];
    if (range.size() <= 1) continue;
    const double share = static_cast<double>(budget) / static_cast<double>(needed);
    const uint64_t chunk =
        std::max<uint64_t>(1, static_cast<uint64_t>(static_cast<double>(range.size()) * share));

    std::vector<GatherTask> parts;
    for (uint64_t first = 0; first < range.size(); first += chunk) {
      GatherTask part = task;
      part.box.ranges[dim] = {range.start + first, range.start + std::min(range.size(), first + chunk)};
      const int axis = task.axis[dim];
      if (axis >= 0) part.start[axis] += task.step[axis] * first;
      for (GatherTask& piece : SplitGather(part, budget)) parts.push_back(std::move(piece));
    }
    return parts;
  }
  return {task};
}

Result<uint64_t> RunGather(const GatherTask& task, const ReadBytesFunction& read,
                           GatherScratch& scratch) {
  if (task.box.IsEmpty()) return uint64_t{0};
  const SourceBox box = BoundingBox(task);
  SAFECKPT_RETURN_IF_ERROR(LoadSourceBox(task, box, read, scratch));
  return ScatterRows(task, box, scratch);
}

}  // namespace safeckpt::internal
