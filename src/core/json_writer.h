// A small streaming JSON writer for reports, manifests and headers.
// simdjson (the parser the project uses) has no writer in Debian 12's 3.0.1.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace safeckpt::internal {

// Appends `text` as a JSON string literal (with quotes) to `out`, escaping
// quotes, backslashes and control characters. Bytes >= 0x80 are copied as
// they are, so valid UTF-8 stays valid.
void AppendJsonString(std::string& out, std::string_view text);

// Builds JSON text. Calls must nest correctly; the writer inserts commas.
// With indent > 0 each member of an object or array starts a new line,
// except inside containers begun with inline_container = true.
class JsonWriter {
 public:
  explicit JsonWriter(int indent = 0) : indent_(indent) {}

  void BeginObject(bool inline_container = false);
  void EndObject();
  void BeginArray(bool inline_container = false);
  void EndArray();

  // Writes a member name inside an object; the next value belongs to it.
  void Key(std::string_view key);

  void String(std::string_view value);
  void Uint(uint64_t value);
  void Int(int64_t value);
  void Double(double value);
  void Bool(bool value);
  void Null();

  // Writes pre-formatted JSON as a value.
  void Raw(std::string_view json);

  const std::string& str() const { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  struct Frame {
    bool inline_container;
    bool empty;
  };
  void BeforeValue();
  void NewLine(size_t depth);

  int indent_;
  std::string out_;
  std::vector<Frame> stack_;
  bool after_key_ = false;
};

}  // namespace safeckpt::internal
