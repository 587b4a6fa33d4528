#include "safeckpt/key_rules.h"

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <fmt/format.h>
#include <re2/re2.h>

namespace safeckpt {

struct CompiledKeyRules::Compiled {
  std::vector<std::unique_ptr<RE2>> rename_patterns;
  // Replacements translated to RE2's rewrite syntax, one per rename pattern.
  std::vector<std::string> rewrites;
  // kDefaultBookkeepingPattern first, then KeyRules::bookkeeping_patterns.
  std::vector<std::unique_ptr<RE2>> bookkeeping_patterns;
};

namespace {

// RE2 rewrite strings name groups with a single digit.
constexpr int kMaxRewriteGroup = 9;

Status RuleInvalid(std::string message) {
  return InvalidArgument(ErrorId::kRuleInvalid, std::move(message));
}

Result<std::unique_ptr<RE2>> CompilePattern(std::string_view pattern, std::string_view kind) {
  // An empty pattern matches every name (at its start), which is never what
  // a rule means and makes every tensor both missing and unexpected.
  if (pattern.empty()) {
    return RuleInvalid(fmt::format("{} pattern is empty; give a regular expression that matches "
                                   "part of the names to change",
                                   kind));
  }
  RE2::Options options;
  options.set_log_errors(false);
  auto regex = std::make_unique<RE2>(re2::StringPiece(pattern.data(), pattern.size()), options);
  if (!regex->ok()) {
    return RuleInvalid(
        fmt::format("{} pattern '{}' is not a valid RE2 regular expression: {}", kind, pattern,
                    regex->error()));
  }
  return regex;
}

bool IsAsciiDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAsciiLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Appends a reference to group `group` in RE2 rewrite syntax.
Status AppendGroupReference(std::string& rewrite, int group, std::string_view replacement) {
  if (group > kMaxRewriteGroup) {
    return RuleInvalid(fmt::format(
        "replacement '{}' refers to group {}, but RE2 rewrites support only groups 0 to {}",
        replacement, group, kMaxRewriteGroup));
  }
  rewrite += '\\';
  rewrite += static_cast<char>('0' + group);
  return Status::Ok();
}

// Resolves the NAME of a Python "\g<NAME>" reference, which is a group number
// or the name of a named group.
Result<int> ResolveGroupName(std::string_view name, const RE2& regex,
                             std::string_view replacement) {
  if (!name.empty() && name.size() <= 3 &&
      name.find_first_not_of("0123456789") == std::string_view::npos) {
    return std::stoi(std::string(name));
  }
  const auto& named_groups = regex.NamedCapturingGroups();
  auto it = named_groups.find(std::string(name));
  if (it == named_groups.end()) {
    return RuleInvalid(fmt::format("replacement '{}' refers to group '\\g<{}>', which the pattern "
                                   "'{}' does not define",
                                   replacement, name, regex.pattern()));
  }
  return it->second;
}

// Python's single-letter escapes in a replacement template.
std::optional<char> PythonLetterEscape(char letter) {
  switch (letter) {
    case 'a': return '\a';
    case 'b': return '\b';
    case 'f': return '\f';
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    case 'v': return '\v';
    default: return std::nullopt;
  }
}

// Translates one backslash sequence starting at replacement[*position] (the
// backslash) and advances *position past it.
Status TranslateEscape(std::string_view replacement, size_t* position, const RE2& regex,
                       std::string& rewrite) {
  size_t next = *position + 1;
  if (next == replacement.size()) {
    return RuleInvalid(fmt::format("replacement '{}' ends with a lone backslash", replacement));
  }
  char c = replacement[next];

  if (c == 'g') {
    size_t open = next + 1;
    size_t close = replacement.find('>', open);
    if (open >= replacement.size() || replacement[open] != '<' || close == std::string_view::npos) {
      return RuleInvalid(
          fmt::format("replacement '{}': '\\g' must be followed by <NUMBER> or <NAME>", replacement));
    }
    SAFECKPT_ASSIGN_OR_RETURN(
        int group, ResolveGroupName(replacement.substr(open + 1, close - open - 1), regex,
                                    replacement));
    *position = close + 1;
    return AppendGroupReference(rewrite, group, replacement);
  }

  if (IsAsciiDigit(c)) {
    // Python reads \0 and three octal digits as a character code.
    if (c == '0') {
      return RuleInvalid(fmt::format(
          "replacement '{}': octal escapes such as '\\0' are not supported", replacement));
    }
    size_t end = next + 1;
    if (end < replacement.size() && IsAsciiDigit(replacement[end])) ++end;
    *position = end;
    return AppendGroupReference(rewrite, std::stoi(std::string(replacement.substr(next, end - next))),
                                replacement);
  }

  *position = next + 1;
  if (c == '\\') {
    rewrite += "\\\\";
    return Status::Ok();
  }
  if (IsAsciiLetter(c)) {
    std::optional<char> escaped = PythonLetterEscape(c);
    if (!escaped) {
      return RuleInvalid(fmt::format("replacement '{}': invalid escape '\\{}'", replacement, c));
    }
    rewrite += *escaped;
    return Status::Ok();
  }

  // Python keeps an unknown non-letter escape such as "\." as both characters.
  rewrite += "\\\\";
  rewrite += c;
  return Status::Ok();
}

// Translates a replacement in Python's re.sub syntax (\1, \g<1>, \g<name>)
// into RE2's rewrite syntax (\1, literal backslashes doubled) and checks that
// every group it refers to exists in `regex`.
Result<std::string> TranslateReplacement(std::string_view replacement, const RE2& regex) {
  std::string rewrite;
  size_t position = 0;
  while (position < replacement.size()) {
    if (replacement[position] != '\\') {
      rewrite += replacement[position];
      ++position;
      continue;
    }
    SAFECKPT_RETURN_IF_ERROR(TranslateEscape(replacement, &position, regex, rewrite));
  }

  std::string error;
  if (!regex.CheckRewriteString(rewrite, &error)) {
    return RuleInvalid(fmt::format("replacement '{}' does not fit rename pattern '{}': {}",
                                   replacement, regex.pattern(), error));
  }
  return rewrite;
}

Status CheckWrapperPrefix(std::string_view prefix) {
  if (prefix.size() < 2 || prefix.back() != '.') {
    return RuleInvalid(fmt::format(
        "wrapper prefix '{}' must be one or more name components followed by '.', e.g. 'module.'",
        prefix));
  }
  return Status::Ok();
}

}  // namespace

CompiledKeyRules::CompiledKeyRules() : compiled_(std::make_unique<Compiled>()) {}
CompiledKeyRules::CompiledKeyRules(CompiledKeyRules&&) noexcept = default;
CompiledKeyRules& CompiledKeyRules::operator=(CompiledKeyRules&&) noexcept = default;
CompiledKeyRules::~CompiledKeyRules() = default;

Result<CompiledKeyRules> CompiledKeyRules::Compile(const KeyRules& rules) {
  CompiledKeyRules result;
  result.rules_ = rules;
  Compiled& compiled = *result.compiled_;

  for (const RenameRule& rule : rules.renames) {
    SAFECKPT_ASSIGN_OR_RETURN(std::unique_ptr<RE2> regex, CompilePattern(rule.pattern, "rename"));
    SAFECKPT_ASSIGN_OR_RETURN(std::string rewrite, TranslateReplacement(rule.replacement, *regex));
    compiled.rename_patterns.push_back(std::move(regex));
    compiled.rewrites.push_back(std::move(rewrite));
  }

  SAFECKPT_ASSIGN_OR_RETURN(std::unique_ptr<RE2> default_pattern,
                            CompilePattern(kDefaultBookkeepingPattern, "bookkeeping"));
  compiled.bookkeeping_patterns.push_back(std::move(default_pattern));
  for (const std::string& pattern : rules.bookkeeping_patterns) {
    SAFECKPT_ASSIGN_OR_RETURN(std::unique_ptr<RE2> regex, CompilePattern(pattern, "bookkeeping"));
    compiled.bookkeeping_patterns.push_back(std::move(regex));
  }

  for (const std::string& prefix : rules.wrapper_prefixes) {
    SAFECKPT_RETURN_IF_ERROR(CheckWrapperPrefix(prefix));
  }
  return result;
}

std::string CompiledKeyRules::Rename(std::string_view name) const {
  std::string renamed(name);
  for (size_t i = 0; i < compiled_->rename_patterns.size(); ++i) {
    // GlobalReplace leaves `renamed` untouched when the pattern does not match.
    if (RE2::GlobalReplace(&renamed, *compiled_->rename_patterns[i], compiled_->rewrites[i]) > 0) {
      return renamed;
    }
  }
  return renamed;
}

int CompiledKeyRules::MatchingRename(std::string_view name) const {
  re2::StringPiece text(name.data(), name.size());
  for (size_t i = 0; i < compiled_->rename_patterns.size(); ++i) {
    if (RE2::PartialMatch(text, *compiled_->rename_patterns[i])) return static_cast<int>(i);
  }
  return -1;
}

bool CompiledKeyRules::IsBookkeeping(std::string_view name) const {
  re2::StringPiece text(name.data(), name.size());
  for (const auto& pattern : compiled_->bookkeeping_patterns) {
    if (RE2::PartialMatch(text, *pattern)) return true;
  }
  return false;
}

}  // namespace safeckpt
