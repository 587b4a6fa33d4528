// Recognises files that are not safetensors but often stand in for one: a
// Git LFS pointer checked out without `git lfs pull`, a torch.save file, a
// llama.cpp GGUF file, or an HTML error page saved by a failed download.
#include <algorithm>
#include <array>
#include <cctype>
#include <string>

#include "format/json_text.h"
#include "safeckpt/safetensors.h"

namespace safeckpt {
namespace {

bool StartsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

bool StartsWithIgnoringCase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  return std::equal(prefix.begin(), prefix.end(), text.begin(), [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) ==
           std::tolower(static_cast<unsigned char>(b));
  });
}

// True when the first 8 bytes (the header length of a safetensors file)
// contain no NUL. Any header length below 2^56 has a zero top byte, so text
// formats are only reported for bytes that cannot be a plausible length.
bool LengthFieldIsText(std::string_view bytes) {
  std::string_view length_field = bytes.substr(0, 8);
  return length_field.size() == 8 && length_field.find('\0') == std::string_view::npos;
}

// Pickle protocols 2 to 5 start with PROTO (0x80) and the version. The
// next byte must be an opcode that begins a pickle in practice (FRAME,
// LONG1 for torch's magic number, EMPTY_DICT, EMPTY_LIST, MARK, GLOBAL,
// SHORT_BINUNICODE), which rules out most header lengths that happen to
// start with 0x80 0x02.
bool IsPickle(std::string_view bytes) {
  static constexpr std::array<unsigned char, 7> kFirstOpcodes = {0x95, 0x8a, '}', ']',
                                                                 '(',  'c',  0x8c};
  if (bytes.size() < 3 || static_cast<unsigned char>(bytes[0]) != 0x80) return false;
  unsigned char protocol = static_cast<unsigned char>(bytes[1]);
  unsigned char opcode = static_cast<unsigned char>(bytes[2]);
  return protocol >= 2 && protocol <= 5 &&
         std::find(kFirstOpcodes.begin(), kFirstOpcodes.end(), opcode) != kFirstOpcodes.end();
}

std::string DescribeText(std::string_view bytes) {
  if (!LengthFieldIsText(bytes)) return "";
  if (StartsWith(bytes, "version https://git-lfs")) {
    return "a Git LFS pointer, not the file itself; run `git lfs pull` in its repository "
           "to fetch the real file";
  }

  std::string_view text = bytes.substr(internal::SkipJsonWhitespace(bytes));
  if (StartsWithIgnoringCase(text, "<!doctype html") || StartsWithIgnoringCase(text, "<html")) {
    return "an HTML page, as saved when a download returns an error page; download the file "
           "again and check the URL and access rights";
  }
  if (StartsWith(text, "{") &&
      StartsWith(text.substr(internal::SkipJsonWhitespace(text, 1)), "\"")) {
    return "a JSON text file; to open a sharded checkpoint, pass the directory that contains "
           "model.safetensors.index.json";
  }
  return "";
}

}  // namespace

std::string DescribeForeignFormat(std::string_view leading_bytes) {
  if (StartsWith(leading_bytes, std::string_view("PK\x03\x04", 4))) {
    return "a zip archive, which is what torch.save writes; load it with torch.load or "
           "convert it to safetensors";
  }
  if (StartsWith(leading_bytes, "GGUF")) {
    return "a GGUF file (the llama.cpp format); use a GGUF reader or convert it to safetensors";
  }
  if (IsPickle(leading_bytes)) {
    return "a Python pickle (protocol " + std::to_string(static_cast<int>(leading_bytes[1])) +
           "), as older torch.save versions write; load it with torch.load or convert it "
           "to safetensors";
  }
  return DescribeText(leading_bytes);
}

}  // namespace safeckpt
