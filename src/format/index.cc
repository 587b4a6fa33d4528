// Parsing of model.safetensors.index.json: structure and file names only.
// Checkpoint::Open checks the shards themselves.
#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <unordered_set>

#include "format/json_dom.h"
#include "format/json_text.h"
#include "format/quote.h"
#include "safeckpt/checkpoint.h"

namespace safeckpt {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

std::string Prefix(std::string_view display_name) { return std::string(display_name) + ": "; }

// Shard file names longer than this cannot be opened on Linux (PATH_MAX),
// so they are rejected before any message quotes them.
constexpr size_t kMaxShardNameBytes = 4096;

Status IndexInvalid(std::string_view display_name, const std::string& detail) {
  return Corruption(ErrorId::kIndexInvalid, Prefix(display_name) + detail);
}

Status IndexNotJson(std::string_view display_name, const std::string& detail) {
  return Corruption(ErrorId::kIndexNotJson,
                    Prefix(display_name) + "the index is not valid JSON: " + detail);
}

// Checks the first bytes of the text, which the JSON parser would only
// report as a structural error.
Status CheckIndexStart(std::string_view text, std::string_view display_name) {
  if (internal::StartsWithByteOrderMark(text)) {
    return IndexNotJson(display_name,
                        "it starts with a UTF-8 byte order mark (bytes ef bb bf): the writer "
                        "added a BOM, which JSON files for safetensors must not have; write the "
                        "file again without it");
  }
  size_t first = internal::SkipJsonWhitespace(text);
  if (first == text.size()) {
    return IndexNotJson(display_name, "the file is empty or contains only whitespace");
  }
  if (internal::CanStartJsonValue(text[first])) return Status::Ok();
  return IndexNotJson(display_name, "byte " + internal::Quote(text.substr(first, 1)) +
                                        " at offset " + std::to_string(first) +
                                        " cannot begin a JSON value; an index starts with '{', "
                                        "after optional spaces, tabs, CR or LF");
}

// Adds `key` to `seen` and returns true when it was there already. Keys
// are compared after JSON unescaping, so "a" and "\u0061" are equal.
bool IsRepeatedKey(std::string_view key, std::unordered_set<std::string_view>& seen) {
  return !seen.insert(key).second;
}

// Returns total_size as a byte count, or nullopt with a warning when it is
// not one. Integers are what real writers produce; a float with no
// fraction (1.6e10) is the same count in another spelling, so it is
// accepted too.
std::optional<uint64_t> ReadTotalSize(element value, std::string_view display_name,
                                      CheckpointIndex& index) {
  if (std::optional<uint64_t> integer = internal::NonNegativeInteger(value)) return integer;

  if (value.type() == element_type::DOUBLE) {
    double number = value.get_double().value_unsafe();
    // 2^64 is exactly representable, so the comparison is exact.
    if (number >= 0 && number < 18446744073709551616.0 && std::trunc(number) == number) {
      return static_cast<uint64_t>(number);
    }
  }
  index.total_size_problem = Prefix(display_name) + "metadata.total_size is " +
                             internal::JsonValueText(value) + " (" +
                             std::string(internal::DescribeJsonType(value)) + "), not a byte count";
  index.warnings.push_back(index.total_size_problem + "; it is ignored");
  return std::nullopt;
}

Status ParseMetadata(element value, std::string_view display_name, CheckpointIndex& index) {
  if (value.type() != element_type::OBJECT) {
    return IndexInvalid(
        display_name,
        "metadata is " + std::string(internal::DescribeJsonType(value)) + ", expected an object");
  }
  std::unordered_set<std::string_view> seen;
  for (simdjson::dom::key_value_pair field : internal::ObjectOf(value)) {
    if (IsRepeatedKey(field.key, seen)) {
      return IndexInvalid(display_name, "metadata key " + internal::Quote(field.key) +
                                            " is given twice; each key must appear once");
    }
    if (field.key == "total_size") {
      index.total_size = ReadTotalSize(field.value, display_name, index);
    }
  }
  return Status::Ok();
}

// Rejects a shard file name that no real checkpoint has and that would
// make every later message about the shard long or garbled: one longer
// than a path can be, or one containing control characters.
Status CheckShardNameBytes(std::string_view tensor, std::string_view file,
                           std::string_view display_name) {
  if (file.size() > kMaxShardNameBytes) {
    return IndexInvalid(display_name, "weight_map maps tensor " + internal::Quote(tensor) +
                                          " to a file name of " + std::to_string(file.size()) +
                                          " bytes, longer than the " +
                                          std::to_string(kMaxShardNameBytes) +
                                          " bytes a path can have on Linux: " +
                                          internal::Quote(file));
  }
  auto control = std::find_if(file.begin(), file.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
  });
  if (control == file.end()) return Status::Ok();
  return IndexInvalid(display_name, "weight_map maps tensor " + internal::Quote(tensor) + " to " +
                                        internal::Quote(file) +
                                        ", which contains a control character; shard file "
                                        "names are plain text");
}

// Checks lexically that `file` names a file inside the checkpoint
// directory and returns it in normal form ("./a//b" becomes "a/b"). The
// file itself may be a symlink to anywhere, as in the Hugging Face cache.
Result<std::string> CheckShardName(std::string_view tensor, std::string_view file,
                                   std::string_view display_name) {
  auto outside = [&](const std::string& why) {
    return Corruption(ErrorId::kIndexPathOutside,
                      Prefix(display_name) + "weight_map maps tensor " + internal::Quote(tensor) +
                          " to " + internal::Quote(file) + ", which " + why +
                          "; shard file names must be relative paths inside the checkpoint "
                          "directory");
  };

  if (file.empty()) return outside("is empty");
  if (file.find('\0') != std::string_view::npos) return outside("contains a NUL byte");
  if (file.front() == '/') return outside("is an absolute path");
  SAFECKPT_RETURN_IF_ERROR(CheckShardNameBytes(tensor, file, display_name));

  std::filesystem::path path(file);
  for (const std::filesystem::path& component : path) {
    if (component == "..") return outside("contains a '..' component");
  }
  std::filesystem::path normal = path.lexically_normal();
  if (normal.filename().empty() || normal == ".") return outside("does not name a file");

  if (normal == kIndexFileName) {
    return IndexInvalid(display_name,
                        "weight_map maps tensor " + internal::Quote(tensor) + " to " +
                            internal::Quote(file) +
                            ", which is this index file, not a shard; map it to the "
                            ".safetensors file that contains the tensor");
  }
  return normal.string();
}

Status ParseWeightMap(element value, std::string_view display_name, CheckpointIndex& index) {
  if (value.type() != element_type::OBJECT) {
    return IndexInvalid(display_name, "weight_map is " +
                                          std::string(internal::DescribeJsonType(value)) +
                                          ", expected an object mapping tensor names to files");
  }

  std::unordered_set<std::string_view> seen;
  for (simdjson::dom::key_value_pair entry : internal::ObjectOf(value)) {
    if (entry.value.type() != element_type::STRING) {
      return IndexInvalid(display_name,
                          "weight_map maps tensor " + internal::Quote(entry.key) + " to " +
                              std::string(internal::DescribeJsonType(entry.value)) + " (" +
                              internal::JsonValueText(entry.value) + "), expected a file name");
    }
    if (!seen.insert(entry.key).second) {
      return IndexInvalid(display_name, "weight_map lists tensor " + internal::Quote(entry.key) +
                                            " twice; each tensor must map to one file");
    }
    std::string_view file = entry.value.get_string().value_unsafe();
    SAFECKPT_ASSIGN_OR_RETURN(std::string normal, CheckShardName(entry.key, file, display_name));
    index.weight_map.emplace_back(entry.key, std::move(normal));
  }

  if (index.weight_map.empty()) {
    return IndexInvalid(display_name,
                        "weight_map is empty; an index maps at least one tensor "
                        "to a file");
  }
  return Status::Ok();
}

Status ParseTopLevel(element root, std::string_view display_name, CheckpointIndex& index) {
  if (root.type() != element_type::OBJECT) {
    return IndexInvalid(display_name, "the index is " +
                                          std::string(internal::DescribeJsonType(root)) +
                                          ", expected an object with a weight_map");
  }

  std::unordered_set<std::string_view> seen;
  for (simdjson::dom::key_value_pair field : internal::ObjectOf(root)) {
    if (IsRepeatedKey(field.key, seen)) {
      return IndexInvalid(display_name, "top-level key " + internal::Quote(field.key) +
                                            " is given twice; each key must appear once");
    }
    if (field.key == "metadata") {
      SAFECKPT_RETURN_IF_ERROR(ParseMetadata(field.value, display_name, index));
    } else if (field.key == "weight_map") {
      SAFECKPT_RETURN_IF_ERROR(ParseWeightMap(field.value, display_name, index));
    }
  }

  if (!seen.contains("weight_map")) {
    return Corruption(ErrorId::kIndexMissingWeightMap,
                      Prefix(display_name) +
                          "the index has no weight_map, so it does not say "
                          "which file contains each tensor");
  }
  return Status::Ok();
}

}  // namespace

Result<CheckpointIndex> ParseCheckpointIndex(std::string_view text, std::string_view display_name,
                                             const ReaderLimits& limits) {
  SAFECKPT_RETURN_IF_ERROR(CheckIndexStart(text, display_name));
  internal::JsonNesting nesting = internal::ScanJsonNesting(text, limits.max_json_depth);
  if (nesting.too_deep_at) {
    return IndexNotJson(display_name, "JSON nests deeper than the limit of " +
                                          std::to_string(limits.max_json_depth) +
                                          " levels (at offset " +
                                          std::to_string(*nesting.too_deep_at) +
                                          "; ReaderLimits::max_json_depth)");
  }

  // The scan bounded the depth of the first value; anything after it is
  // trailing content, which the parser rejects before nesting into it.
  simdjson::dom::parser parser;
  element root;
  size_t max_depth = static_cast<size_t>(limits.max_json_depth) + 1;
  simdjson::error_code error = parser.allocate(text.size(), max_depth);
  if (error == simdjson::SUCCESS) error = parser.parse(text.data(), text.size()).get(root);
  if (error != simdjson::SUCCESS) {
    // NOTE: simdjson 3.0.1 rejects the whole document for an integer
    // outside the 64-bit range or a number beyond the range of a double.
    // Such a total_size therefore makes the index invalid, although other
    // bad total_size values only give a warning.
    std::string hint = error == simdjson::NUMBER_ERROR
                           ? " (a number is malformed or does not fit in 64 bits)"
                           : "";
    return IndexNotJson(display_name, simdjson::error_message(error) + hint);
  }

  CheckpointIndex index;
  SAFECKPT_RETURN_IF_ERROR(ParseTopLevel(root, display_name, index));
  return index;
}

}  // namespace safeckpt
