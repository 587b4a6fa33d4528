#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <filesystem>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "safeckpt/load_report.h"
#include "support/test_support.h"

namespace safeckpt {
namespace {

using Names = std::vector<std::string>;

bool IsDigits(const std::string& text) {
  return !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
}

// Expands "{1,3-5}" into its numbers and "{k_proj,q_proj}" into its words.
std::vector<std::string> ExpandNumberSet(const std::string& inner) {
  std::vector<std::string> numbers;
  size_t start = 0;
  while (start <= inner.size()) {
    size_t comma = inner.find(',', start);
    std::string item = inner.substr(start, comma == std::string::npos ? comma : comma - start);
    size_t dash = item.find('-');
    if (dash == std::string::npos || !IsDigits(item.substr(0, dash)) || !IsDigits(item.substr(dash + 1))) {
      numbers.push_back(item);
    } else {
      uint64_t first = std::stoull(item.substr(0, dash));
      uint64_t last = std::stoull(item.substr(dash + 1));
      EXPECT_LT(first, last) << "range written backwards: " << item;
      for (uint64_t n = first; n <= last; ++n) numbers.push_back(std::to_string(n));
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return numbers;
}

// Expands a grouped line back into the names it stands for.
std::vector<std::string> ExpandLine(const std::string& line) {
  std::vector<std::string> names = {""};
  size_t position = 0;
  while (position < line.size()) {
    size_t open = line.find('{', position);
    std::string literal = line.substr(position, open == std::string::npos ? open : open - position);
    for (std::string& name : names) name += literal;
    if (open == std::string::npos) break;
    size_t close = line.find('}', open);
    std::vector<std::string> expanded;
    for (const std::string& name : names) {
      for (const std::string& number : ExpandNumberSet(line.substr(open + 1, close - open - 1))) {
        expanded.push_back(name + number);
      }
    }
    names = std::move(expanded);
    position = close + 1;
  }
  return names;
}

// Checks that the grouped lines expand to exactly `names`, each name once.
void ExpectExactExpansion(const Names& names, const Names& lines) {
  std::multiset<std::string> expanded;
  for (const std::string& line : lines) {
    for (std::string& name : ExpandLine(line)) expanded.insert(std::move(name));
  }
  std::multiset<std::string> original(names.begin(), names.end());
  EXPECT_EQ(expanded, original);
}

Names LayerNames(const std::vector<int>& layers, const std::string& suffix) {
  Names names;
  for (int layer : layers) names.push_back("model.layers." + std::to_string(layer) + suffix);
  return names;
}

TEST(NameGroupsTest, EmptyInputGivesNoLines) { EXPECT_TRUE(GroupNames({}).empty()); }

TEST(NameGroupsTest, SingleNameIsUnchanged) {
  EXPECT_EQ(GroupNames({"model.layers.3.mlp.up_proj.weight"}),
            Names{"model.layers.3.mlp.up_proj.weight"});
}

TEST(NameGroupsTest, RunsBecomeRanges) {
  std::vector<int> layers = {1, 10};
  for (int layer = 12; layer <= 51; ++layer) layers.push_back(layer);
  Names names = LayerNames(layers, ".mixer.q_proj._extra_state");
  std::shuffle(names.begin(), names.end(), std::mt19937(7));

  EXPECT_EQ(GroupNames(names), Names{"model.layers.{1,10,12-51}.mixer.q_proj._extra_state"});
}

TEST(NameGroupsTest, NamesDifferingInOneWordShareALine) {
  EXPECT_EQ(GroupNames({"model.norm.weight", "lm_head.weight", "model.embed_tokens.weight"}),
            (Names{"lm_head.weight", "model.{embed_tokens,norm}.weight"}));
}

TEST(NameGroupsTest, NamesDifferingInTwoWordsStaySeparate) {
  EXPECT_EQ(GroupNames({"a.x.weight", "a.y.bias"}), (Names{"a.x.weight", "a.y.bias"}));
}

TEST(NameGroupsTest, BookkeepingOfAttentionLayersFoldsIntoOneLine) {
  Names names;
  for (int layer : {5, 12, 19}) {
    for (const char* module : {"q_proj", "k_proj", "v_proj", "o_proj", "core_attention"}) {
      names.push_back("model.layers." + std::to_string(layer) + ".mixer." + module + "._extra_state");
    }
  }
  Names lines = GroupNames(names);
  EXPECT_EQ(lines, Names{"model.layers.{5,12,19}.mixer.{core_attention,k_proj,o_proj,q_proj,v_proj}._extra_state"});
  ExpectExactExpansion(names, lines);
}

TEST(NameGroupsTest, FullProductBecomesOneLine) {
  Names names;
  for (int layer = 0; layer < 4; ++layer) {
    for (int expert = 0; expert < 8; ++expert) {
      names.push_back("model.layers." + std::to_string(layer) + ".mlp.experts." +
                      std::to_string(expert) + ".up_proj.weight");
    }
  }
  EXPECT_EQ(GroupNames(names), Names{"model.layers.{0-3}.mlp.experts.{0-7}.up_proj.weight"});
}

TEST(NameGroupsTest, IncompleteProductSplitsIntoExactLines) {
  Names names;
  for (int layer = 0; layer < 5; ++layer) {
    int experts = layer == 4 ? 7 : 8;
    for (int expert = 0; expert < experts; ++expert) {
      names.push_back("model.layers." + std::to_string(layer) + ".mlp.experts." +
                      std::to_string(expert) + ".w1.weight");
    }
  }
  Names lines = GroupNames(names);
  EXPECT_EQ(lines.size(), 2u);
  ExpectExactExpansion(names, lines);
}

TEST(NameGroupsTest, LinesAreSortedNumerically) {
  Names lines = GroupNames({"layers.10.a", "layers.2.b", "layers.2.a.b"});
  EXPECT_EQ(lines, (Names{"layers.2.a.b", "layers.2.b", "layers.10.a"}));
}

TEST(NameGroupsTest, NumbersSortBeforeWords) {
  EXPECT_EQ(GroupNames({"h.x", "h.0", "h.1"}), (Names{"h.{0-1}", "h.x"}));
}

TEST(NameGroupsTest, NumberWithLeadingZeroStaysLiteral) {
  EXPECT_EQ(GroupNames({"block.01.weight", "block.1.weight"}),
            (Names{"block.1.weight", "block.01.weight"}));
}

TEST(NameGroupsTest, LongWordSetsSplitAcrossLines) {
  Names names;
  for (int i = 0; i < 100; ++i) names.push_back("t" + std::to_string(i) + ".weight");
  Names lines = GroupNames(names);
  EXPECT_EQ(lines.size(), 4u) << ::testing::PrintToString(lines);
  for (const std::string& line : lines) {
    EXPECT_LE(std::count(line.begin(), line.end(), ','), 31) << line;
  }
  ExpectExactExpansion(names, lines);
}

TEST(NameGroupsTest, DigitsInsideComponentAreWords) {
  EXPECT_EQ(GroupNames({"conv1.weight", "conv2.weight"}), Names{"{conv1,conv2}.weight"});
}

TEST(NameGroupsTest, DuplicateNamesAppearOnce) {
  EXPECT_EQ(GroupNames({"a.1", "a.2", "a.1"}), Names{"a.{1-2}"});
}

TEST(NameGroupsTest, OutputDoesNotDependOnInputOrder) {
  Names names = LayerNames({0, 1, 2, 5, 7, 8}, ".w");
  Names more = LayerNames({0, 1, 2, 5}, ".v");
  names.insert(names.end(), more.begin(), more.end());
  Names reversed(names.rbegin(), names.rend());
  EXPECT_EQ(GroupNames(names), GroupNames(reversed));
}

TEST(NameGroupsTest, RandomSetsExpandBackExactly) {
  std::mt19937 random(12345);
  for (int trial = 0; trial < 200; ++trial) {
    std::set<std::string> unique;
    int count = 1 + static_cast<int>(random() % 60);
    for (int i = 0; i < count; ++i) {
      unique.insert("m." + std::to_string(random() % 6) + ".e." + std::to_string(random() % 5) +
                    (random() % 3 == 0 ? ".bias" : ".weight") + "." + std::to_string(random() % 3));
    }
    Names names(unique.begin(), unique.end());
    SCOPED_TRACE("trial " + std::to_string(trial));
    ExpectExactExpansion(names, GroupNames(names));
  }
}

// Names with hundreds of numeric or one-letter components make every merge
// key long and every position a candidate. Grouping stops when its key
// budget is spent, and the lines it returns must still expand exactly.
TEST(NameGroupsTest, HostileLongNamesStillExpandExactly) {
  std::mt19937 random(7);
  for (const char* alphabet : {"0123456789", "ab"}) {
    std::set<std::string> unique;
    while (unique.size() < 300) {
      std::string name;
      for (int i = 0; i < 600; ++i) {
        if (i > 0) name += '.';
        name += alphabet[random() % std::char_traits<char>::length(alphabet)];
      }
      unique.insert(name);
    }
    Names names(unique.begin(), unique.end());
    SCOPED_TRACE(alphabet);
    ExpectExactExpansion(names, GroupNames(names));
  }
}

// Returns the tensor names of a real index file's weight_map.
Names WeightMapNames(const std::string& path) {
  simdjson::dom::parser parser;
  simdjson::padded_string text;
  EXPECT_EQ(simdjson::padded_string::load(path).get(text), simdjson::SUCCESS) << path;
  simdjson::dom::object weight_map;
  EXPECT_EQ(parser.parse(text)["weight_map"].get_object().get(weight_map), simdjson::SUCCESS)
      << path;
  Names names;
  for (simdjson::dom::key_value_pair member : weight_map) names.emplace_back(member.key);
  return names;
}

TEST(NameGroupsTest, RealIndexNamesExpandBackExactly) {
  SAFECKPT_REQUIRE_CORPUS(corpus);
  int indexes = 0;
  for (const auto& entry : std::filesystem::directory_iterator(corpus + "/index")) {
    std::string path = entry.path().string() + "/model.safetensors.index.json";
    if (!std::filesystem::exists(path)) continue;
    Names names = WeightMapNames(path);
    Names lines = GroupNames(names);
    SCOPED_TRACE(path);
    ExpectExactExpansion(names, lines);
    if (names.size() >= 100) {
      EXPECT_LE(lines.size() * 4, names.size()) << "grouping saved little";
    }
    ++indexes;
  }
  EXPECT_GT(indexes, 0);
}

TEST(NameGroupsTest, MixtralIndexGroupsIntoFewLines) {
  SAFECKPT_REQUIRE_CORPUS(corpus);
  Names names = WeightMapNames(corpus +
                               "/index/tbressers__WizardLM-2-8x22B__root/model.safetensors.index.json");
  ASSERT_EQ(names.size(), 1739u);
  Names lines = GroupNames(names);
  EXPECT_LE(lines.size(), 6u) << ::testing::PrintToString(lines);
  EXPECT_NE(std::find(lines.begin(), lines.end(),
                      "model.layers.{0-55}.block_sparse_moe.experts.{0-7}.{w1,w2,w3}.weight"),
            lines.end())
      << ::testing::PrintToString(lines);
}

}  // namespace
}  // namespace safeckpt
