// Wrapper prefixes: the leading name components that torch wrappers add
// (torch.compile's "_orig_mod.", DDP's "module.", activation checkpointing's
// "_checkpoint_wrapped_module."), possibly nested as in "module._orig_mod.".
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "safeckpt/load_report.h"

namespace safeckpt::internal {

// The prefix to strip from every checkpoint name and from every model name;
// empty means none.
struct PrefixChoice {
  std::string checkpoint;
  std::string model;
};

// Chooses what to strip so that the most model names equal a checkpoint name.
// A side is stripped only of a chain of `wrapper_prefixes` that every one of
// its names carries, and only when that gives strictly more matches than
// stripping nothing. Among choices with equally many matches the one that
// strips the fewest characters wins.
PrefixChoice ChooseWrapperPrefixes(const std::vector<std::string_view>& checkpoint_names,
                                   const std::vector<std::string_view>& model_names,
                                   const std::vector<std::string>& wrapper_prefixes);

// Lists each of `wrapper_prefixes` that appears in the leading chain of
// wrapper prefixes of some, but not all, of `names`. Such a prefix is
// reported and never stripped, because names would then match only in part.
std::vector<PartialPrefix> FindPartialPrefixes(std::string_view side,
                                               const std::vector<std::string_view>& names,
                                               const std::vector<std::string>& wrapper_prefixes);

}  // namespace safeckpt::internal
