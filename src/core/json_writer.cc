#include "core/json_writer.h"

#include <cmath>
#include <cstdio>

#include "core/utf8.h"

namespace safeckpt::internal {

void AppendJsonString(std::string& out, std::string_view text) {
  out.push_back('"');
  size_t i = 0;
  while (i < text.size()) {
    // JSON text is Unicode, so a byte that starts no well-formed UTF-8
    // sequence (a path from a non-UTF-8 file system) becomes U+FFFD.
    size_t length = Utf8SequenceLength(text, i);
    if (length == 0) {
      out += "\\ufffd";
      ++i;
      continue;
    }
    // C1 controls (c2 80 to c2 9f) are escaped too, because some terminals
    // obey them when the JSON is printed.
    if (IsC1Control(text.substr(i, length))) {
      char escaped[8];
      std::snprintf(escaped, sizeof(escaped), "\\u%04x", static_cast<unsigned char>(text[i + 1]));
      out += escaped;
      i += length;
      continue;
    }
    if (length > 1) {
      out.append(text.substr(i, length));
      i += length;
      continue;
    }
    char c = text[i++];
    unsigned char byte = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (byte < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof(escaped), "\\u%04x", byte);
          out += escaped;
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

void JsonWriter::NewLine(size_t depth) {
  out_.push_back('\n');
  out_.append(depth * static_cast<size_t>(indent_), ' ');
}

void JsonWriter::BeforeValue() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (stack_.empty()) return;
  Frame& frame = stack_.back();
  if (!frame.empty) out_.push_back(',');
  if (indent_ > 0 && !frame.inline_container) {
    NewLine(stack_.size());
  } else if (!frame.empty && indent_ > 0) {
    out_.push_back(' ');
  }
  frame.empty = false;
}

void JsonWriter::BeginObject(bool inline_container) {
  BeforeValue();
  out_.push_back('{');
  stack_.push_back({inline_container || (!stack_.empty() && stack_.back().inline_container), true});
}

void JsonWriter::EndObject() {
  Frame frame = stack_.back();
  stack_.pop_back();
  if (indent_ > 0 && !frame.inline_container && !frame.empty) NewLine(stack_.size());
  out_.push_back('}');
}

void JsonWriter::BeginArray(bool inline_container) {
  BeforeValue();
  out_.push_back('[');
  stack_.push_back({inline_container || (!stack_.empty() && stack_.back().inline_container), true});
}

void JsonWriter::EndArray() {
  Frame frame = stack_.back();
  stack_.pop_back();
  if (indent_ > 0 && !frame.inline_container && !frame.empty) NewLine(stack_.size());
  out_.push_back(']');
}

void JsonWriter::Key(std::string_view key) {
  BeforeValue();
  AppendJsonString(out_, key);
  out_ += indent_ > 0 ? ": " : ":";
  after_key_ = true;
}

void JsonWriter::String(std::string_view value) {
  BeforeValue();
  AppendJsonString(out_, value);
}

void JsonWriter::Uint(uint64_t value) {
  BeforeValue();
  out_ += std::to_string(value);
}

void JsonWriter::Int(int64_t value) {
  BeforeValue();
  out_ += std::to_string(value);
}

void JsonWriter::Double(double value) {
  BeforeValue();
  if (!std::isfinite(value)) {
    out_ += "null";
    return;
  }
  char text[32];
  std::snprintf(text, sizeof(text), "%.6g", value);
  out_ += text;
}

void JsonWriter::Bool(bool value) {
  BeforeValue();
  out_ += value ? "true" : "false";
}

void JsonWriter::Null() {
  BeforeValue();
  out_ += "null";
}

void JsonWriter::Raw(std::string_view json) {
  BeforeValue();
  out_.append(json);
}

}  // namespace safeckpt::internal
