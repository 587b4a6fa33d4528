#include "adapt/copy_plan.h"

#include <algorithm>
#include <numeric>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "load/region.h"

namespace safeckpt::internal {
namespace {

Hyperslab SliceOf(const ExpectedTensor& expected) {
  return expected.slice.value_or(Hyperslab::Whole(expected.shape));
}

uint64_t ElementCountOf(const Hyperslab& slab) {
  uint64_t count = 1;
  for (const IndexRange& range : slab.ranges) count *= range.size();
  return count;
}

// A piece restricted to the part of the destination slice it covers.
struct ClippedPiece {
  Hyperslab local_box;          // in the destination's local coordinates
  std::vector<uint64_t> start;  // source indices at the box's first element
  Hyperslab common;             // in global coordinates
};

std::optional<ClippedPiece> Clip(const Piece& piece, const Hyperslab& slice) {
  std::optional<Hyperslab> common = Intersect(piece.box, slice);
  if (!common) return std::nullopt;

  ClippedPiece clipped{{}, piece.start, *common};
  for (size_t dim = 0; dim < common->ranges.size(); ++dim) {
    const IndexRange& range = common->ranges[dim];
    const int axis = piece.axis[dim];
    if (axis >= 0) {
      clipped.start[axis] += piece.step[axis] * (range.start - piece.box.ranges[dim].start);
    }
    const uint64_t origin = slice.ranges[dim].start;
    clipped.local_box.ranges.push_back({range.start - origin, range.stop - origin});
  }
  return clipped;
}

class CopyPlanner {
 public:
  CopyPlanner(const Checkpoint& checkpoint, const SourceView& view, const ModelState& model)
      : checkpoint_(checkpoint), view_(view), model_(model) {}

  Status AddMatch(const TensorMatch& match);
  CopyPlan Take() { return std::move(plan_); }

 private:
  Status AddBookkeeping(size_t expected_index, const NativeTensor& native);
  Status AddRuns(size_t expected_index, const Piece& piece, const ClippedPiece& clipped);
  void AddGather(size_t expected_index, const Piece& piece, const ClippedPiece& clipped);
  Result<uint64_t> WholeBytes(uint64_t elements, DType dtype, const ExpectedTensor& expected) const;
  TensorLocation Location(size_t tensor) const;

  const Checkpoint& checkpoint_;
  const SourceView& view_;
  const ModelState& model_;
  uint64_t coalesce_key_ = 0;
  CopyPlan plan_;
};

TensorLocation CopyPlanner::Location(size_t index) const {
  const CheckpointTensor& tensor = checkpoint_.tensors()[index];
  return {tensor.file, tensor.offset, tensor.dtype, tensor.shape};
}

// Element offsets and counts in bits must fall on whole bytes, which only
// sub-byte dtypes (F4, F6) can violate.
Result<uint64_t> CopyPlanner::WholeBytes(uint64_t elements, DType dtype,
                                         const ExpectedTensor& expected) const {
  const uint64_t bits = elements * DTypeBits(dtype);
  if (bits % 8 == 0) return bits / 8;
  return InvalidArgument(
      ErrorId::kSliceInvalid,
      fmt::format("tensor '{}': slice {} of {} {} does not start and end on whole bytes; align "
                  "the slice to multiples of {} elements",
                  expected.name, FormatHyperslab(SliceOf(expected)), DTypeName(dtype),
                  FormatShape(expected.shape), 8 / std::gcd(DTypeBits(dtype), 8u)));
}

// Bookkeeping state is copied as raw bytes of its one checkpoint tensor.
Status CopyPlanner::AddBookkeeping(size_t expected_index, const NativeTensor& native) {
  const ExpectedTensor& expected = model_.tensors()[expected_index];
  const LogicalSource& source = view_.sources[native.pieces.front().source];
  if (native.pieces.size() != 1 || source.decoding != Decoding::kNone || native.stacked) {
    return InvalidArgument(ErrorId::kAdapterInvalid,
                           fmt::format("tensor '{}': a bookkeeping entry cannot load from '{}', "
                                       "which the adapter stacks or decodes",
                                       expected.name, native.name));
  }
  const CheckpointTensor& tensor = checkpoint_.tensors()[source.tensor];
  CopyRequest request;
  request.tensor = expected.name;
  request.file = tensor.file;
  request.offset = tensor.offset;
  request.nbytes = tensor.nbytes;
  request.source_dtype = DType::kU8;
  request.destination_dtype = DType::kU8;
  request.count = tensor.nbytes;
  request.destination = expected.data;
  plan_.requests.push_back(std::move(request));
  plan_.request_expected.push_back(expected_index);
  return Status::Ok();
}

// Positioned reads for a piece whose bytes keep their order: one request per
// run that is contiguous in both the file and the destination. Source and
// destination boxes get the same dimensions by giving the source a size-1
// dimension wherever the piece adds one (the expert index).
// NOTE: only runs without a dtype conversion share one read across small
// gaps; a converted inner-dimension slice reads row by row.
Status CopyPlanner::AddRuns(size_t expected_index, const Piece& piece, const ClippedPiece& clipped) {
  const ExpectedTensor& expected = model_.tensors()[expected_index];
  const LogicalSource& source = view_.sources[piece.source];
  const CheckpointTensor& tensor = checkpoint_.tensors()[source.tensor];

  Shape source_shape;
  Hyperslab source_box;
  for (size_t dim = 0; dim < piece.axis.size(); ++dim) {
    const int axis = piece.axis[dim];
    const uint64_t count = clipped.common.ranges[dim].size();
    if (axis < 0) {
      source_shape.push_back(1);
      source_box.ranges.push_back({0, count});
      continue;
    }
    source_shape.push_back(tensor.shape[axis]);
    source_box.ranges.push_back({clipped.start[axis], clipped.start[axis] + count});
  }

  const Shape local = SliceOf(expected).shape();
  const uint64_t key = ++coalesce_key_;
  Status status;
  ForEachRun(source_shape, source_box, local, clipped.local_box, [&](const ElementRun& run) {
    if (!status.ok()) return;
    Result<uint64_t> source_offset = WholeBytes(run.source, tensor.dtype, expected);
    Result<uint64_t> nbytes = WholeBytes(run.count, tensor.dtype, expected);
    Result<uint64_t> destination_offset = WholeBytes(run.destination, expected.dtype, expected);
    for (const Status& step :
         {source_offset.status(), nbytes.status(), destination_offset.status()}) {
      if (!step.ok()) {
        status = step;
        return;
      }
    }

    CopyRequest request;
    request.tensor = expected.name;
    request.file = tensor.file;
    request.offset = tensor.offset + *source_offset;
    request.nbytes = *nbytes;
    request.source_dtype = tensor.dtype;
    request.destination_dtype = expected.dtype;
    request.count = run.count;
    request.destination = static_cast<std::byte*>(expected.data) + *destination_offset;
    request.coalesce_key = key;
    plan_.requests.push_back(std::move(request));
    plan_.request_expected.push_back(expected_index);
  });
  return status;
}

void CopyPlanner::AddGather(size_t expected_index, const Piece& piece, const ClippedPiece& clipped) {
  const ExpectedTensor& expected = model_.tensors()[expected_index];
  const LogicalSource& source = view_.sources[piece.source];

  GatherTask task;
  task.decoding = source.decoding;
  task.values = Location(source.tensor);
  if (source.scale != kNoTensor) task.scales = Location(source.scale);
  task.source_shape = source.shape;
  task.axis = piece.axis;
  task.start = clipped.start;
  task.step = piece.step;
  task.box = clipped.local_box;
  task.destination = static_cast<std::byte*>(expected.data);
  task.destination_shape = SliceOf(expected).shape();
  task.destination_dtype = expected.dtype;
  plan_.gathers.push_back({expected.name, std::move(task)});
  plan_.gather_expected.push_back(expected_index);
}

Status CopyPlanner::AddMatch(const TensorMatch& match) {
  const NativeTensor& native = view_.tensors[match.source];
  if (match.bookkeeping) return AddBookkeeping(match.expected, native);

  const Hyperslab slice = SliceOf(model_.tensors()[match.expected]);
  for (const Piece& piece : native.pieces) {
    std::optional<ClippedPiece> clipped = Clip(piece, slice);
    if (!clipped) continue;
    if (piece.KeepsOrder(view_.sources[piece.source])) {
      SAFECKPT_RETURN_IF_ERROR(AddRuns(match.expected, piece, *clipped));
    } else {
      AddGather(match.expected, piece, *clipped);
    }
  }
  return Status::Ok();
}

}  // namespace

Result<CopyPlan> BuildCopyPlan(const Checkpoint& checkpoint, const SourceView& view,
                               const ModelState& model, const std::vector<TensorMatch>& matches) {
  CopyPlanner planner(checkpoint, view, model);
  for (const TensorMatch& match : matches) SAFECKPT_RETURN_IF_ERROR(planner.AddMatch(match));
  return planner.Take();
}

std::vector<size_t> CheckpointTensorsRead(const SourceView& view, const ModelState& model,
                                          const std::vector<TensorMatch>& matches) {
  std::vector<size_t> tensors;
  for (const TensorMatch& match : matches) {
    const Hyperslab slice = SliceOf(model.tensors()[match.expected]);
    for (const Piece& piece : view.tensors[match.source].pieces) {
      if (!Clip(piece, slice)) continue;
      const LogicalSource& source = view.sources[piece.source];
      for (size_t tensor : {source.tensor, source.scale}) {
        if (tensor != kNoTensor) tensors.push_back(tensor);
      }
    }
  }
  std::sort(tensors.begin(), tensors.end());
  tensors.erase(std::unique(tensors.begin(), tensors.end()), tensors.end());
  return tensors;
}

uint64_t CoveredElements(const NativeTensor& tensor, const Hyperslab& slice) {
  uint64_t covered = 0;
  for (const Piece& piece : tensor.pieces) {
    if (std::optional<Hyperslab> common = Intersect(piece.box, slice)) {
      covered += ElementCountOf(*common);
    }
  }
  return covered;
}

}  // namespace safeckpt::internal
