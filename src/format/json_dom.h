// Helpers for reading simdjson DOM values from untrusted files.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace safeckpt::internal {

// Returns the JSON type of `value` with its article, for messages: "an
// object", "an array", "a string", "an integer", "a number with a fraction
// or exponent", "a boolean" or "null".
std::string_view DescribeJsonType(simdjson::dom::element value);

// Returns `value` as compact JSON text, cut to about `max_bytes` bytes, for
// quoting in messages.
std::string JsonValueText(simdjson::dom::element value, size_t max_bytes = 60);

// Return `value` as an object or array. The caller must have checked its
// type: iterating the result for a value of another type is undefined.
simdjson::dom::object ObjectOf(simdjson::dom::element value);
simdjson::dom::array ArrayOf(simdjson::dom::element value);

// Returns the value of a JSON integer that is zero or positive, or nullopt
// for anything else (negative integers, numbers with a fraction or
// exponent such as 2.0 or 1e3, strings, and so on).
std::optional<uint64_t> NonNegativeInteger(simdjson::dom::element value);

}  // namespace safeckpt::internal
