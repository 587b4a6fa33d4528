#include "adapt/source_view.h"

#include <algorithm>
#include <map>
#include <optional>
#include <utility>

#include <fmt/format.h>

#include "adapt/component_rename.h"
#include "adapt/dequantize.h"

namespace safeckpt::internal {
namespace {

constexpr std::string_view kBlocksSuffix = "_blocks";
constexpr std::string_view kScalesSuffix = "_scales";
constexpr std::string_view kScaleInvSuffix = "_scale_inv";
constexpr std::string_view kBiasSuffix = "_bias";
constexpr std::string_view kGateAndUp = ".experts.gate_and_up_projs";
constexpr std::string_view kDown = ".experts.down_projs";

Status AdapterInvalid(std::string message) {
  return InvalidArgument(ErrorId::kAdapterInvalid, std::move(message));
}

uint64_t CeilDiv(uint64_t value, uint64_t divisor) {
  return value / divisor + (value % divisor != 0 ? 1 : 0);
}

// A piece that copies a whole source of `shape` into box `box`, walking the
// source dimensions in the order `axis` gives.
Piece WholePiece(size_t source, Hyperslab box, std::vector<int> axis, size_t source_rank) {
  Piece piece;
  piece.source = source;
  piece.box = std::move(box);
  piece.axis = std::move(axis);
  piece.start.assign(source_rank, 0);
  piece.step.assign(source_rank, 1);
  return piece;
}

NativeTensor IdentityTensor(std::string name, const LogicalSource& source, size_t index) {
  NativeTensor tensor;
  tensor.name = std::move(name);
  tensor.dtype = source.dtype;
  tensor.shape = source.shape;
  std::vector<int> axis(source.shape.size());
  for (size_t dim = 0; dim < axis.size(); ++dim) axis[dim] = static_cast<int>(dim);
  tensor.pieces.push_back(
      WholePiece(index, Hyperslab::Whole(source.shape), std::move(axis), source.shape.size()));
  tensor.decoded = source.decoding != Decoding::kNone;
  return tensor;
}

bool IsFp8(DType dtype) { return dtype == DType::kF8_E4M3 || dtype == DType::kF8_E5M2; }

std::optional<std::string_view> StripSuffix(std::string_view name, std::string_view suffix) {
  if (name.size() <= suffix.size() || !name.ends_with(suffix)) return std::nullopt;
  return name.substr(0, name.size() - suffix.size());
}

// The parts of a per-expert name PREFIX.experts.E.PROJECTION.weight.
struct ExpertName {
  std::string prefix;
  uint64_t expert = 0;
  std::string projection;
};

std::optional<ExpertName> ParseExpertName(std::string_view name) {
  std::optional<std::string_view> rest = StripSuffix(name, ".weight");
  if (!rest) return std::nullopt;
  const size_t projection_dot = rest->rfind('.');
  if (projection_dot == std::string_view::npos) return std::nullopt;
  const std::string_view projection = rest->substr(projection_dot + 1);
  const std::string_view before = rest->substr(0, projection_dot);

  const size_t expert_dot = before.rfind('.');
  if (expert_dot == std::string_view::npos) return std::nullopt;
  const std::string_view digits = before.substr(expert_dot + 1);
  if (digits.empty() || digits.size() > 9 ||
      digits.find_first_not_of("0123456789") != std::string_view::npos) {
    return std::nullopt;
  }
  std::optional<std::string_view> prefix = StripSuffix(before.substr(0, expert_dot), ".experts");
  if (!prefix) return std::nullopt;
  return ExpertName{std::string(*prefix), std::stoull(std::string(digits)),
                    std::string(projection)};
}

// The experts of one per-expert stack: expert index to source index, per
// projection.
struct ExpertGroup {
  std::map<uint64_t, size_t> gate;
  std::map<uint64_t, size_t> up;
  std::map<uint64_t, size_t> down;
};

class ViewBuilder {
 public:
  ViewBuilder(std::string_view display_name, const std::vector<CheckpointTensor>& tensors,
              const AdapterSpec& spec)
      : display_name_(display_name), tensors_(tensors), spec_(spec), consumed_(tensors.size(), false) {
    for (size_t index = 0; index < tensors.size(); ++index) by_name_.emplace(tensors[index].name, index);
  }

  Result<SourceView> Build();

 private:
  const CheckpointTensor& Tensor(size_t index) const { return tensors_[index]; }
  std::optional<size_t> FindTensor(const std::string& name) const;

  Status PairMxfp4();
  Status PairFp8();
  void AddPlainSources();
  Status StackPerExpert(const PerExpertRule& rule);
  Status StackGrouped(const GroupedRule& rule);
  void AddIdentityTensors();
  Status CheckUniqueNames();

  Status StackExperts(const std::string& name, const std::map<uint64_t, size_t>& first,
                      const std::map<uint64_t, size_t>* second);
  Status CheckSameDType(const NativeTensor& tensor, const LogicalSource& source) const;
  Status AddGroupedGateUp(const std::string& prefix, size_t source, GroupedLayout layout);
  Status AddGroupedDown(const std::string& prefix, size_t source, GroupedLayout layout);
  Status AddInterleavedBias(const std::string& prefix, size_t source);
  void AddTensor(NativeTensor tensor, const std::vector<size_t>& sources);

  std::string_view display_name_;
  const std::vector<CheckpointTensor>& tensors_;
  std::map<std::string_view, size_t> by_name_;
  const AdapterSpec& spec_;
  std::vector<bool> consumed_;               // checkpoint tensors paired as scales
  SourceView view_;
  std::vector<std::string> native_names_;    // per logical source, after renames
  std::vector<bool> stacked_;                // per logical source: used by a stack
  // Native name to the logical sources that produced it, for error messages.
  std::map<std::string, std::vector<size_t>> producers_;
};

std::optional<size_t> ViewBuilder::FindTensor(const std::string& name) const {
  auto found = by_name_.find(name);
  if (found == by_name_.end()) return std::nullopt;
  return found->second;
}

// X_blocks U8 [..., rows, groups, 16] with X_scales U8 or F8_E8M0
// [..., rows, groups] become X [..., rows, groups * 32].
Status ViewBuilder::PairMxfp4() {
  for (size_t index = 0; index < tensors_.size(); ++index) {
    const CheckpointTensor& blocks = Tensor(index);
    std::optional<std::string_view> base = StripSuffix(blocks.name, kBlocksSuffix);
    if (!base) continue;
    std::optional<size_t> scales = FindTensor(std::string(*base) + std::string(kScalesSuffix));
    if (!scales) continue;

    const CheckpointTensor& scale = Tensor(*scales);
    const Shape& shape = blocks.shape;
    const bool valid = blocks.dtype == DType::kU8 &&
                       (scale.dtype == DType::kU8 || scale.dtype == DType::kF8_E8M0) &&
                       shape.size() >= 3 && shape.back() == kMxfp4BlockBytes &&
                       scale.shape == Shape(shape.begin(), shape.end() - 1) &&
                       shape[shape.size() - 2] <= UINT64_MAX / kMxfp4BlockElements;
    if (!valid) {
      return AdapterInvalid(fmt::format(
          "{}: MXFP4 tensors '{}' {} {} and '{}' {} {} do not pair; expected U8 [..., rows, "
          "groups, 16] blocks and U8 [..., rows, groups] scales",
          display_name_, blocks.name, DTypeName(blocks.dtype), FormatShape(blocks.shape),
          scale.name, DTypeName(scale.dtype), FormatShape(scale.shape)));
    }

    LogicalSource source;
    source.name = std::string(*base);
    source.tensor = index;
    source.scale = *scales;
    source.decoding = Decoding::kMxfp4;
    source.dtype = DType::kF4;
    source.shape = Shape(shape.begin(), shape.end() - 2);
    source.shape.push_back(shape[shape.size() - 2] * kMxfp4BlockElements);
    view_.sources.push_back(std::move(source));
    consumed_[index] = true;
    consumed_[*scales] = true;
  }
  return Status::Ok();
}

// X.weight (F8) with X.weight_scale_inv [..., ceil(rows / 128), ceil(cols /
// 128)] becomes X.weight, dequantized.
Status ViewBuilder::PairFp8() {
  for (size_t index = 0; index < tensors_.size(); ++index) {
    const CheckpointTensor& scale = Tensor(index);
    std::optional<std::string_view> weight_name = StripSuffix(scale.name, kScaleInvSuffix);
    if (!weight_name || !weight_name->ends_with(".weight")) continue;
    std::optional<size_t> weight_index = FindTensor(std::string(*weight_name));
    if (!weight_index || !IsFp8(Tensor(*weight_index).dtype)) continue;

    const CheckpointTensor& weight = Tensor(*weight_index);
    Shape expected_scale = weight.shape;
    if (expected_scale.size() >= 2) {
      for (size_t dim = expected_scale.size() - 2; dim < expected_scale.size(); ++dim) {
        expected_scale[dim] = CeilDiv(expected_scale[dim], kFp8BlockSize);
      }
    }
    const bool valid = weight.shape.size() >= 2 && scale.shape == expected_scale &&
                       (scale.dtype == DType::kF32 || scale.dtype == DType::kBF16 ||
                        scale.dtype == DType::kF16);
    if (!valid) {
      return AdapterInvalid(fmt::format(
          "{}: FP8 weight '{}' {} {} and its scale '{}' {} {} do not pair; expected an F32, BF16 "
          "or F16 scale of shape {}, one per {} x {} block",
          display_name_, weight.name, DTypeName(weight.dtype), FormatShape(weight.shape),
          scale.name, DTypeName(scale.dtype), FormatShape(scale.shape),
          FormatShape(expected_scale), kFp8BlockSize, kFp8BlockSize));
    }

    LogicalSource source;
    source.name = weight.name;
    source.tensor = *weight_index;
    source.scale = index;
    source.decoding = Decoding::kFp8Block;
    source.dtype = weight.dtype;
    source.shape = weight.shape;
    view_.sources.push_back(std::move(source));
    consumed_[index] = true;
    consumed_[*weight_index] = true;
  }
  return Status::Ok();
}

void ViewBuilder::AddPlainSources() {
  for (size_t index = 0; index < tensors_.size(); ++index) {
    if (consumed_[index]) continue;
    const CheckpointTensor& tensor = Tensor(index);
    view_.sources.push_back({tensor.name, index, kNoTensor, Decoding::kNone, tensor.dtype,
                             tensor.shape});
  }
}

Status ViewBuilder::CheckSameDType(const NativeTensor& tensor, const LogicalSource& source) const {
  if (source.dtype == tensor.dtype) return Status::Ok();
  return AdapterInvalid(fmt::format("{}: '{}' is {} but the other tensors stacked into '{}' are {}",
                                    display_name_, source.name, DTypeName(source.dtype),
                                    tensor.name, DTypeName(tensor.dtype)));
}

void ViewBuilder::AddTensor(NativeTensor tensor, const std::vector<size_t>& sources) {
  for (size_t source : sources) {
    stacked_[source] = true;
    producers_[tensor.name].push_back(source);
  }
  view_.tensors.push_back(std::move(tensor));
}

// Stacks per-expert 2-D tensors along a new first dimension, each
// transposed: [rows, cols] becomes [expert, cols, rows]. With `second`, its
// experts fill the columns after `first`'s (up after gate).
Status ViewBuilder::StackExperts(const std::string& name, const std::map<uint64_t, size_t>& first,
                                 const std::map<uint64_t, size_t>* second) {
  const LogicalSource& model_source = view_.sources[first.begin()->second];
  if (model_source.shape.size() != 2) {
    return AdapterInvalid(fmt::format("{}: expert tensor '{}' has shape {}; expected 2 dimensions",
                                      display_name_, model_source.name,
                                      FormatShape(model_source.shape)));
  }
  const uint64_t rows = model_source.shape[0];
  const uint64_t cols = model_source.shape[1];
  uint64_t experts = first.rbegin()->first + 1;
  if (second != nullptr && !second->empty()) experts = std::max(experts, second->rbegin()->first + 1);

  NativeTensor tensor;
  tensor.name = name;
  tensor.dtype = model_source.dtype;
  tensor.shape = {experts, cols, second != nullptr ? 2 * rows : rows};
  tensor.stacked = true;

  std::vector<size_t> used;
  for (const auto* projections : {&first, second}) {
    if (projections == nullptr) continue;
    const uint64_t column = projections == &first ? 0 : rows;
    for (const auto& [expert, index] : *projections) {
      const LogicalSource& source = view_.sources[index];
      if (source.shape != model_source.shape) {
        return AdapterInvalid(fmt::format(
            "{}: expert tensors stacked into '{}' differ in shape: '{}' is {} but '{}' is {}",
            display_name_, name, model_source.name, FormatShape(model_source.shape),
            source.name, FormatShape(source.shape)));
      }
      SAFECKPT_RETURN_IF_ERROR(CheckSameDType(tensor, source));
      Hyperslab box{{{expert, expert + 1}, {0, cols}, {column, column + rows}}};
      tensor.pieces.push_back(WholePiece(index, std::move(box), {-1, 1, 0}, 2));
      tensor.decoded = tensor.decoded || source.decoding != Decoding::kNone;
      used.push_back(index);
    }
  }
  AddTensor(std::move(tensor), used);
  return Status::Ok();
}

Status ViewBuilder::StackPerExpert(const PerExpertRule& rule) {
  std::map<std::string, ExpertGroup> groups;
  for (size_t index = 0; index < view_.sources.size(); ++index) {
    if (stacked_[index]) continue;
    std::optional<ExpertName> parsed = ParseExpertName(native_names_[index]);
    if (!parsed) continue;
    ExpertGroup& group = groups[parsed->prefix];
    if (!rule.gate.empty() && parsed->projection == rule.gate) group.gate[parsed->expert] = index;
    if (parsed->projection == rule.up) group.up[parsed->expert] = index;
    if (parsed->projection == rule.down) group.down[parsed->expert] = index;
  }

  for (const auto& [prefix, group] : groups) {
    const std::string gate_and_up = prefix + std::string(kGateAndUp);
    if (!rule.gate.empty() && !group.gate.empty()) {
      SAFECKPT_RETURN_IF_ERROR(StackExperts(gate_and_up, group.gate, &group.up));
    } else if (!group.up.empty()) {
      SAFECKPT_RETURN_IF_ERROR(StackExperts(gate_and_up, group.up, nullptr));
    }
    if (!group.down.empty()) {
      SAFECKPT_RETURN_IF_ERROR(StackExperts(prefix + std::string(kDown), group.down, nullptr));
    }
  }
  return Status::Ok();
}

// Grouped gate and up, [E, 2I, H] transposed to [E, H, 2I], or GPT-OSS's
// interleaved columns (rows once decoded from MXFP4) split into gate, then up.
Status ViewBuilder::AddGroupedGateUp(const std::string& prefix, size_t index,
                                     GroupedLayout layout) {
  const LogicalSource& source = view_.sources[index];
  if (source.shape.size() != 3) {
    return AdapterInvalid(fmt::format("{}: grouped expert tensor '{}' has shape {}; expected [E, "
                                      "2I, H] or [E, H, 2I]",
                                      display_name_, source.name, FormatShape(source.shape)));
  }
  const uint64_t experts = source.shape[0];
  const bool mxfp4 = source.decoding == Decoding::kMxfp4;
  const bool rows_first = layout == GroupedLayout::kTransposed || mxfp4;
  const uint64_t hidden = rows_first ? source.shape[2] : source.shape[1];
  const uint64_t both = rows_first ? source.shape[1] : source.shape[2];
  if (both % 2 != 0) {
    return AdapterInvalid(fmt::format("{}: '{}' has shape {}, whose gate and up dimension {} is "
                                      "odd; expected 2I",
                                      display_name_, source.name, FormatShape(source.shape),
                                      both));
  }

  NativeTensor tensor;
  tensor.name = prefix + std::string(kGateAndUp);
  tensor.dtype = source.dtype;
  tensor.shape = {experts, hidden, both};
  tensor.stacked = true;
  tensor.decoded = source.decoding != Decoding::kNone;
  const std::vector<int> axis = rows_first ? std::vector<int>{0, 2, 1} : std::vector<int>{0, 1, 2};
  if (layout == GroupedLayout::kTransposed) {
    tensor.pieces.push_back(WholePiece(index, Hyperslab::Whole(tensor.shape), axis, 3));
  } else {
    // Gate in even and up in odd positions along the gate-and-up dimension.
    const uint64_t half = both / 2;
    const size_t interleaved_dim = rows_first ? 1 : 2;
    for (uint64_t part : {0, 1}) {
      Piece piece = WholePiece(index, Hyperslab{{{0, experts}, {0, hidden},
                                                 {part * half, (part + 1) * half}}},
                               axis, 3);
      piece.start[interleaved_dim] = part;
      piece.step[interleaved_dim] = 2;
      tensor.pieces.push_back(std::move(piece));
    }
  }
  AddTensor(std::move(tensor), {index});
  return Status::Ok();
}

// Grouped down: [E, H, I] transposed to [E, I, H]; GPT-OSS stores [E, I, H]
// already, except decoded MXFP4, which is [E, H, I].
Status ViewBuilder::AddGroupedDown(const std::string& prefix, size_t index, GroupedLayout layout) {
  const LogicalSource& source = view_.sources[index];
  if (source.shape.size() != 3) {
    return AdapterInvalid(fmt::format("{}: grouped expert tensor '{}' has shape {}; expected 3 "
                                      "dimensions",
                                      display_name_, source.name, FormatShape(source.shape)));
  }
  const bool transposed =
      layout == GroupedLayout::kTransposed || source.decoding == Decoding::kMxfp4;
  NativeTensor tensor;
  tensor.name = prefix + std::string(kDown);
  tensor.dtype = source.dtype;
  tensor.shape = transposed ? Shape{source.shape[0], source.shape[2], source.shape[1]}
                            : source.shape;
  tensor.stacked = transposed;
  tensor.decoded = source.decoding != Decoding::kNone;
  tensor.pieces.push_back(WholePiece(index, Hyperslab::Whole(tensor.shape),
                                     transposed ? std::vector<int>{0, 2, 1}
                                                : std::vector<int>{0, 1, 2},
                                     3));
  AddTensor(std::move(tensor), {index});
  return Status::Ok();
}

// GPT-OSS's gate-and-up bias [E, 2I], interleaved like its weight.
Status ViewBuilder::AddInterleavedBias(const std::string& prefix, size_t index) {
  const LogicalSource& source = view_.sources[index];
  if (source.shape.size() != 2 || source.shape[1] % 2 != 0) {
    return AdapterInvalid(fmt::format("{}: bias '{}' has shape {}; expected [E, 2I]",
                                      display_name_, source.name, FormatShape(source.shape)));
  }
  NativeTensor tensor;
  tensor.name = prefix + std::string(kGateAndUp) + std::string(kBiasSuffix);
  tensor.dtype = source.dtype;
  tensor.shape = source.shape;
  tensor.stacked = true;
  const uint64_t half = source.shape[1] / 2;
  for (uint64_t part : {0, 1}) {
    Piece piece = WholePiece(index, Hyperslab{{{0, source.shape[0]},
                                               {part * half, (part + 1) * half}}},
                             {0, 1}, 2);
    piece.start[1] = part;
    piece.step[1] = 2;
    tensor.pieces.push_back(std::move(piece));
  }
  AddTensor(std::move(tensor), {index});
  return Status::Ok();
}

Status ViewBuilder::StackGrouped(const GroupedRule& rule) {
  const std::string gate_up_suffix = "." + std::string(rule.gate_up);
  const std::string down_suffix = "." + std::string(rule.down);
  const bool interleaved = rule.layout == GroupedLayout::kInterleaved;
  for (size_t index = 0; index < view_.sources.size(); ++index) {
    if (stacked_[index]) continue;
    const std::string& name = native_names_[index];
    if (std::optional<std::string_view> prefix = StripSuffix(name, gate_up_suffix)) {
      SAFECKPT_RETURN_IF_ERROR(AddGroupedGateUp(std::string(*prefix), index, rule.layout));
    } else if (std::optional<std::string_view> down = StripSuffix(name, down_suffix)) {
      SAFECKPT_RETURN_IF_ERROR(AddGroupedDown(std::string(*down), index, rule.layout));
    } else if (!interleaved) {
      continue;
    } else if (std::optional<std::string_view> bias =
                   StripSuffix(name, gate_up_suffix + std::string(kBiasSuffix))) {
      SAFECKPT_RETURN_IF_ERROR(AddInterleavedBias(std::string(*bias), index));
    } else if (std::optional<std::string_view> down_bias =
                   StripSuffix(name, down_suffix + std::string(kBiasSuffix))) {
      NativeTensor tensor = IdentityTensor(
          std::string(*down_bias) + std::string(kDown) + std::string(kBiasSuffix),
          view_.sources[index], index);
      AddTensor(std::move(tensor), {index});
    }
  }
  return Status::Ok();
}

void ViewBuilder::AddIdentityTensors() {
  for (size_t index = 0; index < view_.sources.size(); ++index) {
    if (stacked_[index]) continue;
    AddTensor(IdentityTensor(native_names_[index], view_.sources[index], index), {index});
  }
}

// Two native tensors of one name mean two checkpoint tensors map to it.
Status ViewBuilder::CheckUniqueNames() {
  std::map<std::string_view, size_t> count;
  for (const NativeTensor& tensor : view_.tensors) ++count[tensor.name];
  for (const auto& [name, tensors] : count) {
    if (tensors < 2) continue;
    const std::vector<size_t>& sources = producers_[std::string(name)];
    return AdapterInvalid(fmt::format(
        "{}: adapter {} maps '{}' and '{}' to the same native name '{}', so the tensors do "
        "not fit this adapter; choose another adapter or none",
        display_name_, spec_.name, view_.sources[sources.front()].name,
        view_.sources[sources.back()].name, name));
  }
  return Status::Ok();
}

Result<SourceView> ViewBuilder::Build() {
  view_.adapter = std::string(spec_.name);
  if (spec_.mxfp4) SAFECKPT_RETURN_IF_ERROR(PairMxfp4());
  if (spec_.fp8_block_scales) SAFECKPT_RETURN_IF_ERROR(PairFp8());
  AddPlainSources();

  for (const LogicalSource& source : view_.sources) {
    native_names_.push_back(RenameToNative(source.name, spec_.renames));
  }
  stacked_.assign(view_.sources.size(), false);

  for (const PerExpertRule& rule : spec_.per_expert) SAFECKPT_RETURN_IF_ERROR(StackPerExpert(rule));
  for (const GroupedRule& rule : spec_.grouped) SAFECKPT_RETURN_IF_ERROR(StackGrouped(rule));
  AddIdentityTensors();
  SAFECKPT_RETURN_IF_ERROR(CheckUniqueNames());

  std::sort(view_.tensors.begin(), view_.tensors.end(),
            [](const NativeTensor& a, const NativeTensor& b) { return a.name < b.name; });
  return std::move(view_);
}

}  // namespace

bool Piece::KeepsOrder(const LogicalSource& source) const {
  if (source.decoding != Decoding::kNone) return false;
  for (uint64_t stride : step) {
    if (stride != 1) return false;
  }
  int previous = -1;
  for (int dim : axis) {
    if (dim < 0) continue;
    if (dim <= previous) return false;
    previous = dim;
  }
  return true;
}

std::vector<CheckpointTensor> SourceView::AsCheckpointTensors() const {
  std::vector<CheckpointTensor> tensors;
  tensors.reserve(this->tensors.size());
  for (const NativeTensor& native : this->tensors) {
    CheckpointTensor tensor;
    tensor.name = native.name;
    tensor.dtype = native.dtype;
    tensor.shape = native.shape;
    tensor.nbytes = ByteSize(native.dtype, native.shape).value_or(0);
    tensors.push_back(std::move(tensor));
  }
  return tensors;
}

SourceView IdentityView(const Checkpoint& checkpoint) {
  SourceView view;
  for (size_t index = 0; index < checkpoint.tensors().size(); ++index) {
    const CheckpointTensor& tensor = checkpoint.tensors()[index];
    view.sources.push_back({tensor.name, index, kNoTensor, Decoding::kNone, tensor.dtype,
                            tensor.shape});
    view.tensors.push_back(IdentityTensor(tensor.name, view.sources.back(), index));
  }
  return view;
}

Result<SourceView> BuildSourceView(std::string_view display_name,
                                   const std::vector<CheckpointTensor>& tensors,
                                   const AdapterSpec& spec) {
  ViewBuilder builder(display_name, tensors, spec);
  return builder.Build();
}

}  // namespace safeckpt::internal
