// GroupNames: folds names that differ only in numeric components into one
// line such as "model.layers.{0-3}.mlp.experts.{0-7}.up_proj.weight", then
// folds lines that differ in one word into "mixer.{k_proj,q_proj}.weight".
//
// A grouped line always stands for the full product of its number sets, so
// it expands back to exactly the names it came from. Groups grow one numeric
// position at a time: names equal everywhere except at position p merge
// their number sets at p. Merging keeps the product property because the
// merged names agree on every other position.
#include <algorithm>
#include <charconv>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "safeckpt/load_report.h"

namespace safeckpt {
namespace {

// One dot-separated component of a grouped name.
struct Component {
  bool numeric = false;
  std::string text;               // the component, when not numeric
  std::vector<std::string> words; // sorted alternatives after word merging; empty until then
  std::vector<uint64_t> numbers;  // sorted and unique, when numeric
};

using Pattern = std::vector<Component>;

// Trying every order of k numeric positions costs k! merges, so names with
// more positions than this use one fixed order.
constexpr size_t kMaxPositionsForEveryOrder = 4;

// Bytes of merge keys one GroupNames call may build. Real checkpoints need a
// few tens of MiB (91,000 names of 60 bytes with two numeric positions use
// about 50 MiB). Hostile names with thousands of components would otherwise
// take minutes: once the budget is spent merging stops, and the lines so far
// are returned, each still an exact product of its sets.
constexpr uint64_t kMergeKeyBudgetBytes = 256ull << 20;

class MergeBudget {
 public:
  bool Spent() const { return used_ >= kMergeKeyBudgetBytes; }
  void Charge(size_t bytes) { used_ += bytes; }

 private:
  uint64_t used_ = 0;
};

// Returns the value of a component written as a canonical decimal number.
// "01" is not canonical: it would print back as "1", so it stays literal.
std::optional<uint64_t> ParseIndex(std::string_view component) {
  constexpr size_t kMaxDigits = 18;  // stays below 2^63, so no overflow
  if (component.empty() || component.size() > kMaxDigits) return std::nullopt;
  if (component.size() > 1 && component[0] == '0') return std::nullopt;
  uint64_t value = 0;
  auto [end, error] = std::from_chars(component.data(), component.data() + component.size(), value);
  if (error != std::errc() || end != component.data() + component.size()) return std::nullopt;
  return value;
}

Pattern SplitName(std::string_view name) {
  Pattern pattern;
  size_t start = 0;
  while (true) {
    size_t dot = name.find('.', start);
    std::string_view part = name.substr(start, dot == std::string_view::npos ? dot : dot - start);
    Component component;
    if (std::optional<uint64_t> index = ParseIndex(part)) {
      component.numeric = true;
      component.numbers = {*index};
    } else {
      component.text = std::string(part);
    }
    pattern.push_back(std::move(component));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return pattern;
}

// Appends a number set as "1,10,12-51".
void AppendNumbers(std::string& out, const std::vector<uint64_t>& numbers) {
  size_t i = 0;
  while (i < numbers.size()) {
    size_t run_end = i;
    while (run_end + 1 < numbers.size() && numbers[run_end + 1] == numbers[run_end] + 1) ++run_end;
    if (i > 0) out += ',';
    out += std::to_string(numbers[i]);
    if (run_end > i) {
      out += '-';
      out += std::to_string(numbers[run_end]);
    }
    i = run_end + 1;
  }
}

std::string FormatPattern(const Pattern& pattern) {
  std::string out;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (i > 0) out += '.';
    const Component& component = pattern[i];
    if (!component.numeric && component.words.size() > 1) {
      out += '{';
      for (size_t w = 0; w < component.words.size(); ++w) {
        if (w > 0) out += ',';
        out += component.words[w];
      }
      out += '}';
    } else if (!component.numeric) {
      out += component.text;
    } else if (component.numbers.size() == 1) {
      out += std::to_string(component.numbers[0]);
    } else {
      out += '{';
      AppendNumbers(out, component.numbers);
      out += '}';
    }
  }
  return out;
}

// Returns the literal components with "#" at numeric positions: names with
// the same template may group, names with different templates never do.
std::string TemplateKey(const Pattern& pattern) {
  std::string key;
  for (const Component& component : pattern) {
    key += component.numeric ? std::string_view("#") : std::string_view(component.text);
    key += '\0';
  }
  return key;
}

// Returns a key equal for two patterns exactly when they agree everywhere
// except at `position`.
std::string KeyWithout(const Pattern& pattern, size_t position) {
  std::string key;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (i == position) continue;
    const Component& component = pattern[i];
    if (component.numeric) {
      AppendNumbers(key, component.numbers);
    } else {
      key += component.text;
    }
    key += '\0';
  }
  return key;
}

// Sorts `values` and removes duplicates.
template <typename T>
void SortUnique(std::vector<T>& values) {
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
}

// Merges patterns that agree everywhere except at `position`. Returns whether
// any two merged. Numbers are appended and sorted once at the end, so merging
// n names costs O(n log n), not O(n^2).
bool MergeAlong(std::vector<Pattern>& patterns, size_t position, MergeBudget& budget) {
  if (budget.Spent()) return false;
  std::unordered_map<std::string, size_t> index_by_key;
  std::vector<Pattern> merged;
  for (Pattern& pattern : patterns) {
    std::string key = KeyWithout(pattern, position);
    budget.Charge(key.size());
    auto [it, inserted] = index_by_key.emplace(std::move(key), merged.size());
    if (inserted) {
      merged.push_back(std::move(pattern));
      continue;
    }
    std::vector<uint64_t>& numbers = merged[it->second][position].numbers;
    numbers.insert(numbers.end(), pattern[position].numbers.begin(), pattern[position].numbers.end());
  }
  bool changed = merged.size() != patterns.size();
  for (Pattern& pattern : merged) SortUnique(pattern[position].numbers);
  patterns = std::move(merged);
  return changed;
}

// Merges along each position of `order` in turn until nothing changes,
// because a merge along one position can make patterns equal along another.
std::vector<Pattern> MergeInOrder(std::vector<Pattern> patterns, const std::vector<size_t>& order,
                                  MergeBudget& budget) {
  bool changed = true;
  while (changed) {
    changed = false;
    for (size_t position : order) changed |= MergeAlong(patterns, position, budget);
  }
  return patterns;
}

// Groups patterns that share one template. With few numeric positions every
// merge order is tried, and the one giving the fewest lines is kept. The
// first such order wins ties, so the result is deterministic.
std::vector<Pattern> GroupTemplate(std::vector<Pattern> patterns, MergeBudget& budget) {
  std::vector<size_t> positions;
  for (size_t i = 0; i < patterns[0].size(); ++i) {
    if (patterns[0][i].numeric) positions.push_back(i);
  }
  if (positions.size() > kMaxPositionsForEveryOrder) {
    std::reverse(positions.begin(), positions.end());
    return MergeInOrder(std::move(patterns), positions, budget);
  }

  std::vector<Pattern> best;
  bool first = true;
  do {
    std::vector<Pattern> grouped = MergeInOrder(patterns, positions, budget);
    if (first || grouped.size() < best.size()) best = std::move(grouped);
    first = false;
  } while (std::next_permutation(positions.begin(), positions.end()));
  return best;
}

// Returns a key equal for two patterns exactly when they have the same
// length, a literal component at `position`, and agree everywhere else.
std::string WordKeyWithout(const Pattern& pattern, size_t position) {
  if (pattern[position].numeric) return {};
  std::string key = std::to_string(pattern.size()) + '\0' + KeyWithout(pattern, position);
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (i == position) continue;
    for (const std::string& word : pattern[i].words) key += word + '\1';
    key += '\0';
  }
  return key;
}

// A word set longer than this is split over several lines, because one line
// listing thousands of unrelated names makes a report unreadable.
constexpr size_t kMaxWordsPerSet = 32;

// Appends `pattern` to `out`, split into patterns of at most kMaxWordsPerSet
// words at `position`. The split lines together still stand for exactly the
// same names.
void SplitWordSet(Pattern& pattern, size_t position, std::vector<Pattern>& out) {
  std::vector<std::string> words = std::move(pattern[position].words);
  for (size_t begin = 0; begin < words.size(); begin += kMaxWordsPerSet) {
    size_t end = std::min(words.size(), begin + kMaxWordsPerSet);
    Pattern part = pattern;
    part[position].words.assign(words.begin() + begin, words.begin() + end);
    part[position].text = part[position].words.front();
    if (part[position].words.size() == 1) part[position].words.clear();
    out.push_back(std::move(part));
  }
}

// Merges patterns that differ only in the word at `position` into one whose
// component there lists every word. Returns whether the number of patterns
// went down.
bool MergeWordsAlong(std::vector<Pattern>& patterns, size_t position, MergeBudget& budget) {
  if (budget.Spent()) return false;
  std::unordered_map<std::string, size_t> index_by_key;
  std::vector<Pattern> merged;
  for (Pattern& pattern : patterns) {
    std::string key = position < pattern.size() ? WordKeyWithout(pattern, position) : std::string();
    budget.Charge(key.size());
    if (key.empty()) {
      merged.push_back(std::move(pattern));
      continue;
    }
    auto [it, inserted] = index_by_key.emplace(std::move(key), merged.size());
    if (inserted) {
      merged.push_back(std::move(pattern));
      continue;
    }
    Component& target = merged[it->second][position];
    if (target.words.empty()) target.words = {target.text};
    Component& incoming = pattern[position];
    if (incoming.words.empty()) {
      target.words.push_back(std::move(incoming.text));
    } else {
      target.words.insert(target.words.end(), incoming.words.begin(), incoming.words.end());
    }
  }
  size_t before = patterns.size();
  patterns.clear();
  for (Pattern& pattern : merged) {
    if (position >= pattern.size() || pattern[position].words.empty()) {
      patterns.push_back(std::move(pattern));
      continue;
    }
    SortUnique(pattern[position].words);
    SplitWordSet(pattern, position, patterns);
  }
  // Splitting can undo a merge, so only a net reduction counts as progress;
  // otherwise MergeWords would merge and split the same lines forever.
  return patterns.size() < before;
}

// Returns the positions at which two patterns hold different literal
// components: merging along any other position cannot change anything, and
// skipping them keeps long names with many components cheap.
std::vector<size_t> PositionsWithDifferentWords(const std::vector<Pattern>& patterns) {
  std::vector<const Component*> first;
  std::vector<bool> differs;
  for (const Pattern& pattern : patterns) {
    if (pattern.size() > first.size()) {
      first.resize(pattern.size(), nullptr);
      differs.resize(pattern.size(), false);
    }
    for (size_t i = 0; i < pattern.size(); ++i) {
      const Component& component = pattern[i];
      if (component.numeric || differs[i]) continue;
      if (first[i] == nullptr) {
        first[i] = &component;
      } else if (first[i]->text != component.text || first[i]->words != component.words) {
        differs[i] = true;
      }
    }
  }
  std::vector<size_t> positions;
  for (size_t i = 0; i < differs.size(); ++i) {
    if (differs[i]) positions.push_back(i);
  }
  return positions;
}

// Folds lines that differ in one literal component, position by position,
// until nothing changes. Each merged line is still a full product, so it
// expands back to exactly the names it stands for.
void MergeWords(std::vector<Pattern>& patterns, MergeBudget& budget) {
  bool changed = true;
  while (changed && !budget.Spent()) {
    changed = false;
    for (size_t position : PositionsWithDifferentWords(patterns)) {
      changed |= MergeWordsAlong(patterns, position, budget);
    }
  }
}

// Orders components numerically where they are numbers, numbers before words.
bool ComponentLess(const Component& a, const Component& b) {
  if (a.numeric != b.numeric) return a.numeric;
  if (!a.numeric) return a.text < b.text;
  return a.numbers < b.numbers;
}

bool PatternLess(const Pattern& a, const Pattern& b) {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), ComponentLess);
}

}  // namespace

std::vector<std::string> GroupNames(const std::vector<std::string>& names) {
  std::vector<std::string> unique_names = names;
  std::sort(unique_names.begin(), unique_names.end());
  unique_names.erase(std::unique(unique_names.begin(), unique_names.end()), unique_names.end());

  std::map<std::string, std::vector<Pattern>> by_template;
  for (const std::string& name : unique_names) {
    Pattern pattern = SplitName(name);
    by_template[TemplateKey(pattern)].push_back(std::move(pattern));
  }

  MergeBudget budget;
  std::vector<Pattern> grouped;
  for (auto& [key, patterns] : by_template) {
    for (Pattern& pattern : GroupTemplate(std::move(patterns), budget)) {
      grouped.push_back(std::move(pattern));
    }
  }
  MergeWords(grouped, budget);
  std::sort(grouped.begin(), grouped.end(), PatternLess);

  std::vector<std::string> lines;
  lines.reserve(grouped.size());
  for (const Pattern& pattern : grouped) lines.push_back(FormatPattern(pattern));
  return lines;
}

}  // namespace safeckpt
