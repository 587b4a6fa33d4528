// Key rules: how checkpoint names become model names.
//
// Renames are tried in order and the first rule whose pattern matches
// anywhere in a name is applied: every non-overlapping match is replaced,
// with \1..\9 back-references as in Python's re.sub, and no later rule runs.
// Patterns are RE2 syntax, which matches in linear time.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "safeckpt/status.h"

namespace safeckpt {

struct RenameRule {
  std::string pattern;
  std::string replacement;
};

// Wrapper prefixes that torch wrappers add: torch.compile, DDP, activation
// checkpointing. They may nest.
inline const std::vector<std::string>& DefaultWrapperPrefixes() {
  static const std::vector<std::string> prefixes = {"_orig_mod.", "module.",
                                                    "_checkpoint_wrapped_module."};
  return prefixes;
}

// Matches names whose last component is _extra_state.
inline constexpr std::string_view kDefaultBookkeepingPattern = R"((^|\.)_extra_state$)";

struct KeyRules {
  std::vector<RenameRule> renames;

  // Patterns (RE2, partial match) marking bookkeeping entries, in addition to
  // kDefaultBookkeepingPattern, which always applies.
  std::vector<std::string> bookkeeping_patterns;

  // Prefixes considered for wrapper stripping.
  std::vector<std::string> wrapper_prefixes = DefaultWrapperPrefixes();
};

// KeyRules with compiled patterns. Immutable and thread-safe once built.
class CompiledKeyRules {
 public:
  // Compiles every pattern; fails with kRuleInvalid naming the pattern and
  // RE2's message, or a replacement that refers to a missing group.
  static Result<CompiledKeyRules> Compile(const KeyRules& rules);

  CompiledKeyRules(CompiledKeyRules&&) noexcept;
  CompiledKeyRules& operator=(CompiledKeyRules&&) noexcept;
  ~CompiledKeyRules();

  // Applies the first matching rename; returns `name` unchanged when none
  // matches.
  std::string Rename(std::string_view name) const;

  // Returns the index in rules().renames of the rule Rename() would apply to
  // `name`, or -1 when none matches.
  int MatchingRename(std::string_view name) const;

  bool IsBookkeeping(std::string_view name) const;

  const KeyRules& rules() const { return rules_; }

 private:
  CompiledKeyRules();
  struct Compiled;
  KeyRules rules_;
  std::unique_ptr<Compiled> compiled_;
};

}  // namespace safeckpt
