// The framing that turns one fuzzer input into a checkpoint directory.
//
// An input is one options byte, then up to three parts separated by
// kPartSeparator: the index text, the bytes of the first shard and the bytes
// of the second shard. A separator rather than length prefixes keeps the
// parts apart when a mutation grows or shrinks one of them. Separators after
// the third are part of the second shard's bytes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace safeckpt::fuzz {

inline constexpr std::string_view kPartSeparator = "\n@@safeckpt-fuzz-part@@\n";

// The shard file names, in the order of the parts. The index seeds map
// tensors to these names.
inline constexpr std::string_view kShardNames[] = {"model-00001-of-00002.safetensors",
                                                   "model-00002-of-00002.safetensors"};
inline constexpr size_t kMaxShards = 2;

// Bits of the options byte. An empty input has every bit clear.
enum FramingOption : uint8_t {
  kWriteIndex = 1 << 0,  // write the index file (otherwise the directory has shards only)
  kOpenFile = 1 << 1,    // open the first shard as a single file instead of the directory
  kLoadData = 1 << 2,    // also load the tensors into memory
  kStrictIndex = 1 << 3, // open with OpenOptions::strict_index
};

// One input, split. The views point into the input.
struct FramedCheckpoint {
  uint8_t options = 0;
  std::string_view index_text;
  std::vector<std::string_view> shards;  // 0 to kMaxShards files

  bool Has(FramingOption option) const { return (options & option) != 0; }
};

// Splits an input. Every input has a meaning: missing parts are absent files.
FramedCheckpoint SplitFramedInput(std::string_view input);

// Joins the parts into an input; the inverse of SplitFramedInput for parts
// that contain no separator. Used to write seeds.
std::string JoinFramedInput(uint8_t options, std::string_view index_text,
                            const std::vector<std::string>& shards);

}  // namespace safeckpt::fuzz
