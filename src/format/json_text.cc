#include "format/json_text.h"

namespace safeckpt::internal {

JsonNesting ScanJsonNesting(std::string_view text, uint32_t max_depth) {
  JsonNesting result;
  result.value_end = text.size();
  uint64_t depth = 0;
  bool in_string = false;
  bool escaped = false;

  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }

    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
      if (depth > max_depth) {
        result.too_deep_at = i;
        return result;
      }
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
      if (depth == 0) {
        result.value_end = i + 1;
        return result;
      }
    }
  }
  return result;
}

bool CanStartJsonValue(char c) {
  return c == '{' || c == '[' || c == '"' || c == '-' || (c >= '0' && c <= '9') || c == 't' ||
         c == 'f' || c == 'n';
}

size_t SkipJsonWhitespace(std::string_view text, size_t from) {
  size_t i = from;
  while (i < text.size() && IsJsonWhitespace(text[i])) ++i;
  return i;
}

}  // namespace safeckpt::internal
