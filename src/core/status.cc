#include "safeckpt/status.h"

#include <string>

namespace safeckpt {

std::string_view StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "ok";
    case StatusCode::kInvalidArgument: return "invalid argument";
    case StatusCode::kNotFound: return "not found";
    case StatusCode::kIoError: return "I/O error";
    case StatusCode::kCorruption: return "corruption";
    case StatusCode::kOutOfRange: return "out of range";
    case StatusCode::kUnimplemented: return "unimplemented";
    case StatusCode::kFailedPrecondition: return "failed precondition";
  }
  return "unknown";
}

std::string_view ErrorIdName(ErrorId id) {
  switch (id) {
    case ErrorId::kNone: return "none";
    case ErrorId::kFileEmpty: return "file_empty";
    case ErrorId::kFileTooShort: return "file_too_short";
    case ErrorId::kHeaderLengthZero: return "header_length_zero";
    case ErrorId::kHeaderTooLarge: return "header_too_large";
    case ErrorId::kHeaderPastEnd: return "header_past_end";
    case ErrorId::kNotSafetensors: return "not_safetensors";
    case ErrorId::kHeaderNotUtf8: return "header_not_utf8";
    case ErrorId::kHeaderNotJson: return "header_not_json";
    case ErrorId::kHeaderNotObject: return "header_not_object";
    case ErrorId::kHeaderTrailingBytes: return "header_trailing_bytes";
    case ErrorId::kHeaderTooDeep: return "header_too_deep";
    case ErrorId::kMetadataNotObject: return "metadata_not_object";
    case ErrorId::kMetadataValueNotString: return "metadata_value_not_string";
    case ErrorId::kTooManyTensors: return "too_many_tensors";
    case ErrorId::kNameTooLong: return "name_too_long";
    case ErrorId::kNameEmpty: return "name_empty";
    case ErrorId::kDuplicateName: return "duplicate_name";
    case ErrorId::kEntryNotObject: return "entry_not_object";
    case ErrorId::kEntryMissingField: return "entry_missing_field";
    case ErrorId::kEntryUnknownField: return "entry_unknown_field";
    case ErrorId::kEntryWrongType: return "entry_wrong_type";
    case ErrorId::kDtypeUnknown: return "dtype_unknown";
    case ErrorId::kShapeInvalid: return "shape_invalid";
    case ErrorId::kShapeOverflow: return "shape_overflow";
    case ErrorId::kBitsNotByteAligned: return "bits_not_byte_aligned";
    case ErrorId::kOffsetsInvalid: return "offsets_invalid";
    case ErrorId::kOffsetsReversed: return "offsets_reversed";
    case ErrorId::kSizeMismatch: return "size_mismatch";
    case ErrorId::kDataGap: return "data_gap";
    case ErrorId::kDataOverlap: return "data_overlap";
    case ErrorId::kDataPastEnd: return "data_past_end";
    case ErrorId::kTrailingData: return "trailing_data";
    case ErrorId::kNoSafetensorsFiles: return "no_safetensors_files";
    case ErrorId::kIndexNotJson: return "index_not_json";
    case ErrorId::kIndexInvalid: return "index_invalid";
    case ErrorId::kIndexMissingWeightMap: return "index_missing_weight_map";
    case ErrorId::kIndexShardMissing: return "index_shard_missing";
    case ErrorId::kIndexPathOutside: return "index_path_outside";
    case ErrorId::kIndexTensorNotInShard: return "index_tensor_not_in_shard";
    case ErrorId::kIndexStaleCopy: return "index_stale_copy";
    case ErrorId::kIndexUnlistedTensor: return "index_unlisted_tensor";
    case ErrorId::kIndexTotalSize: return "index_total_size";
    case ErrorId::kTensorInTwoFiles: return "tensor_in_two_files";
    case ErrorId::kIncompleteCheckpoint: return "incomplete_checkpoint";
    case ErrorId::kManifestInvalid: return "manifest_invalid";
    case ErrorId::kRuleInvalid: return "rule_invalid";
    case ErrorId::kDestinationInvalid: return "destination_invalid";
    case ErrorId::kSliceInvalid: return "slice_invalid";
    case ErrorId::kAdapterInvalid: return "adapter_invalid";
    case ErrorId::kUnsupportedConversion: return "unsupported_conversion";
    case ErrorId::kReadFailed: return "read_failed";
    case ErrorId::kShortRead: return "short_read";
    case ErrorId::kWriteFailed: return "write_failed";
    case ErrorId::kDestinationExists: return "destination_exists";
    case ErrorId::kNotRegularFile: return "not_regular_file";
    case ErrorId::kFileChanged: return "file_changed";
    case ErrorId::kInternal: return "internal";
  }
  return "unknown";
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  std::string message(context);
  message += ": ";
  message += message_;
  return Status(code_, id_, std::move(message));
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  std::string text(StatusCodeName(code_));
  text += " (";
  text += ErrorIdName(id_);
  text += "): ";
  text += message_;
  return text;
}

Status InvalidArgument(ErrorId id, std::string message) {
  return Status(StatusCode::kInvalidArgument, id, std::move(message));
}
Status NotFound(ErrorId id, std::string message) {
  return Status(StatusCode::kNotFound, id, std::move(message));
}
Status IoError(ErrorId id, std::string message) {
  return Status(StatusCode::kIoError, id, std::move(message));
}
Status Corruption(ErrorId id, std::string message) {
  return Status(StatusCode::kCorruption, id, std::move(message));
}
Status OutOfRange(ErrorId id, std::string message) {
  return Status(StatusCode::kOutOfRange, id, std::move(message));
}
Status Unimplemented(ErrorId id, std::string message) {
  return Status(StatusCode::kUnimplemented, id, std::move(message));
}
Status FailedPrecondition(ErrorId id, std::string message) {
  return Status(StatusCode::kFailedPrecondition, id, std::move(message));
}

}  // namespace safeckpt
