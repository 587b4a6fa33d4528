// A list of RE2 patterns matched against tensor names, as --exclude and
// --dtype-for give them.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "safeckpt/status.h"

namespace re2 {
class RE2;
}

namespace safeckpt::internal {

// Compiled patterns. Immutable and thread-safe once built.
class PatternList {
 public:
  // Compiles every pattern; fails with kRuleInvalid naming the option
  // (`kind`, such as "--exclude"), the pattern and RE2's message.
  static Result<PatternList> Compile(const std::vector<std::string>& patterns, std::string_view kind);

  PatternList(PatternList&&) noexcept;
  PatternList& operator=(PatternList&&) noexcept;
  ~PatternList();

  // Returns the index of the first pattern that matches anywhere in `name`,
  // or -1 when none does.
  int FirstMatch(std::string_view name) const;

 private:
  PatternList();
  std::vector<std::unique_ptr<re2::RE2>> patterns_;
};

}  // namespace safeckpt::internal
