#include "safeckpt/writer.h"

#include <set>
#include <string>

#include "core/json_writer.h"
#include "io/file.h"

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

}  // namespace

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
