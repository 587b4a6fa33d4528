// The save direction of the adapters: native tensors and slices back to
// Hugging Face tensors. The Hugging Face names and shapes a native tensor
// comes from are derived from the adapter's rules, the forward view of those
// tensors is built, and every piece is run backwards: from the native box
// into the Hugging Face tensor.
#include <algorithm>
#include <cstring>
#include <map>
#include <utility>

#include <fmt/format.h>

#include "adapt/adapter_spec.h"
#include "adapt/component_rename.h"
#include "adapt/source_view.h"
#include "safeckpt/adapter.h"

namespace safeckpt {
namespace {

using internal::AdapterSpec;
using internal::GroupedLayout;
using internal::Piece;

constexpr std::string_view kGateAndUp = ".experts.gate_and_up_projs";
constexpr std::string_view kDown = ".experts.down_projs";
constexpr std::string_view kBias = "_bias";

bool IsBookkeepingName(std::string_view name) {
  constexpr std::string_view kLast = "_extra_state";
  return name == kLast || (name.ends_with(kLast) && name[name.size() - kLast.size() - 1] == '.');
}

struct HfSource {
  std::string name;
  Shape shape;
};

std::string ToHf(const AdapterSpec& spec, const std::string& name) {
  return internal::RenameToHuggingFace(name, spec.renames);
}

// The Hugging Face tensors a per-expert rule stacks into native `name`.
std::vector<HfSource> PerExpertSources(const AdapterSpec& spec, const internal::PerExpertRule& rule,
                                       const std::string& prefix, bool gate_and_up,
                                       const Shape& shape) {
  std::vector<HfSource> sources;
  const uint64_t experts = shape[0];
  const uint64_t hidden = gate_and_up ? shape[1] : shape[2];
  const uint64_t width = gate_and_up ? shape[2] : shape[1];
  const bool gated = gate_and_up && !rule.gate.empty();
  const uint64_t intermediate = gated ? width / 2 : width;
  for (uint64_t expert = 0; expert < experts; ++expert) {
    const std::string base = prefix + ".experts." + std::to_string(expert) + ".";
    if (!gate_and_up) {
      sources.push_back({ToHf(spec, base + std::string(rule.down) + ".weight"), {hidden, intermediate}});
      continue;
    }
    if (gated) {
      sources.push_back({ToHf(spec, base + std::string(rule.gate) + ".weight"), {intermediate, hidden}});
    }
    sources.push_back({ToHf(spec, base + std::string(rule.up) + ".weight"), {intermediate, hidden}});
  }
  return sources;
}

std::optional<std::string> StripSuffix(const std::string& name, std::string_view suffix) {
  if (!name.ends_with(suffix) || name.size() == suffix.size()) return std::nullopt;
  return name.substr(0, name.size() - suffix.size());
}

// The Hugging Face tensors (names and shapes) that `spec` makes native
// tensor `name` of `shape` from: per-expert or grouped tensors for stacked
// experts, otherwise the one tensor renamed back.
std::vector<HfSource> SourcesOf(const AdapterSpec& spec, const std::string& name, const Shape& shape) {
  const bool three_dims = shape.size() == 3;
  for (const internal::PerExpertRule& rule : spec.per_expert) {
    if (!three_dims) break;
    if (std::optional<std::string> prefix = StripSuffix(name, kGateAndUp)) {
      return PerExpertSources(spec, rule, *prefix, true, shape);
    }
    if (std::optional<std::string> prefix = StripSuffix(name, kDown)) {
      return PerExpertSources(spec, rule, *prefix, false, shape);
    }
  }
  for (const internal::GroupedRule& rule : spec.grouped) {
    const bool interleaved = rule.layout == GroupedLayout::kInterleaved;
    const std::string gate_up = "." + std::string(rule.gate_up);
    const std::string down = "." + std::string(rule.down);
    if (three_dims) {
      if (std::optional<std::string> prefix = StripSuffix(name, kGateAndUp)) {
        const Shape hf = interleaved ? shape : Shape{shape[0], shape[2], shape[1]};
        return {{ToHf(spec, *prefix + gate_up), hf}};
      }
      if (std::optional<std::string> prefix = StripSuffix(name, kDown)) {
        const Shape hf = interleaved ? shape : Shape{shape[0], shape[2], shape[1]};
        return {{ToHf(spec, *prefix + down), hf}};
      }
    }
    if (!interleaved) continue;
    if (std::optional<std::string> prefix =
            StripSuffix(name, std::string(kGateAndUp) + std::string(kBias))) {
      return {{ToHf(spec, *prefix + gate_up + std::string(kBias)), shape}};
    }
    if (std::optional<std::string> prefix = StripSuffix(name, std::string(kDown) + std::string(kBias))) {
      return {{ToHf(spec, *prefix + down + std::string(kBias)), shape}};
    }
  }
  return {{ToHf(spec, name), shape}};
}

std::vector<uint64_t> Strides(const Shape& shape) {
  std::vector<uint64_t> strides(shape.size(), 1);
  for (size_t dim = shape.size(); dim-- > 1;) strides[dim - 1] = strides[dim] * shape[dim];
  return strides;
}

// Copies the part of `piece` that `native` contains from the native data into
// the Hugging Face tensor `hf`, row by row. Returns the elements copied.
uint64_t CopyBack(const Piece& piece, const NativeTensorData& native, HfTensorData& hf) {
  const Hyperslab held = native.slice.value_or(Hyperslab::Whole(native.shape));
  std::optional<Hyperslab> common = Intersect(piece.box, held);
  if (!common) return 0;

  const uint64_t element = DTypeBits(native.dtype) / 8;
  const Shape local = held.shape();
  const std::vector<uint64_t> native_strides = Strides(local);
  const std::vector<uint64_t> hf_strides = Strides(hf.shape);
  const size_t dims = common->ranges.size();
  const auto* source = static_cast<const std::byte*>(native.data);
  if (dims == 0) {
    std::memcpy(hf.bytes.data(), source, element);
    return 1;
  }

  // Per box dimension: elements one step moves in the native slice and in
  // the Hugging Face tensor.
  std::vector<uint64_t> hf_moves(dims, 0);
  uint64_t hf_base = 0;
  uint64_t native_base = 0;
  for (size_t dim = 0; dim < dims; ++dim) {
    const int axis = piece.axis[dim];
    const uint64_t offset = common->ranges[dim].start - piece.box.ranges[dim].start;
    native_base += (common->ranges[dim].start - held.ranges[dim].start) * native_strides[dim];
    if (axis < 0) continue;
    hf_moves[dim] = piece.step[axis] * hf_strides[axis];
    hf_base += (piece.start[axis] + piece.step[axis] * offset) * hf_strides[axis];
  }

  const Shape counts = common->shape();
  const uint64_t row = counts[dims - 1];
  std::vector<uint64_t> index(dims - 1, 0);
  uint64_t copied = 0;
  while (true) {
    uint64_t hf_offset = hf_base;
    uint64_t native_offset = native_base;
    for (size_t dim = 0; dim + 1 < dims; ++dim) {
      hf_offset += index[dim] * hf_moves[dim];
      native_offset += index[dim] * native_strides[dim];
    }
    for (uint64_t column = 0; column < row; ++column) {
      std::memcpy(hf.bytes.data() + (hf_offset + column * hf_moves[dims - 1]) * element,
                  source + (native_offset + column) * element, element);
    }
    copied += row;

    size_t dim = dims - 1;
    while (dim > 0) {
      --dim;
      if (++index[dim] < counts[dim]) break;
      index[dim] = 0;
      if (dim == 0) return copied;
    }
    if (dims == 1) return copied;
  }
}

// Checks one native entry, and that it agrees with `first`, the first entry
// of the same name, when there is one.
Status CheckNative(const NativeTensorData& native, const NativeTensorData* first) {
  const Hyperslab held = native.slice.value_or(Hyperslab::Whole(native.shape));
  SAFECKPT_RETURN_IF_ERROR(CheckHyperslab(held, native.shape, native.name));
  if (first != nullptr && (first->shape != native.shape || first->dtype != native.dtype)) {
    return InvalidArgument(
        ErrorId::kSliceInvalid,
        fmt::format("tensor '{}' is given as {} {} and as {} {}; every slice of one tensor needs "
                    "the same global shape and dtype",
                    native.name, DTypeName(first->dtype), FormatShape(first->shape),
                    DTypeName(native.dtype), FormatShape(native.shape)));
  }
  if (DTypeBits(native.dtype) % 8 != 0) {
    return InvalidArgument(ErrorId::kAdapterInvalid,
                           fmt::format("tensor '{}': {} elements are not whole bytes; only whole-"
                                       "byte dtypes convert to Hugging Face layout",
                                       native.name, DTypeName(native.dtype)));
  }
  if (native.data == nullptr && ElementCount(held.shape()).value_or(0) > 0) {
    return InvalidArgument(ErrorId::kDestinationInvalid,
                           fmt::format("tensor '{}': data is null for slice {}", native.name,
                                       FormatHyperslab(held)));
  }
  return Status::Ok();
}

// The native entries by name, bookkeeping left out and identical slices
// given by several ranks (replicated tensors) kept once.
Result<std::map<std::string, std::vector<const NativeTensorData*>>> GroupNatives(
    const std::vector<NativeTensorData>& natives, std::vector<std::string>& excluded) {
  std::map<std::string, std::vector<const NativeTensorData*>> groups;
  for (const NativeTensorData& native : natives) {
    if (IsBookkeepingName(native.name)) {
      excluded.push_back(native.name);
      continue;
    }
    std::vector<const NativeTensorData*>& group = groups[native.name];
    SAFECKPT_RETURN_IF_ERROR(CheckNative(native, group.empty() ? nullptr : group.front()));
    const Hyperslab held = native.slice.value_or(Hyperslab::Whole(native.shape));
    const bool repeated = std::any_of(group.begin(), group.end(), [&](const NativeTensorData* other) {
      return other->slice.value_or(Hyperslab::Whole(other->shape)) == held;
    });
    if (!repeated) group.push_back(&native);
  }
  std::sort(excluded.begin(), excluded.end());
  excluded.erase(std::unique(excluded.begin(), excluded.end()), excluded.end());
  return groups;
}

// Two native tensors that map back to one Hugging Face name would overwrite
// each other.
Status CheckDistinctNames(const std::vector<CheckpointTensor>& tensors, const AdapterSpec& spec) {
  std::map<std::string_view, size_t> seen;
  for (const CheckpointTensor& tensor : tensors) {
    if (++seen[tensor.name] < 2) continue;
    return InvalidArgument(ErrorId::kAdapterInvalid,
                           fmt::format("adapter {}: two native tensors map back to the Hugging "
                                       "Face name '{}'; rename one of them",
                                       spec.name.empty() ? "none" : spec.name, tensor.name));
  }
  return Status::Ok();
}

}  // namespace

Result<HfConversion> ConvertToHuggingFace(std::string_view adapter,
                                          const std::vector<NativeTensorData>& natives) {
  const AdapterSpec* found = internal::FindAdapterSpec(adapter);
  AdapterSpec spec;
  if (found != nullptr) {
    spec = *found;
  } else if (!adapter.empty() && adapter != "none") {
    return ResolveAdapter(adapter, "").status();
  }
  // Nothing is quantized on the way back, so nothing pairs with scales.
  spec.fp8_block_scales = false;
  spec.mxfp4 = false;

  HfConversion conversion;
  SAFECKPT_ASSIGN_OR_RETURN(auto groups, GroupNatives(natives, conversion.excluded));

  std::vector<CheckpointTensor> hf_tensors;
  for (const auto& [name, group] : groups) {
    for (HfSource& source : SourcesOf(spec, name, group.front()->shape)) {
      CheckpointTensor tensor;
      tensor.name = std::move(source.name);
      tensor.dtype = group.front()->dtype;
      tensor.shape = std::move(source.shape);
      tensor.nbytes = ByteSize(tensor.dtype, tensor.shape).value_or(0);
      hf_tensors.push_back(std::move(tensor));
    }
  }
  SAFECKPT_RETURN_IF_ERROR(CheckDistinctNames(hf_tensors, spec));
  SAFECKPT_ASSIGN_OR_RETURN(internal::SourceView view,
                            internal::BuildSourceView("native tensors", hf_tensors, spec));

  std::vector<HfTensorData> buffers;
  std::vector<uint64_t> filled(hf_tensors.size(), 0);
  for (const CheckpointTensor& tensor : hf_tensors) {
    buffers.push_back({tensor.name, tensor.dtype, tensor.shape, std::vector<std::byte>(tensor.nbytes)});
  }
  for (const internal::NativeTensor& tensor : view.tensors) {
    auto group = groups.find(tensor.name);
    if (group == groups.end() || tensor.shape != group->second.front()->shape) {
      return InvalidArgument(ErrorId::kAdapterInvalid,
                             fmt::format("adapter {}: native tensor '{}' {} does not map back to "
                                         "Hugging Face tensors",
                                         spec.name, tensor.name, FormatShape(tensor.shape)));
    }
    for (const Piece& piece : tensor.pieces) {
      const size_t hf = view.sources[piece.source].tensor;
      for (const NativeTensorData* native : group->second) {
        filled[hf] += CopyBack(piece, *native, buffers[hf]);
      }
    }
  }

  for (size_t index = 0; index < buffers.size(); ++index) {
    if (filled[index] == ElementCount(buffers[index].shape).value_or(0)) {
      conversion.tensors.push_back(std::move(buffers[index]));
    } else {
      conversion.incomplete.push_back(buffers[index].name);
    }
  }
  auto by_name = [](const HfTensorData& a, const HfTensorData& b) { return a.name < b.name; };
  std::sort(conversion.tensors.begin(), conversion.tensors.end(), by_name);
  std::sort(conversion.incomplete.begin(), conversion.incomplete.end());
  return conversion;
}

}  // namespace safeckpt
