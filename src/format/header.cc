// Parsing and validation of a safetensors header, in the order its bytes
// are read: the 8-byte length, the JSON text, then the entries.
#include <simdjson.h>

#include <algorithm>
#include <string>
#include <unordered_set>

#include "core/utf8.h"
#include "format/data_layout.h"
#include "format/header_file.h"
#include "format/json_dom.h"
#include "format/json_text.h"
#include "format/quote.h"
#include "format/tensor_entry.h"
#include "io/file.h"
#include "safeckpt/safetensors.h"

namespace safeckpt {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

constexpr uint64_t kLengthFieldBytes = 8;

// How many leading bytes ReadSafetensorsHeader reads to recognise another
// format when the length field is unusable. HTML pages may start with a
// few blank lines, so this is more than the longest signature.
constexpr uint64_t kForeignProbeBytes = 512;

constexpr std::string_view kMetadataKey = "__metadata__";

// Decodes the little-endian header length byte by byte, independent of the
// host byte order and of the alignment of `bytes`.
uint64_t DecodeHeaderLength(std::string_view bytes) {
  uint64_t length = 0;
  for (int i = 7; i >= 0; --i) {
    length = (length << 8) | static_cast<unsigned char>(bytes[i]);
  }
  return length;
}

std::string HexByte(char byte) {
  static constexpr char kHexDigits[] = "0123456789abcdef";
  unsigned value = static_cast<unsigned char>(byte);
  return std::string("0x") + kHexDigits[value >> 4] + kHexDigits[value & 0xf];
}

std::string Prefix(std::string_view display_name) { return std::string(display_name) + ": "; }

// Returns kNotSafetensors when the bytes look like another format, and
// `fallback` otherwise. Called before reporting a broken length field or
// header text, because a wrong kind of file explains those better.
Status ForeignFormatOr(Status fallback, std::string_view leading_bytes,
                       std::string_view display_name) {
  std::string description = DescribeForeignFormat(leading_bytes);
  if (description.empty()) return fallback;
  return Corruption(ErrorId::kNotSafetensors,
                    Prefix(display_name) + "not a safetensors file: it looks like " + description);
}

Status CheckLeadingBytes(std::string_view leading_bytes, uint64_t file_size,
                         std::string_view display_name) {
  if (leading_bytes.size() > file_size) {
    return InvalidArgument(ErrorId::kInternal, Prefix(display_name) + "caller passed " +
                                                   std::to_string(leading_bytes.size()) +
                                                   " leading bytes for a file of " +
                                                   std::to_string(file_size) + " bytes");
  }
  if (file_size == 0) {
    return Corruption(ErrorId::kFileEmpty, Prefix(display_name) +
                                               "the file is empty (0 bytes); a safetensors file "
                                               "starts with an 8-byte header length");
  }
  if (file_size < kLengthFieldBytes) {
    Status too_short = Corruption(
        ErrorId::kFileTooShort,
        Prefix(display_name) + "the file is " + std::to_string(file_size) +
            " bytes, too short for the 8-byte header length a safetensors file starts with");
    return ForeignFormatOr(too_short, leading_bytes, display_name);
  }
  if (leading_bytes.size() < kLengthFieldBytes) {
    return InvalidArgument(ErrorId::kInternal,
                           Prefix(display_name) + "caller passed " +
                               std::to_string(leading_bytes.size()) +
                               " leading bytes, fewer than the 8-byte header length");
  }
  return Status::Ok();
}

// Checks the header length N against zero, the cap and the file size, in
// that order, so 8 + N cannot overflow when it is computed.
Result<uint64_t> CheckHeaderLength(std::string_view leading_bytes, uint64_t file_size,
                                   std::string_view display_name, const ReaderLimits& limits) {
  uint64_t length = DecodeHeaderLength(leading_bytes);
  std::string length_text = std::to_string(length);

  if (length == 0) {
    Status zero =
        Corruption(ErrorId::kHeaderLengthZero, Prefix(display_name) +
                                                   "header length is 0; a safetensors header "
                                                   "is a JSON object of at least 2 bytes");
    return ForeignFormatOr(zero, leading_bytes, display_name);
  }
  if (length > limits.max_header_bytes) {
    Status too_large = OutOfRange(
        ErrorId::kHeaderTooLarge,
        Prefix(display_name) + "header length " + length_text + " bytes is over the limit of " +
            std::to_string(limits.max_header_bytes) + " bytes (ReaderLimits::max_header_bytes)");
    return ForeignFormatOr(too_large, leading_bytes, display_name);
  }
  if (length > file_size - kLengthFieldBytes) {
    Status past_end = Corruption(ErrorId::kHeaderPastEnd,
                                 Prefix(display_name) + "header length " + length_text +
                                     " bytes runs past the end of the file: 8 + " + length_text +
                                     " > file size " + std::to_string(file_size) +
                                     " bytes; the file may be truncated");
    return ForeignFormatOr(past_end, leading_bytes, display_name);
  }
  if (leading_bytes.size() < kLengthFieldBytes + length) {
    return InvalidArgument(ErrorId::kInternal, Prefix(display_name) + "caller passed " +
                                                   std::to_string(leading_bytes.size()) +
                                                   " leading bytes, fewer than the 8 + " +
                                                   length_text + " bytes of the header");
  }
  return length;
}

Status CheckNoByteOrderMark(std::string_view text, std::string_view display_name) {
  if (!internal::StartsWithByteOrderMark(text)) return Status::Ok();
  return Corruption(ErrorId::kHeaderNotJson,
                    Prefix(display_name) +
                        "header starts with a UTF-8 byte order mark (bytes ef bb bf at file "
                        "offset 8): the writer added a BOM, which the safetensors format does "
                        "not allow; write the header again without it");
}

// Names the first byte when it cannot begin any JSON value, which the JSON
// parser would only report as a structural error.
Status CheckFirstByte(std::string_view text, size_t first, std::string_view display_name) {
  if (first == text.size()) {
    return Corruption(ErrorId::kHeaderNotJson,
                      Prefix(display_name) + "header is not valid JSON: it contains only " +
                          "whitespace, but it must contain a JSON object");
  }
  if (internal::CanStartJsonValue(text[first])) return Status::Ok();
  return Corruption(ErrorId::kHeaderNotJson,
                    Prefix(display_name) + "header is not valid JSON: byte " +
                        HexByte(text[first]) + " at header offset " + std::to_string(first) +
                        " cannot begin a JSON value; a header starts with '{', after optional " +
                        "spaces, tabs, CR or LF");
}

// Checks the header text before the JSON parser reads it and returns the
// length of the prefix that contains the top-level value.
Result<size_t> CheckHeaderText(std::string_view text, std::string_view leading_bytes,
                               std::string_view display_name, const ReaderLimits& limits) {
  size_t first = internal::SkipJsonWhitespace(text);
  if (first == text.size() || text[first] != '{') {
    SAFECKPT_RETURN_IF_ERROR(ForeignFormatOr(Status::Ok(), leading_bytes, display_name));
  }
  SAFECKPT_RETURN_IF_ERROR(CheckNoByteOrderMark(text, display_name));

  if (std::optional<size_t> invalid = internal::FindInvalidUtf8(text)) {
    return Corruption(ErrorId::kHeaderNotUtf8, Prefix(display_name) +
                                                   "header is not valid UTF-8: byte " +
                                                   HexByte(text[*invalid]) + " at header offset " +
                                                   std::to_string(*invalid) + " (file offset " +
                                                   std::to_string(kLengthFieldBytes + *invalid) +
                                                   ") does not start or continue a valid sequence");
  }
  SAFECKPT_RETURN_IF_ERROR(CheckFirstByte(text, first, display_name));

  internal::JsonNesting nesting = internal::ScanJsonNesting(text, limits.max_json_depth);
  if (nesting.too_deep_at) {
    return OutOfRange(ErrorId::kHeaderTooDeep,
                      Prefix(display_name) + "header JSON nests deeper than the limit of " +
                          std::to_string(limits.max_json_depth) + " levels (at header offset " +
                          std::to_string(*nesting.too_deep_at) + "; ReaderLimits::max_json_depth)");
  }
  return nesting.value_end;
}

Result<element> ParseJson(simdjson::dom::parser& parser, std::string_view json,
                          std::string_view display_name, const ReaderLimits& limits) {
  // The nesting scan already bounded the depth. The parser's own cap only
  // has to be at least as large, and the text length bounds it too.
  size_t max_depth = std::min<uint64_t>(limits.max_json_depth, json.size()) + 1;
  element root;
  simdjson::error_code error = parser.allocate(json.size(), max_depth);
  if (error == simdjson::SUCCESS) error = parser.parse(json.data(), json.size()).get(root);
  if (error != simdjson::SUCCESS) {
    // NOTE: simdjson 3.0.1 rejects the whole document for an integer that
    // does not fit in 64 bits, so such a shape or offset is reported here
    // and not as kShapeInvalid or kOffsetsInvalid.
    std::string hint = error == simdjson::NUMBER_ERROR
                           ? " (a number is malformed or does not fit in 64 bits)"
                           : "";
    return Corruption(ErrorId::kHeaderNotJson, Prefix(display_name) + "header is not valid " +
                                                   "JSON: " + simdjson::error_message(error) +
                                                   hint);
  }
  return root;
}

Status CheckNoTrailingBytes(std::string_view text, size_t json_end, std::string_view display_name) {
  size_t trailing = internal::SkipJsonWhitespace(text, json_end);
  if (trailing == text.size()) return Status::Ok();
  return Corruption(ErrorId::kHeaderTrailingBytes,
                    Prefix(display_name) + "header has bytes after its JSON object, at header " +
                        "offset " + std::to_string(trailing) + ": " +
                        internal::Quote(text.substr(trailing), 40) +
                        "; only whitespace may follow the object");
}

Status ParseMetadata(element value, std::string_view display_name, SafetensorsHeader& header) {
  if (value.type() != element_type::OBJECT) {
    return Corruption(ErrorId::kMetadataNotObject,
                      Prefix(display_name) + "__metadata__ is " +
                          std::string(internal::DescribeJsonType(value)) +
                          ", expected an object whose values are strings");
  }

  // Keys are compared after JSON unescaping, so "a" and "\u0061" are the
  // same key. The views point into the parser's string buffer.
  std::unordered_set<std::string_view> seen;
  for (simdjson::dom::key_value_pair field : internal::ObjectOf(value)) {
    if (!seen.insert(field.key).second) {
      return Corruption(ErrorId::kDuplicateName,
                        Prefix(display_name) + "__metadata__ key " + internal::Quote(field.key) +
                            " appears twice; each metadata key must be unique");
    }
    if (field.value.type() != element_type::STRING) {
      return Corruption(ErrorId::kMetadataValueNotString,
                        Prefix(display_name) + "__metadata__ key " + internal::Quote(field.key) +
                            " has " + std::string(internal::DescribeJsonType(field.value)) +
                            " value (" + internal::JsonValueText(field.value) +
                            "), expected a string");
    }
    header.metadata.emplace_back(field.key, field.value.get_string().value_unsafe());
  }
  header.has_metadata = true;
  return Status::Ok();
}

// Checks the caps and uniqueness of one top-level key. `seen` contains
// views into the parser's string buffer, valid while the parser lives.
Status CheckKey(std::string_view key, std::unordered_set<std::string_view>& seen,
                uint64_t tensor_count, std::string_view display_name, const ReaderLimits& limits) {
  if (!seen.insert(key).second) {
    return Corruption(ErrorId::kDuplicateName,
                      Prefix(display_name) + (key == kMetadataKey ? "" : "tensor ") +
                          internal::Quote(key) +
                          " appears twice in the header; each name must be unique");
  }
  if (key != kMetadataKey && tensor_count >= limits.max_tensors_per_file) {
    return OutOfRange(ErrorId::kTooManyTensors,
                      Prefix(display_name) + "the header has more tensors than the limit of " +
                          std::to_string(limits.max_tensors_per_file) +
                          " (ReaderLimits::max_tensors_per_file)");
  }
  if (key.size() > limits.max_name_bytes) {
    return OutOfRange(ErrorId::kNameTooLong,
                      Prefix(display_name) + "tensor name " + internal::Quote(key, 60) +
                          " is longer than the limit of " + std::to_string(limits.max_name_bytes) +
                          " bytes (ReaderLimits::max_name_bytes)");
  }
  return Status::Ok();
}

Status ParseEntries(element root, std::string_view display_name, const ReaderLimits& limits,
                    SafetensorsHeader& header) {
  if (root.type() != element_type::OBJECT) {
    return Corruption(ErrorId::kHeaderNotObject,
                      Prefix(display_name) + "header is " +
                          std::string(internal::DescribeJsonType(root)) +
                          ", expected an object mapping tensor names to entries");
  }

  std::unordered_set<std::string_view> seen;
  for (simdjson::dom::key_value_pair field : internal::ObjectOf(root)) {
    SAFECKPT_RETURN_IF_ERROR(
        CheckKey(field.key, seen, header.tensors.size(), display_name, limits));
    if (field.key == kMetadataKey) {
      SAFECKPT_RETURN_IF_ERROR(ParseMetadata(field.value, display_name, header));
      continue;
    }
    SAFECKPT_ASSIGN_OR_RETURN(
        TensorInfo tensor,
        internal::ParseTensorEntry(field.key, field.value, display_name, limits));
    header.tensors.push_back(std::move(tensor));
  }
  return Status::Ok();
}

}  // namespace

Result<SafetensorsHeader> ParseSafetensorsHeader(std::string_view leading_bytes, uint64_t file_size,
                                                 std::string_view display_name,
                                                 const ReaderLimits& limits) {
  SAFECKPT_RETURN_IF_ERROR(CheckLeadingBytes(leading_bytes, file_size, display_name));
  SAFECKPT_ASSIGN_OR_RETURN(uint64_t length,
                            CheckHeaderLength(leading_bytes, file_size, display_name, limits));

  std::string_view text = leading_bytes.substr(kLengthFieldBytes, length);
  SAFECKPT_ASSIGN_OR_RETURN(size_t json_end,
                            CheckHeaderText(text, leading_bytes, display_name, limits));

  simdjson::dom::parser parser;
  SAFECKPT_ASSIGN_OR_RETURN(element root,
                            ParseJson(parser, text.substr(0, json_end), display_name, limits));
  SAFECKPT_RETURN_IF_ERROR(CheckNoTrailingBytes(text, json_end, display_name));

  SafetensorsHeader header;
  header.header_length = length;
  header.file_size = file_size;
  SAFECKPT_RETURN_IF_ERROR(ParseEntries(root, display_name, limits, header));

  uint64_t data_size = file_size - kLengthFieldBytes - length;
  SAFECKPT_RETURN_IF_ERROR(
      internal::SortAndCheckDataLayout(header.tensors, data_size, display_name));
  return header;
}

namespace {

// Reads the length field, then exactly the header when the length is
// usable, so the tensor data of a valid file is never read. When the length
// is unusable it reads at most kForeignProbeBytes for DescribeForeignFormat.
Result<std::string> ReadLeadingBytes(const internal::File& file, uint64_t file_size,
                                     const ReaderLimits& limits) {
  std::string bytes(std::min(file_size, kLengthFieldBytes), '\0');
  SAFECKPT_RETURN_IF_ERROR(file.ReadAt(0, bytes.data(), bytes.size()));
  if (bytes.size() < kLengthFieldBytes) return bytes;

  uint64_t length = DecodeHeaderLength(bytes);
  bool length_usable =
      length > 0 && length <= limits.max_header_bytes && length <= file_size - kLengthFieldBytes;
  uint64_t needed_bytes =
      length_usable ? kLengthFieldBytes + length : std::min(file_size, kForeignProbeBytes);
  if (needed_bytes <= bytes.size()) return bytes;

  uint64_t already_read = bytes.size();
  bytes.resize(needed_bytes);
  SAFECKPT_RETURN_IF_ERROR(
      file.ReadAt(already_read, bytes.data() + already_read, needed_bytes - already_read));
  return bytes;
}

}  // namespace

Result<internal::HeaderOfFile> internal::ReadHeaderOfFile(const std::string& path,
                                                          const ReaderLimits& limits) {
  SAFECKPT_ASSIGN_OR_RETURN(File file, File::OpenForRead(path));
  SAFECKPT_ASSIGN_OR_RETURN(FileIdentity identity, file.Identity());
  SAFECKPT_ASSIGN_OR_RETURN(std::string leading_bytes,
                            ReadLeadingBytes(file, identity.size, limits));
  SAFECKPT_ASSIGN_OR_RETURN(SafetensorsHeader header,
                            ParseSafetensorsHeader(leading_bytes, identity.size, path, limits));
  return HeaderOfFile{std::move(header), identity};
}

Result<SafetensorsHeader> ReadSafetensorsHeader(const std::string& path,
                                                const ReaderLimits& limits) {
  SAFECKPT_ASSIGN_OR_RETURN(internal::HeaderOfFile read, internal::ReadHeaderOfFile(path, limits));
  return std::move(read.header);
}

}  // namespace safeckpt
