#include "save/name_patterns.h"

#include <re2/re2.h>

namespace safeckpt::internal {

PatternList::PatternList() = default;
PatternList::PatternList(PatternList&&) noexcept = default;
PatternList& PatternList::operator=(PatternList&&) noexcept = default;
PatternList::~PatternList() = default;

Result<PatternList> PatternList::Compile(const std::vector<std::string>& patterns,
                                         std::string_view kind) {
  PatternList list;
  RE2::Options options;
  options.set_log_errors(false);
  for (const std::string& pattern : patterns) {
    auto regex = std::make_unique<RE2>(pattern, options);
    if (!regex->ok()) {
      return InvalidArgument(ErrorId::kRuleInvalid,
                             std::string(kind) + " pattern '" + pattern +
                                 "' is not a valid RE2 regular expression: " + regex->error());
    }
    list.patterns_.push_back(std::move(regex));
  }
  return list;
}

int PatternList::FirstMatch(std::string_view name) const {
  re2::StringPiece text(name.data(), name.size());
  for (size_t i = 0; i < patterns_.size(); ++i) {
    if (RE2::PartialMatch(text, *patterns_[i])) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace safeckpt::internal
