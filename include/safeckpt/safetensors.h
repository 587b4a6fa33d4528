// Reading and validating one safetensors file header.
//
// A safetensors file is: 8 bytes little-endian header length N, N bytes of
// UTF-8 JSON, then the tensor data. docs/format.md lists every rule this
// reader enforces; each rule has its own ErrorId.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "safeckpt/dtype.h"
#include "safeckpt/status.h"

namespace safeckpt {

// Hard caps applied while parsing untrusted headers. Defaults follow the
// safetensors format's own limit for the header size.
struct ReaderLimits {
  uint64_t max_header_bytes = 100'000'000;
  uint64_t max_tensors_per_file = 1'000'000;
  uint64_t max_name_bytes = 4096;
  uint32_t max_json_depth = 64;
  // Dimensions of one shape. Checked before the shape is copied out of the
  // parsed JSON, so neither the shape nor a message quoting it grows with a
  // hostile dimension count.
  uint64_t max_dims = 64;
};

// One tensor entry of a header. Offsets are relative to the start of the
// data section, as in the file.
struct TensorInfo {
  std::string name;
  DType dtype = DType::kU8;
  Shape shape;
  uint64_t data_begin = 0;
  uint64_t data_end = 0;

  uint64_t nbytes() const { return data_end - data_begin; }
};

using Metadata = std::vector<std::pair<std::string, std::string>>;

// A validated header.
struct SafetensorsHeader {
  uint64_t header_length = 0;   // N
  uint64_t file_size = 0;
  Metadata metadata;            // __metadata__ entries in file order
  bool has_metadata = false;    // true when __metadata__ was present, even if {}
  std::vector<TensorInfo> tensors;  // in data_offsets order

  // Absolute file offset where tensor data begins.
  uint64_t data_start() const { return 8 + header_length; }
};

// Parses and validates a header from the leading bytes of a file.
//
// `leading_bytes` must hold the first min(file_size, 8 + N) bytes of the file
// (callers that do not know N yet may pass more). `display_name` prefixes
// every error message. Pure function: no I/O, safe to call from any thread.
Result<SafetensorsHeader> ParseSafetensorsHeader(std::string_view leading_bytes,
                                                 uint64_t file_size,
                                                 std::string_view display_name,
                                                 const ReaderLimits& limits = {});

// Reads the header of the file at `path` (only the header bytes) and
// validates it. Errors name `path`.
Result<SafetensorsHeader> ReadSafetensorsHeader(const std::string& path,
                                                const ReaderLimits& limits = {});

// Describes what the first bytes of a non-safetensors file look like
// ("a Git LFS pointer", "a zip archive ...", "a GGUF file", "a Python pickle",
// "an HTML page"), or returns an empty string when nothing is recognised.
std::string DescribeForeignFormat(std::string_view leading_bytes);

}  // namespace safeckpt
