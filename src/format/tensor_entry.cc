#include "format/tensor_entry.h"

#include <string>

#include "format/json_dom.h"
#include "format/quote.h"

namespace safeckpt::internal {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

// The fields of a tensor entry, filled in as they are read.
struct EntryFields {
  std::optional<DType> dtype;
  std::optional<Shape> shape;
  std::optional<std::pair<uint64_t, uint64_t>> data_offsets;
};

class TensorEntryParser {
 public:
  TensorEntryParser(std::string_view name, std::string_view display_name,
                    const ReaderLimits& limits)
      : name_(name),
        prefix_(std::string(display_name) + ": tensor " + Quote(name) + ": "),
        limits_(limits) {}

  Result<TensorInfo> Parse(element entry) {
    if (entry.type() != element_type::OBJECT) {
      return Error(ErrorId::kEntryNotObject,
                   "entry is " + std::string(DescribeJsonType(entry)) +
                       ", expected an object with dtype, shape and data_offsets");
    }

    EntryFields fields;
    for (simdjson::dom::key_value_pair field : ObjectOf(entry)) {
      SAFECKPT_RETURN_IF_ERROR(ParseField(field.key, field.value, fields));
    }

    SAFECKPT_RETURN_IF_ERROR(CheckNoFieldMissing(fields));
    return CheckSize(fields);
  }

 private:
  Status Error(ErrorId id, const std::string& detail) const {
    return Corruption(id, prefix_ + detail);
  }

  Status ParseField(std::string_view key, element value, EntryFields& fields) const {
    if (key == "dtype") {
      if (fields.dtype) return FieldGivenTwice(key);
      SAFECKPT_ASSIGN_OR_RETURN(fields.dtype, ParseDTypeField(value));
      return Status::Ok();
    }
    if (key == "shape") {
      if (fields.shape) return FieldGivenTwice(key);
      SAFECKPT_ASSIGN_OR_RETURN(fields.shape, ParseShapeField(value));
      return Status::Ok();
    }
    if (key == "data_offsets") {
      if (fields.data_offsets) return FieldGivenTwice(key);
      SAFECKPT_ASSIGN_OR_RETURN(fields.data_offsets, ParseOffsetsField(value));
      return Status::Ok();
    }
    return Error(ErrorId::kEntryUnknownField,
                 "unknown field " + Quote(key) +
                     "; an entry has exactly the fields dtype, shape and data_offsets");
  }

  Status FieldGivenTwice(std::string_view key) const {
    return Error(ErrorId::kDuplicateName, "field " + Quote(key) + " is given twice");
  }

  Result<DType> ParseDTypeField(element value) const {
    if (value.type() != element_type::STRING) {
      return Error(ErrorId::kEntryWrongType, "dtype is " + std::string(DescribeJsonType(value)) +
                                                 " (" + JsonValueText(value) +
                                                 "), expected a string");
    }
    std::string_view text = value.get_string().value_unsafe();
    std::optional<DType> dtype = ParseDType(text);
    if (!dtype) {
      return Error(ErrorId::kDtypeUnknown,
                   "unknown dtype " + Quote(text) + "; accepted: " + AllDTypeNames());
    }
    return *dtype;
  }

  Result<Shape> ParseShapeField(element value) const {
    if (value.type() != element_type::ARRAY) {
      return Error(ErrorId::kEntryWrongType, "shape is " + std::string(DescribeJsonType(value)) +
                                                 " (" + JsonValueText(value) +
                                                 "), expected an array of integers");
    }
    SAFECKPT_RETURN_IF_ERROR(CheckDimensionCount(ArrayOf(value)));

    Shape shape;
    size_t index = 0;
    for (element dimension : ArrayOf(value)) {
      std::optional<uint64_t> size = NonNegativeInteger(dimension);
      if (!size) {
        // null names its own type, so it is not described twice.
        std::string found = JsonValueText(dimension);
        if (dimension.type() != simdjson::dom::element_type::NULL_VALUE) {
          found += " (" + std::string(DescribeJsonType(dimension)) + ")";
        }
        return Error(ErrorId::kShapeInvalid, "shape dimension " + std::to_string(index) + " is " +
                                                 found + ", expected a non-negative integer");
      }
      shape.push_back(*size);
      ++index;
    }
    return shape;
  }

  Status CheckDimensionCount(simdjson::dom::array dimensions) const {
    // The parser stores the element count, so this costs no pass over the
    // array. The stored count saturates at kMaxStoredCount, and only a
    // count that large needs to be recounted.
    constexpr size_t kMaxStoredCount = 0xffffff;
    size_t count = dimensions.size();
    if (count <= limits_.max_dims) return Status::Ok();
    if (count >= kMaxStoredCount) {
      count = 0;
      for ([[maybe_unused]] element dimension : dimensions) ++count;
    }

    return OutOfRange(ErrorId::kShapeInvalid,
                      prefix_ + "shape has " + std::to_string(count) +
                          " dimensions, over the limit of " + std::to_string(limits_.max_dims) +
                          " (ReaderLimits::max_dims)");
  }

  Result<std::pair<uint64_t, uint64_t>> ParseOffsetsField(element value) const {
    simdjson::dom::array offsets;
    bool two_integers = value.get_array().get(offsets) == simdjson::SUCCESS &&
                        offsets.size() == 2 && NonNegativeInteger(offsets.at(0).value_unsafe()) &&
                        NonNegativeInteger(offsets.at(1).value_unsafe());
    if (!two_integers) {
      return Error(ErrorId::kOffsetsInvalid, "data_offsets is " + JsonValueText(value) +
                                                 ", expected two non-negative integers "
                                                 "[begin, end]");
    }

    uint64_t begin = *NonNegativeInteger(offsets.at(0).value_unsafe());
    uint64_t end = *NonNegativeInteger(offsets.at(1).value_unsafe());
    if (begin > end) {
      return Error(ErrorId::kOffsetsReversed, "data_offsets [" + std::to_string(begin) + ", " +
                                                  std::to_string(end) + "]: end before begin");
    }
    return std::make_pair(begin, end);
  }

  Status CheckNoFieldMissing(const EntryFields& fields) const {
    const char* missing = !fields.dtype          ? "dtype"
                          : !fields.shape        ? "shape"
                          : !fields.data_offsets ? "data_offsets"
                                                 : nullptr;
    if (missing == nullptr) return Status::Ok();
    return Error(ErrorId::kEntryMissingField,
                 std::string("missing field '") + missing +
                     "'; an entry has exactly the fields dtype, shape and data_offsets");
  }

  // Computes the byte size that dtype and shape imply and compares it with
  // the byte range, so no later reader trusts a range of the wrong length.
  Result<TensorInfo> CheckSize(EntryFields& fields) const {
    DType dtype = *fields.dtype;
    const Shape& shape = *fields.shape;
    std::string described = std::string(DTypeName(dtype)) + " " + FormatShapeForMessage(shape);

    std::optional<uint64_t> count = ElementCount(shape);
    uint64_t bits = 0;
    if (!count || __builtin_mul_overflow(*count, uint64_t{DTypeBits(dtype)}, &bits)) {
      return Error(ErrorId::kShapeOverflow,
                   described + ": the element count or bit size does not fit in 64 bits");
    }
    if (bits % 8 != 0) {
      return Error(ErrorId::kBitsNotByteAligned,
                   described + " has " + std::to_string(*count) +
                       (*count == 1 ? " element of " : " elements of ") +
                       std::to_string(DTypeBits(dtype)) + " bits = " + std::to_string(bits) +
                       " bits, not a whole number of bytes");
    }

    auto [begin, end] = *fields.data_offsets;
    uint64_t expected_bytes = bits / 8;
    if (end - begin != expected_bytes) {
      return Error(ErrorId::kSizeMismatch,
                   "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                       "] span " + std::to_string(end - begin) + " bytes, but " + described +
                       " needs " + std::to_string(expected_bytes) + " bytes");
    }

    TensorInfo info;
    info.name = std::string(name_);
    info.dtype = dtype;
    info.shape = std::move(*fields.shape);
    info.data_begin = begin;
    info.data_end = end;
    return info;
  }

  std::string_view name_;
  std::string prefix_;
  const ReaderLimits& limits_;
};

}  // namespace

Result<TensorInfo> ParseTensorEntry(std::string_view name, element entry,
                                    std::string_view display_name, const ReaderLimits& limits) {
  return TensorEntryParser(name, display_name, limits).Parse(entry);
}

}  // namespace safeckpt::internal
