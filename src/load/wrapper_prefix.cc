#include "load/wrapper_prefix.h"

#include <algorithm>
#include <unordered_set>

namespace safeckpt::internal {
namespace {

// Returns the wrapper prefix that starts `name` at `position`, or null.
const std::string* PrefixAt(std::string_view name, size_t position,
                            const std::vector<std::string>& wrapper_prefixes) {
  std::string_view rest = name.substr(position);
  for (const std::string& prefix : wrapper_prefixes) {
    // A name that is only the prefix has nothing left to match.
    if (rest.size() > prefix.size() && rest.starts_with(prefix)) return &prefix;
  }
  return nullptr;
}

// Real wrappers nest a few levels (DDP around torch.compile around
// activation checkpointing); deeper chains are not considered, which keeps
// the search linear in the number of names for hostile inputs.
constexpr size_t kMaxWrapperDepth = 8;

// Returns the candidate prefixes of one side: "" and each leading part of
// the chain of wrapper prefixes that every name carries, shortest first, at
// most kMaxWrapperDepth prefixes deep.
std::vector<std::string> CommonChains(const std::vector<std::string_view>& names,
                                      const std::vector<std::string>& wrapper_prefixes) {
  std::vector<std::string> chains = {""};
  if (names.empty()) return chains;

  while (chains.size() <= kMaxWrapperDepth) {
    const std::string& chain = chains.back();
    const std::string* next = PrefixAt(names[0], chain.size(), wrapper_prefixes);
    if (next == nullptr) break;
    bool every_name = std::all_of(names.begin(), names.end(), [&](std::string_view name) {
      std::string_view rest = name.substr(std::min(chain.size(), name.size()));
      return name.starts_with(chain) && rest.size() > next->size() && rest.starts_with(*next);
    });
    if (!every_name) break;
    chains.push_back(chain + *next);
  }
  return chains;
}

size_t CountMatches(const std::vector<std::string_view>& checkpoint_names, size_t checkpoint_strip,
                    const std::vector<std::string_view>& model_names, size_t model_strip) {
  std::unordered_set<std::string_view> checkpoint_keys;
  for (std::string_view name : checkpoint_names) checkpoint_keys.insert(name.substr(checkpoint_strip));
  size_t matches = 0;
  for (std::string_view name : model_names) matches += checkpoint_keys.count(name.substr(model_strip));
  return matches;
}

}  // namespace

PrefixChoice ChooseWrapperPrefixes(const std::vector<std::string_view>& checkpoint_names,
                                   const std::vector<std::string_view>& model_names,
                                   const std::vector<std::string>& wrapper_prefixes) {
  std::vector<std::string> checkpoint_chains = CommonChains(checkpoint_names, wrapper_prefixes);
  std::vector<std::string> model_chains = CommonChains(model_names, wrapper_prefixes);

  PrefixChoice best;
  size_t best_matches = CountMatches(checkpoint_names, 0, model_names, 0);
  size_t best_stripped = 0;
  for (const std::string& checkpoint_chain : checkpoint_chains) {
    for (const std::string& model_chain : model_chains) {
      size_t matches = CountMatches(checkpoint_names, checkpoint_chain.size(), model_names,
                                    model_chain.size());
      size_t stripped = checkpoint_chain.size() + model_chain.size();
      bool better = matches > best_matches || (matches == best_matches && stripped < best_stripped);
      if (!better) continue;
      best = {checkpoint_chain, model_chain};
      best_matches = matches;
      best_stripped = stripped;
    }
  }
  return best;
}

std::vector<PartialPrefix> FindPartialPrefixes(std::string_view side,
                                               const std::vector<std::string_view>& names,
                                               const std::vector<std::string>& wrapper_prefixes) {
  std::vector<uint64_t> counts(wrapper_prefixes.size(), 0);
  std::vector<bool> in_chain(wrapper_prefixes.size());
  for (std::string_view name : names) {
    std::fill(in_chain.begin(), in_chain.end(), false);
    size_t position = 0;
    while (const std::string* prefix = PrefixAt(name, position, wrapper_prefixes)) {
      in_chain[static_cast<size_t>(prefix - wrapper_prefixes.data())] = true;
      position += prefix->size();
    }
    for (size_t i = 0; i < counts.size(); ++i) counts[i] += in_chain[i] ? 1 : 0;
  }

  std::vector<PartialPrefix> partial;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] == 0 || counts[i] == names.size()) continue;
    partial.push_back({std::string(side), wrapper_prefixes[i], counts[i], names.size()});
  }
  return partial;
}

}  // namespace safeckpt::internal
