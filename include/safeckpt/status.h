// Status and Result<T>: how every safeckpt operation reports failure.
//
// No exception crosses the library boundary. A failing call returns a Status
// whose code says which kind of failure it was (the category a caller branches
// on), whose error id names the exact rule that failed (what tests and tools
// match on), and whose message names the file, the tensor and the values:
//
//   shard-2.safetensors: tensor 'model.norm.weight': data_offsets [96, 80]
//   end before begin
//
// Context is prepended as an error travels up with Status::WithContext().
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace safeckpt {

// The category of a failure.
enum class StatusCode : uint8_t {
  kOk = 0,
  kInvalidArgument,     // the caller's request is wrong (bad option, bad manifest)
  kNotFound,            // a file or tensor that must exist does not
  kIoError,             // the operating system reported a failure
  kCorruption,          // a file violates the safetensors or index format
  kOutOfRange,          // a value exceeds a configured cap
  kUnimplemented,       // valid request that safeckpt cannot serve (e.g. a conversion)
  kFailedPrecondition,  // the input is valid but not usable as it is (e.g. incomplete)
};

// The exact rule that failed. Each reader rule has its own id so tests and
// scripts can tell failures apart without parsing messages.
enum class ErrorId : uint16_t {
  kNone = 0,

  // File level.
  kFileEmpty,             // zero-byte file
  kFileTooShort,          // fewer than 8 bytes: no header length
  kHeaderLengthZero,      // header length field is 0
  kHeaderTooLarge,        // header length over the cap
  kHeaderPastEnd,         // 8 + header length beyond the file size
  kNotSafetensors,        // recognised as another format (LFS pointer, zip, GGUF, pickle, HTML)

  // Header text.
  kHeaderNotUtf8,
  kHeaderNotJson,
  kHeaderNotObject,
  kHeaderTrailingBytes,   // non-whitespace after the JSON object
  kHeaderTooDeep,         // JSON nesting over the cap

  // Metadata.
  kMetadataNotObject,
  kMetadataValueNotString,

  // Tensor entries.
  kTooManyTensors,
  kNameTooLong,
  kNameEmpty,
  kDuplicateName,
  kEntryNotObject,
  kEntryMissingField,
  kEntryUnknownField,
  kEntryWrongType,        // dtype not a string, shape/data_offsets not arrays
  kDtypeUnknown,
  kShapeInvalid,          // negative, fractional or non-numeric dimension
  kShapeOverflow,         // element count or bit size overflows 64 bits
  kBitsNotByteAligned,    // element count times bit width not a multiple of 8
  kOffsetsInvalid,        // data_offsets not two non-negative integers
  kOffsetsReversed,       // end before begin
  kSizeMismatch,          // end - begin differs from the size dtype and shape imply
  kDataGap,               // sorted ranges leave bytes unused (or do not start at 0)
  kDataOverlap,           // two ranges share bytes
  kDataPastEnd,           // a range ends beyond the file
  kTrailingData,          // bytes after the last tensor

  // Checkpoints made of several files.
  kNoSafetensorsFiles,    // directory without index and without *.safetensors
  kIndexNotJson,
  kIndexInvalid,          // wrong structure (weight_map not an object, value not a string...)
  kIndexMissingWeightMap,
  kIndexShardMissing,     // a file named in weight_map does not exist
  kIndexPathOutside,      // a file name leaves the checkpoint directory
  kIndexTensorNotInShard, // weight_map names a file whose header lacks the tensor
  kIndexStaleCopy,        // strict index: a shard contains a tensor the index maps elsewhere
  kIndexUnlistedTensor,   // strict index: a shard contains a tensor the index does not list
  kIndexTotalSize,        // strict index: metadata.total_size wrong or not a byte count
  kTensorInTwoFiles,      // directory without index: one name in two files
  kIncompleteCheckpoint,  // a writer's in-progress marker is present

  // Model side.
  kManifestInvalid,
  kRuleInvalid,           // a rename or bookkeeping pattern does not compile
  kDestinationInvalid,    // destination memory missing or of the wrong size
  kSliceInvalid,          // a hyperslab or sharding that does not fit its tensor or rank
  kAdapterInvalid,        // an unknown adapter, or a checkpoint an adapter cannot map

  // Loading.
  kUnsupportedConversion,
  kReadFailed,
  kShortRead,
  kWriteFailed,

  // Saving.
  kDestinationExists,     // a checkpoint is already where a writer would write

  // Files.
  kNotRegularFile,        // a FIFO, device, socket or directory where a file is needed
  kFileChanged,           // a checkpoint file was replaced or modified after Open()

  // Anything else.
  kInternal,
};

// Returns the stable snake_case name of an id, e.g. "header_too_large".
std::string_view ErrorIdName(ErrorId id);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, ErrorId id, std::string message)
      : code_(code), id_(id), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  ErrorId id() const { return id_; }
  const std::string& message() const { return message_; }

  // Returns a copy whose message is "<context>: <message>".
  Status WithContext(std::string_view context) const;

  // "corruption (data_gap): <message>", for logs and tests.
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  ErrorId id_ = ErrorId::kNone;
  std::string message_;
};

std::string_view StatusCodeName(StatusCode code);

// Shorthands for the common categories.
Status InvalidArgument(ErrorId id, std::string message);
Status NotFound(ErrorId id, std::string message);
Status IoError(ErrorId id, std::string message);
Status Corruption(ErrorId id, std::string message);
Status OutOfRange(ErrorId id, std::string message);
Status Unimplemented(ErrorId id, std::string message);
Status FailedPrecondition(ErrorId id, std::string message);

// Either a value or a non-OK Status. Accessing value() of an error is a bug
// and aborts.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : state_(std::move(status)) {  // NOLINT
    if (std::get<Status>(state_).ok()) {
      state_ = Status(StatusCode::kInvalidArgument, ErrorId::kInternal,
                      "Result constructed from an OK status");
    }
  }

  bool ok() const { return std::holds_alternative<T>(state_); }

  // Returns the error, or an OK status when a value is held.
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(state_); }

  T& value() & { return std::get<T>(state_); }
  const T& value() const& { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }

  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> state_;
};

}  // namespace safeckpt

// Returns early from the enclosing function when `expr` yields an error.
#define SAFECKPT_RETURN_IF_ERROR(expr)          \
  do {                                          \
    ::safeckpt::Status safeckpt_status_ = (expr); \
    if (!safeckpt_status_.ok()) return safeckpt_status_; \
  } while (0)

#define SAFECKPT_CONCAT_INNER(a, b) a##b
#define SAFECKPT_CONCAT(a, b) SAFECKPT_CONCAT_INNER(a, b)

// Declares `lhs` from a Result, or returns its error.
#define SAFECKPT_ASSIGN_OR_RETURN(lhs, expr) \
  SAFECKPT_ASSIGN_OR_RETURN_IMPL(SAFECKPT_CONCAT(safeckpt_result_, __LINE__), lhs, expr)
#define SAFECKPT_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  if (!tmp.ok()) return tmp.status();                  \
  lhs = std::move(tmp).value()
