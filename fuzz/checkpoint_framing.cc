#include "checkpoint_framing.h"

namespace safeckpt::fuzz {

FramedCheckpoint SplitFramedInput(std::string_view input) {
  FramedCheckpoint framed;
  if (input.empty()) return framed;
  framed.options = static_cast<uint8_t>(input.front());
  input.remove_prefix(1);

  size_t end = input.find(kPartSeparator);
  framed.index_text = input.substr(0, end);
  if (end == std::string_view::npos) return framed;
  input.remove_prefix(end + kPartSeparator.size());

  // The last shard takes the rest of the input, separators included.
  while (framed.shards.size() + 1 < kMaxShards) {
    end = input.find(kPartSeparator);
    if (end == std::string_view::npos) break;
    framed.shards.push_back(input.substr(0, end));
    input.remove_prefix(end + kPartSeparator.size());
  }
  framed.shards.push_back(input);
  return framed;
}

std::string JoinFramedInput(uint8_t options, std::string_view index_text,
                            const std::vector<std::string>& shards) {
  std::string input(1, static_cast<char>(options));
  input += index_text;
  for (const std::string& shard : shards) {
    input += kPartSeparator;
    input += shard;
  }
  return input;
}

}  // namespace safeckpt::fuzz
