#include "format/json_dom.h"

namespace safeckpt::internal {

std::string_view DescribeJsonType(simdjson::dom::element value) {
  switch (value.type()) {
    case simdjson::dom::element_type::OBJECT:
      return "an object";
    case simdjson::dom::element_type::ARRAY:
      return "an array";
    case simdjson::dom::element_type::STRING:
      return "a string";
    case simdjson::dom::element_type::INT64:
    case simdjson::dom::element_type::UINT64:
      return "an integer";
    case simdjson::dom::element_type::DOUBLE:
      return "a number with a fraction or exponent";
    case simdjson::dom::element_type::BOOL:
      return "a boolean";
    case simdjson::dom::element_type::NULL_VALUE:
      return "null";
  }
  return "unknown JSON value";
}

std::string JsonValueText(simdjson::dom::element value, size_t max_bytes) {
  std::string text = simdjson::minify(value);
  if (text.size() > max_bytes) {
    text.resize(max_bytes);
    text += "...";
  }
  return text;
}

simdjson::dom::object ObjectOf(simdjson::dom::element value) {
  simdjson::dom::object object;
  if (value.get_object().get(object) != simdjson::SUCCESS) return {};
  return object;
}

simdjson::dom::array ArrayOf(simdjson::dom::element value) {
  simdjson::dom::array array;
  if (value.get_array().get(array) != simdjson::SUCCESS) return {};
  return array;
}

std::optional<uint64_t> NonNegativeInteger(simdjson::dom::element value) {
  if (value.type() == simdjson::dom::element_type::UINT64) {
    return value.get_uint64().value_unsafe();
  }
  if (value.type() == simdjson::dom::element_type::INT64) {
    int64_t signed_value = value.get_int64().value_unsafe();
    if (signed_value >= 0) return static_cast<uint64_t>(signed_value);
  }
  return std::nullopt;
}

}  // namespace safeckpt::internal
