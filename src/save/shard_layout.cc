#include "save/shard_layout.h"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>
#include <utility>

#include <fmt/core.h>

#include "core/json_writer.h"
#include "format/quote.h"

namespace safeckpt::internal {
namespace {

constexpr std::string_view kShardStem = "model";
constexpr std::string_view kExtraStem = "model-extra";

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Compares two runs of digits by value: leading zeros are skipped, then the
// longer run is larger, then the digits decide. Equal values with different
// leading zeros fall back to the run length so the order stays strict.
int CompareDigitRuns(std::string_view a, std::string_view b) {
  size_t a_zeros = a.find_first_not_of('0');
  size_t b_zeros = b.find_first_not_of('0');
  std::string_view a_value = a_zeros == std::string_view::npos ? "" : a.substr(a_zeros);
  std::string_view b_value = b_zeros == std::string_view::npos ? "" : b.substr(b_zeros);
  if (a_value.size() != b_value.size()) return a_value.size() < b_value.size() ? -1 : 1;
  if (int order = a_value.compare(b_value); order != 0) return order;
  if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  return 0;
}

size_t DigitRunEnd(std::string_view text, size_t begin) {
  size_t end = begin;
  while (end < text.size() && IsDigit(text[end])) ++end;
  return end;
}

// Splits tensors into files of at most `max_bytes` tensor bytes in the
// order given. Like huggingface_hub's split_state_dict_into_shards, a tensor
// larger than the limit gets a file of its own and the file being filled
// stays open for the tensors after it.
std::vector<std::vector<LayoutTensor>> SplitBySize(std::vector<LayoutTensor> tensors,
                                                   uint64_t max_bytes) {
  std::vector<std::vector<LayoutTensor>> groups;
  std::vector<LayoutTensor> current;
  uint64_t current_bytes = 0;
  for (LayoutTensor& tensor : tensors) {
    if (tensor.nbytes > max_bytes) {
      groups.push_back({std::move(tensor)});
      continue;
    }
    if (!current.empty() && current_bytes + tensor.nbytes > max_bytes) {
      groups.push_back(std::move(current));
      current.clear();
      current_bytes = 0;
    }
    current_bytes += tensor.nbytes;
    current.push_back(std::move(tensor));
  }
  if (!current.empty()) groups.push_back(std::move(current));
  return groups;
}

void SortNaturally(std::vector<LayoutTensor>& tensors) {
  std::sort(tensors.begin(), tensors.end(), [](const LayoutTensor& a, const LayoutTensor& b) {
    return NaturalLess(a.name, b.name);
  });
}

// Turns groups of tensors into named files: one group is "<stem>.safetensors"
// and N groups are "<stem>-0000k-of-0000N.safetensors".
void AddNumberedFiles(std::vector<std::vector<LayoutTensor>> groups, std::string_view stem,
                      ShardPlan& plan) {
  for (size_t i = 0; i < groups.size(); ++i) {
    PlannedFile file;
    file.name = groups.size() == 1 ? std::string(stem) + ".safetensors"
                                   : ShardFileName(stem, i, groups.size());
    file.tensors = std::move(groups[i]);
    plan.files.push_back(std::move(file));
  }
}

// Returns "model-extra", or "model-extra-2", "model-extra-3"... when the
// layout already uses a file name that the extra files could take.
std::string ExtraStem(const std::set<std::string>& layout_files) {
  for (int suffix = 1;; ++suffix) {
    std::string stem(kExtraStem);
    if (suffix > 1) stem += "-" + std::to_string(suffix);
    bool taken = std::any_of(layout_files.begin(), layout_files.end(), [&](const std::string& name) {
      return name.starts_with(stem + ".") || name.starts_with(stem + "-");
    });
    if (!taken) return stem;
  }
}

Result<ShardPlan> PlanFromLayout(std::vector<LayoutTensor> tensors,
                                 const ShardingOptions& options) {
  std::unordered_map<std::string_view, std::string_view> file_of;
  std::set<std::string> layout_files;
  for (const auto& [tensor, file] : options.layout) {
    if (!file_of.emplace(tensor, file).second) {
      return InvalidArgument(ErrorId::kDuplicateName,
                             "the layout index names tensor " + Quote(tensor) +
                                 " twice; each tensor must map to exactly one file");
    }
    layout_files.insert(file);
  }

  std::map<std::string, std::vector<LayoutTensor>> by_file;
  std::vector<LayoutTensor> unknown;
  for (LayoutTensor& tensor : tensors) {
    auto found = file_of.find(tensor.name);
    if (found == file_of.end()) {
      unknown.push_back(std::move(tensor));
    } else {
      by_file[std::string(found->second)].push_back(std::move(tensor));
    }
  }

  ShardPlan plan;
  plan.write_index = true;
  for (auto& [name, file_tensors] : by_file) {
    plan.files.push_back(PlannedFile{name, std::move(file_tensors), 0});
  }
  SortNaturally(unknown);
  AddNumberedFiles(SplitBySize(std::move(unknown), options.max_shard_bytes),
                   ExtraStem(layout_files), plan);
  return plan;
}

ShardPlan PlanBySize(std::vector<LayoutTensor> tensors, uint64_t max_bytes) {
  SortNaturally(tensors);
  std::vector<std::vector<LayoutTensor>> groups = SplitBySize(std::move(tensors), max_bytes);
  ShardPlan plan;
  if (groups.empty()) groups.emplace_back();  // no tensors: one file with only metadata
  plan.write_index = groups.size() > 1;
  AddNumberedFiles(std::move(groups), kShardStem, plan);
  return plan;
}

}  // namespace

uint64_t DTypeAlignment(DType dtype) {
  uint32_t bits = DTypeBits(dtype);
  return bits < 8 || bits % 8 != 0 ? 1 : bits / 8;
}

void OrderForHeader(std::vector<LayoutTensor>& tensors) {
  std::sort(tensors.begin(), tensors.end(), [](const LayoutTensor& a, const LayoutTensor& b) {
    uint64_t a_alignment = DTypeAlignment(a.dtype);
    uint64_t b_alignment = DTypeAlignment(b.dtype);
    if (a_alignment != b_alignment) return a_alignment > b_alignment;
    return a.name < b.name;
  });
  uint64_t offset = 0;
  for (LayoutTensor& tensor : tensors) {
    tensor.data_begin = offset;
    offset += tensor.nbytes;
  }
}

bool NaturalLess(std::string_view a, std::string_view b) {
  size_t i = 0;
  size_t j = 0;
  while (i < a.size() && j < b.size()) {
    if (IsDigit(a[i]) && IsDigit(b[j])) {
      size_t a_end = DigitRunEnd(a, i);
      size_t b_end = DigitRunEnd(b, j);
      int order = CompareDigitRuns(a.substr(i, a_end - i), b.substr(j, b_end - j));
      if (order != 0) return order < 0;
      i = a_end;
      j = b_end;
      continue;
    }
    if (a[i] != b[j]) return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[j]);
    ++i;
    ++j;
  }
  return a.size() - i < b.size() - j;
}

std::string ShardFileName(std::string_view stem, size_t index, size_t count) {
  return fmt::format("{}-{:05d}-of-{:05d}.safetensors", stem, index + 1, count);
}

Result<ShardPlan> PlanShards(std::vector<LayoutTensor> tensors, const ShardingOptions& options,
                             std::string_view single_file_name) {
  if (options.max_shard_bytes == 0) {
    return InvalidArgument(ErrorId::kRuleInvalid,
                           "the maximum shard size is 0 bytes; give a positive size such as 5GB");
  }

  ShardPlan plan;
  if (!single_file_name.empty()) {
    plan.files.push_back(PlannedFile{std::string(single_file_name), std::move(tensors), 0});
  } else if (tensors.empty()) {
    // An index must map at least one tensor, so an empty checkpoint is one
    // file with only metadata, whatever the layout.
    plan = PlanBySize({}, options.max_shard_bytes);
  } else if (!options.layout.empty()) {
    SAFECKPT_ASSIGN_OR_RETURN(plan, PlanFromLayout(std::move(tensors), options));
  } else {
    plan = PlanBySize(std::move(tensors), options.max_shard_bytes);
  }

  for (PlannedFile& file : plan.files) {
    OrderForHeader(file.tensors);
    for (const LayoutTensor& tensor : file.tensors) file.tensor_bytes += tensor.nbytes;
    plan.total_size += file.tensor_bytes;
  }
  return plan;
}

std::string BuildIndexJson(const ShardPlan& plan) {
  std::vector<std::pair<std::string_view, std::string_view>> entries;
  for (const PlannedFile& file : plan.files) {
    for (const LayoutTensor& tensor : file.tensors) entries.emplace_back(tensor.name, file.name);
  }
  std::sort(entries.begin(), entries.end());

  JsonWriter json(/*indent=*/2);
  json.BeginObject();
  json.Key("metadata");
  json.BeginObject();
  json.Key("total_size");
  json.Uint(plan.total_size);
  json.EndObject();
  json.Key("weight_map");
  json.BeginObject();
  for (const auto& [tensor, file] : entries) {
    json.Key(tensor);
    json.String(file);
  }
  json.EndObject();
  json.EndObject();
  std::string text = json.Take();
  text.push_back('\n');
  return text;
}

}  // namespace safeckpt::internal
