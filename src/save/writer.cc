#include "safeckpt/writer.h"

#include <cctype>
#include <filesystem>
#include <limits>
#include <set>
#include <string>

#include "core/json_writer.h"
#include "io/file.h"
#include "safeckpt/checkpoint.h"
#include "save/checkpoint_writer.h"

namespace safeckpt {
namespace {

Status ValidateTensors(const std::vector<TensorToWrite>& tensors) {
  std::set<std::string> names;
  for (const TensorToWrite& tensor : tensors) {
    if (tensor.name == "__metadata__") {
      return InvalidArgument(ErrorId::kDuplicateName,
                             "a tensor cannot be named '__metadata__': the safetensors format "
                             "reserves that key for file metadata; rename the tensor");
    }
    if (tensor.name.empty()) {
      return InvalidArgument(ErrorId::kNameEmpty, "a tensor has an empty name");
    }
    if (!names.insert(tensor.name).second) {
      return InvalidArgument(ErrorId::kDuplicateName,
                             "tensor '" + tensor.name + "' is given twice");
    }
    std::optional<uint64_t> size = ByteSize(tensor.dtype, tensor.shape);
    if (!size) {
      return InvalidArgument(ErrorId::kShapeOverflow,
                             "tensor '" + tensor.name + "': shape " + FormatShape(tensor.shape) +
                                 " of " + std::string(DTypeName(tensor.dtype)) +
                                 " has no whole byte size");
    }
    if (*size > 0 && tensor.data == nullptr) {
      return InvalidArgument(ErrorId::kDestinationInvalid,
                             "tensor '" + tensor.name + "' has no data");
    }
  }
  return Status::Ok();
}

struct SizeUnit {
  std::string_view name;  // lower case
  uint64_t multiplier;
};

constexpr SizeUnit kSizeUnits[] = {
    {"", 1},
    {"b", 1},
    {"kb", 1'000},
    {"mb", 1'000'000},
    {"gb", 1'000'000'000},
    {"tb", 1'000'000'000'000},
    {"kib", 1ull << 10},
    {"mib", 1ull << 20},
    {"gib", 1ull << 30},
    {"tib", 1ull << 40},
};

Status InvalidSize(std::string_view text, std::string_view reason) {
  return InvalidArgument(ErrorId::kRuleInvalid,
                         "invalid size '" + std::string(text) + "': " + std::string(reason) +
                             "; give a number of bytes, or a number with a unit: B, KB, MB, GB, "
                             "TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024), such "
                             "as 5GB or 500MiB");
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return text;
}

// Splits "1.5 GiB" into its digits before and after the point and its unit.
struct SizeParts {
  std::string_view whole;
  std::string_view fraction;
  std::string unit;  // lower case
};

SizeParts SplitSize(std::string_view text) {
  SizeParts parts;
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  parts.whole = text.substr(0, i);
  if (i < text.size() && text[i] == '.') {
    size_t begin = ++i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
    parts.fraction = text.substr(begin, i - begin);
  }
  for (char c : Trim(text.substr(i))) {
    parts.unit.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return parts;
}

}  // namespace

Result<uint64_t> ParseByteSize(std::string_view text) {
  SizeParts parts = SplitSize(Trim(text));
  if (parts.whole.empty() && parts.fraction.empty()) return InvalidSize(text, "no number");

  const SizeUnit* unit = nullptr;
  for (const SizeUnit& candidate : kSizeUnits) {
    if (candidate.name == parts.unit) unit = &candidate;
  }
  if (unit == nullptr) return InvalidSize(text, "unknown unit '" + parts.unit + "'");

  // 128-bit arithmetic: a whole part below 2^64 times a unit below 2^41
  // cannot overflow it, and the result is checked against 2^64.
  constexpr size_t kMaxDigits = 19;
  if (parts.whole.size() > kMaxDigits) return InvalidSize(text, "too large");
  unsigned __int128 value = 0;
  for (char digit : parts.whole) value = value * 10 + static_cast<unsigned>(digit - '0');
  value *= unit->multiplier;

  unsigned __int128 fraction = 0;
  unsigned __int128 scale = 1;
  for (char digit : parts.fraction.substr(0, kMaxDigits)) {
    fraction = fraction * 10 + static_cast<unsigned>(digit - '0');
    scale *= 10;
  }
  value += fraction * unit->multiplier / scale;

  if (value > std::numeric_limits<uint64_t>::max()) return InvalidSize(text, "too large");
  if (value == 0) return InvalidSize(text, "the size must be at least 1 byte");
  return static_cast<uint64_t>(value);
}

Result<std::vector<LayoutEntry>> ReadShardLayout(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code error;
  std::string file = fs::is_directory(path, error) ? (fs::path(path) / kIndexFileName).string() : path;
  ReaderLimits limits;
  SAFECKPT_ASSIGN_OR_RETURN(std::string text, internal::ReadWholeFile(file, limits.max_header_bytes));
  SAFECKPT_ASSIGN_OR_RETURN(CheckpointIndex index, ParseCheckpointIndex(text, file));
  return std::move(index.weight_map);
}

Result<SaveSummary> SaveCheckpoint(const std::string& destination,
                                   const std::vector<TensorToWrite>& tensors,
                                   const SaveOptions& options) {
  std::vector<internal::OutputTensor> outputs;
  outputs.reserve(tensors.size());
  for (const TensorToWrite& tensor : tensors) {
    internal::ByteSource source;
    source.memory = tensor.data;
    source.dtype = tensor.dtype;
    outputs.push_back({tensor.name, tensor.dtype, tensor.shape, source});
  }
  return internal::WriteCheckpoint(destination, outputs, options);
}

std::string BuildSafetensorsHeader(const std::vector<TensorToWrite>& tensors,
                                   const WriteOptions& options) {
  internal::JsonWriter json;
  json.BeginObject();

  Metadata metadata = options.metadata;
  bool has_format = false;
  for (const auto& [key, value] : metadata) has_format |= key == "format";
  if (!has_format) metadata.insert(metadata.begin(), {"format", "pt"});
  json.Key("__metadata__");
  json.BeginObject();
  for (const auto& [key, value] : metadata) {
    json.Key(key);
    json.String(value);
  }
  json.EndObject();

  uint64_t offset = 0;
  for (const TensorToWrite& tensor : tensors) {
    uint64_t size = ByteSize(tensor.dtype, tensor.shape).value_or(0);
    json.Key(tensor.name);
    json.BeginObject();
    json.Key("dtype");
    json.String(DTypeName(tensor.dtype));
    json.Key("shape");
    json.BeginArray();
    for (uint64_t dim : tensor.shape) json.Uint(dim);
    json.EndArray();
    json.Key("data_offsets");
    json.BeginArray();
    json.Uint(offset);
    json.Uint(offset + size);
    json.EndArray();
    json.EndObject();
    offset += size;
  }
  json.EndObject();

  std::string text = json.Take();
  if (options.pad_header) {
    // Pad so tensor data starts at a multiple of 8 bytes from the file start.
    while ((8 + text.size()) % 8 != 0) text.push_back(' ');
  }
  std::string header(8, '\0');
  uint64_t length = text.size();
  for (int i = 0; i < 8; ++i) header[i] = static_cast<char>((length >> (8 * i)) & 0xff);
  return header + text;
}

Status WriteSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                        const WriteOptions& options) {
  SAFECKPT_RETURN_IF_ERROR(ValidateTensors(tensors));
  SAFECKPT_ASSIGN_OR_RETURN(internal::AtomicFileWriter writer,
                            internal::AtomicFileWriter::Create(path));
  std::string header = BuildSafetensorsHeader(tensors, options);
  SAFECKPT_RETURN_IF_ERROR(writer.Append(header.data(), header.size()));
  for (const TensorToWrite& tensor : tensors) {
    uint64_t size = ByteSize(tensor.dtype, tensor.shape).value_or(0);
    if (size > 0) SAFECKPT_RETURN_IF_ERROR(writer.Append(tensor.data, size));
  }
  return writer.Commit();
}

}  // namespace safeckpt
