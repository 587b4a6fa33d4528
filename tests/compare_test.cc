// CompareCheckpoints and its report formats: names on one side, dtype and
// shape differences, exact and tolerant value comparison, NaN and infinity,
// renames and exclusions.
#include "safeckpt/compare.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <cmath>
#include <limits>

#include "safeckpt/writer.h"
#include "support/test_support.h"

namespace safeckpt {
namespace {

using testing::TempDir;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

class CompareTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::vector<TensorToWrite>& tensors) {
    std::string path = dir_.Join(name);
    EXPECT_TRUE(WriteSafetensors(path, tensors).ok());
    return path;
  }

  CompareReport Compare(const std::string& a, const std::string& b, const CompareOptions& options = {}) {
    auto first = Checkpoint::Open(a);
    auto second = Checkpoint::Open(b);
    EXPECT_TRUE(first.ok()) << first.status().ToString();
    EXPECT_TRUE(second.ok()) << second.status().ToString();
    auto report = CompareCheckpoints(*first, *second, options);
    EXPECT_TRUE(report.ok()) << report.status().ToString();
    return std::move(report).value();
  }

  TempDir dir_;
};

TEST_F(CompareTest, IdenticalCheckpointsAreEqual) {
  float w[3] = {1, 2, 3};
  int64_t n[2] = {4, 5};
  std::string a = Write("a.safetensors", {{"w", DType::kF32, {3}, w}, {"n", DType::kI64, {2}, n}});
  std::string b = Write("b.safetensors", {{"n", DType::kI64, {2}, n}, {"w", DType::kF32, {3}, w}});
  CompareReport report = Compare(a, b);
  EXPECT_TRUE(report.equal());
  EXPECT_EQ(report.values_compared, 2u);
  EXPECT_EQ(report.bytes_compared, 2 * (12u + 16u));
  EXPECT_EQ(report.max_abs_difference, 0);
}

TEST_F(CompareTest, ListsNamesOnOneSide) {
  float w[1] = {1};
  std::string a = Write("a.safetensors", {{"w", DType::kF32, {1}, w}, {"only_a", DType::kF32, {1}, w}});
  std::string b = Write("b.safetensors", {{"w", DType::kF32, {1}, w}, {"only_b", DType::kF32, {1}, w}});
  CompareReport report = Compare(a, b);
  EXPECT_FALSE(report.equal());
  EXPECT_EQ(report.only_in_a, std::vector<std::string>{"only_a"});
  EXPECT_EQ(report.only_in_b, std::vector<std::string>{"only_b"});
}

TEST_F(CompareTest, ReportsShapeDifference) {
  float w[6] = {1, 2, 3, 4, 5, 6};
  std::string a = Write("a.safetensors", {{"w", DType::kF32, {2, 3}, w}});
  std::string b = Write("b.safetensors", {{"w", DType::kF32, {3, 2}, w}});
  CompareReport report = Compare(a, b);
  EXPECT_FALSE(report.equal());
  ASSERT_EQ(report.shape_differences.size(), 1u);
  EXPECT_EQ(report.shape_differences[0].a, (Shape{2, 3}));
  EXPECT_EQ(report.shape_differences[0].b, (Shape{3, 2}));
  EXPECT_EQ(report.values_compared, 0u);
}

TEST_F(CompareTest, DTypeDifferenceCountsUnlessIgnored) {
  float w32[2] = {1.5f, -2};
  uint16_t w16[2] = {0x3fc0, 0xc000};  // 1.5, -2 in BF16
  std::string a = Write("a.safetensors", {{"w", DType::kF32, {2}, w32}});
  std::string b = Write("b.safetensors", {{"w", DType::kBF16, {2}, w16}});
  CompareReport strict = Compare(a, b);
  EXPECT_FALSE(strict.equal());
  ASSERT_EQ(strict.dtype_differences.size(), 1u);
  EXPECT_EQ(strict.dtype_differences[0].a, DType::kF32);
  EXPECT_TRUE(strict.value_differences.empty()) << "equal values in different dtypes";

  CompareOptions options;
  options.check_dtype = false;
  EXPECT_TRUE(Compare(a, b, options).equal());
}

// 2^53 + 1 and 2^53 round to the same double, so only an exact comparison
// of the integers distinguishes them.
TEST_F(CompareTest, WideIntegersAreComparedExactly) {
  int64_t big[2] = {(int64_t{1} << 53) + 1, std::numeric_limits<int64_t>::max()};
  int64_t near[2] = {int64_t{1} << 53, std::numeric_limits<int64_t>::max() - 1};
  double rounded[2] = {9007199254740992.0, 9223372036854775808.0};
  std::string a = Write("a.safetensors", {{"x", DType::kI64, {2}, big}});
  std::string b = Write("b.safetensors", {{"x", DType::kI64, {2}, near}});
  std::string f = Write("f.safetensors", {{"x", DType::kF64, {2}, rounded}});

  CompareReport same_dtype = Compare(a, b);
  ASSERT_EQ(same_dtype.value_differences.size(), 1u);
  EXPECT_EQ(same_dtype.value_differences[0].mismatched, 2u);
  EXPECT_EQ(same_dtype.value_differences[0].max_abs_difference, 1.0);

  CompareOptions ignore_dtype;
  ignore_dtype.check_dtype = false;
  CompareReport across = Compare(a, f, ignore_dtype);
  EXPECT_FALSE(across.equal());
  ASSERT_EQ(across.value_differences.size(), 1u);
  EXPECT_EQ(across.value_differences[0].mismatched, 2u);
}

TEST_F(CompareTest, ExactComparisonFindsLargestDifferences) {
  std::vector<float> a_values(12, 1.0f);
  std::vector<float> b_values(12, 1.0f);
  b_values[5] = 1.5f;   // position [1, 1]
  b_values[11] = 4.0f;  // position [2, 3]
  b_values[2] = 0.75f;  // position [0, 2]
  std::string a = Write("a.safetensors", {{"w", DType::kF32, {3, 4}, a_values.data()}});
  std::string b = Write("b.safetensors", {{"w", DType::kF32, {3, 4}, b_values.data()}});
  CompareOptions options;
  options.max_differences = 2;
  CompareReport report = Compare(a, b, options);
  EXPECT_FALSE(report.equal());
  ASSERT_EQ(report.value_differences.size(), 1u);
  const TensorDifference& difference = report.value_differences[0];
  EXPECT_EQ(difference.mismatched, 3u);
  EXPECT_EQ(difference.elements, 12u);
  EXPECT_EQ(difference.max_abs_difference, 3.0);
  EXPECT_DOUBLE_EQ(difference.max_relative_difference, 0.75);
  ASSERT_EQ(difference.largest.size(), 2u);
  EXPECT_EQ(difference.largest[0].position, (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(difference.largest[0].a, 1.0);
  EXPECT_EQ(difference.largest[0].b, 4.0);
  EXPECT_EQ(difference.largest[1].position, (std::vector<uint64_t>{1, 1}));
  EXPECT_EQ(difference.largest[1].abs_difference, 0.5);
}

TEST_F(CompareTest, ExactComparisonIsBitwise) {
  float a_values[1] = {0.0f};
  float b_values[1] = {-0.0f};
  std::string a = Write("a.safetensors", {{"z", DType::kF32, {1}, a_values}});
  std::string b = Write("b.safetensors", {{"z", DType::kF32, {1}, b_values}});
  CompareReport exact = Compare(a, b);
  EXPECT_FALSE(exact.equal()) << "+0 and -0 have different bits";
  ASSERT_EQ(exact.value_differences.size(), 1u);
  EXPECT_EQ(exact.value_differences[0].largest[0].abs_difference, 0);

  CompareOptions options;
  options.atol = 1e-30;
  EXPECT_TRUE(Compare(a, b, options).equal()) << "as numbers they are equal";
}

TEST_F(CompareTest, ToleranceFollowsIsClose) {
  float a_values[3] = {100.0f, 1.0f, 0.0f};
  float b_values[3] = {101.0f, 1.0f, 0.002f};
  std::string a = Write("a.safetensors", {{"w", DType::kF32, {3}, a_values}});
  std::string b = Write("b.safetensors", {{"w", DType::kF32, {3}, b_values}});

  CompareOptions within;
  within.rtol = 0.01;   // 1 <= 0.001 + 0.01 * 101
  within.atol = 0.003;  // 0.002 <= 0.003
  CompareReport report = Compare(a, b, within);
  EXPECT_TRUE(report.equal());
  EXPECT_DOUBLE_EQ(report.max_abs_difference, 1.0) << "differences within tolerance are still measured";

  CompareOptions outside;
  outside.rtol = 0.005;
  outside.atol = 0.001;
  CompareReport failed = Compare(a, b, outside);
  ASSERT_EQ(failed.value_differences.size(), 1u);
  EXPECT_EQ(failed.value_differences[0].mismatched, 2u);
}

TEST_F(CompareTest, NaNEqualsNaNButNotNumbers) {
  float a_values[4] = {kNaN, kNaN, kInf, kInf};
  float b_values[4] = {kNaN, 1.0f, kInf, -kInf};
  std::string a = Write("a.safetensors", {{"w", DType::kF32, {4}, a_values}});
  std::string b = Write("b.safetensors", {{"w", DType::kF32, {4}, b_values}});
  CompareOptions options;
  options.rtol = 0.5;
  CompareReport report = Compare(a, b, options);
  ASSERT_EQ(report.value_differences.size(), 1u);
  const TensorDifference& difference = report.value_differences[0];
  EXPECT_EQ(difference.mismatched, 2u);
  EXPECT_TRUE(std::isinf(difference.max_abs_difference));
  ASSERT_EQ(difference.largest.size(), 2u);
  EXPECT_EQ(difference.largest[0].position, std::vector<uint64_t>{1});
  EXPECT_EQ(difference.largest[1].position, std::vector<uint64_t>{3});
}

TEST_F(CompareTest, ComparesAcrossDTypesAsNumbers) {
  int32_t a_values[3] = {1, 2, 3};
  int64_t b_values[3] = {1, 2, 4};
  std::string a = Write("a.safetensors", {{"n", DType::kI32, {3}, a_values}});
  std::string b = Write("b.safetensors", {{"n", DType::kI64, {3}, b_values}});
  CompareOptions options;
  options.check_dtype = false;
  CompareReport report = Compare(a, b, options);
  ASSERT_EQ(report.value_differences.size(), 1u);
  EXPECT_EQ(report.value_differences[0].largest[0].a, 3.0);
  EXPECT_EQ(report.value_differences[0].largest[0].b, 4.0);
}

TEST_F(CompareTest, ComparesComplexAsParts) {
  float a_values[4] = {1, 2, 3, 4};
  float b_values[4] = {1, 2, 3, 5};
  std::string a = Write("a.safetensors", {{"c", DType::kC64, {2}, a_values}});
  std::string b = Write("b.safetensors", {{"c", DType::kC64, {2}, b_values}});
  CompareReport report = Compare(a, b);
  ASSERT_EQ(report.value_differences.size(), 1u);
  EXPECT_EQ(report.value_differences[0].elements, 4u);
  EXPECT_EQ(report.value_differences[0].largest[0].position, (std::vector<uint64_t>{1, 1}))
      << "element 1, imaginary part";
}

TEST_F(CompareTest, ComparesUndecodedDTypesByBytes) {
  uint8_t a_values[2] = {0x12, 0x34};
  uint8_t b_values[2] = {0x12, 0x35};
  std::string a = Write("a.safetensors", {{"q", DType::kF4, {4}, a_values}});
  std::string b = Write("b.safetensors", {{"q", DType::kF4, {4}, b_values}});
  CompareOptions options;
  options.rtol = 1;
  CompareReport report = Compare(a, b, options);
  ASSERT_EQ(report.value_differences.size(), 1u);
  EXPECT_TRUE(report.value_differences[0].compared_bytes);
  EXPECT_EQ(report.value_differences[0].mismatched, 1u);
  EXPECT_EQ(report.value_differences[0].elements, 2u);
}

TEST_F(CompareTest, DTypesWithoutCommonFormAreNotCompared) {
  uint8_t bytes[2] = {1, 2};
  std::string a = Write("a.safetensors", {{"q", DType::kF8_E8M0, {2}, bytes}});
  std::string b = Write("b.safetensors", {{"q", DType::kU8, {2}, bytes}});
  CompareOptions options;
  options.check_dtype = false;
  CompareReport report = Compare(a, b, options);
  EXPECT_FALSE(report.equal());
  EXPECT_EQ(report.values_not_compared, std::vector<std::string>{"q"});
}

TEST_F(CompareTest, RenamesNamesOfA) {
  float w[1] = {1};
  std::string a = Write("a.safetensors", {{"backbone.w", DType::kF32, {1}, w}});
  std::string b = Write("b.safetensors", {{"model.w", DType::kF32, {1}, w}});
  CompareOptions options;
  options.renames = {{R"(^backbone\.)", "model."}};
  EXPECT_TRUE(Compare(a, b, options).equal());
}

TEST_F(CompareTest, RejectsRenamesThatCollide) {
  float w[1] = {1};
  std::string a = Write("a.safetensors", {{"x.w", DType::kF32, {1}, w}, {"y.w", DType::kF32, {1}, w}});
  auto first = Checkpoint::Open(a);
  ASSERT_TRUE(first.ok());
  CompareOptions options;
  options.renames = {{R"(^[xy]\.)", ""}};
  EXPECT_ERROR(CompareCheckpoints(*first, *first, options), ErrorId::kDuplicateName, "both renamed to 'w'");
}

TEST_F(CompareTest, ExcludesNamesOnBothSides) {
  float w[1] = {1};
  uint8_t state[1] = {7};
  std::string a = Write("a.safetensors", {{"w", DType::kF32, {1}, w}, {"m._extra_state", DType::kU8, {1}, state}});
  std::string b = Write("b.safetensors", {{"w", DType::kF32, {1}, w}});
  CompareOptions options;
  options.exclude_patterns = {"_extra_state$"};
  CompareReport report = Compare(a, b, options);
  EXPECT_TRUE(report.equal());
  EXPECT_EQ(report.excluded, 1u);
}

TEST_F(CompareTest, SmallBuffersGiveSameResult) {
  std::vector<float> a_values(10'000);
  std::vector<float> b_values(10'000);
  for (size_t i = 0; i < a_values.size(); ++i) {
    a_values[i] = static_cast<float>(i);
    b_values[i] = static_cast<float>(i) + (i % 1000 == 999 ? static_cast<float>(i) / 1000 : 0.0f);
  }
  std::string a = Write("a.safetensors", {{"w", DType::kF32, {100, 100}, a_values.data()}});
  std::string b = Write("b.safetensors", {{"w", DType::kF32, {100, 100}, b_values.data()}});
  CompareOptions options;
  options.buffer_bytes = 256;
  options.threads = 3;
  CompareReport report = Compare(a, b, options);
  ASSERT_EQ(report.value_differences.size(), 1u);
  EXPECT_EQ(report.value_differences[0].mismatched, 10u);
  EXPECT_EQ(report.value_differences[0].largest[0].position, (std::vector<uint64_t>{99, 99}));
}

TEST_F(CompareTest, TextNamesVerdictAndDifferences) {
  float a_values[2] = {1, 2};
  float b_values[2] = {1, 3};
  std::string a = Write("a.safetensors", {{"w", DType::kF32, {2}, a_values}});
  std::string b = Write("b.safetensors", {{"w", DType::kF32, {2}, b_values}});
  std::string text = FormatCompareText(Compare(a, b));
  EXPECT_EQ(text.rfind("not equal: ", 0), 0u) << text;
  EXPECT_NE(text.find("w  F32 [2]: 1 of 2 values differ"), std::string::npos) << text;
  EXPECT_NE(text.find("[1]  a 2  b 3  |a - b| 1"), std::string::npos) << text;
}

TEST_F(CompareTest, JsonWritesNonFiniteAsStrings) {
  float a_values[1] = {kNaN};
  float b_values[1] = {1};
  std::string a = Write("a.safetensors", {{"w", DType::kF32, {1}, a_values}});
  std::string b = Write("b.safetensors", {{"w", DType::kF32, {1}, b_values}});
  std::string json = FormatCompareJson(Compare(a, b));

  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(json).get(root), simdjson::SUCCESS) << json;
  bool equal = true;
  ASSERT_EQ(root["equal"].get(equal), simdjson::SUCCESS);
  EXPECT_FALSE(equal);
  simdjson::dom::element largest = root["value_differences"].at(0)["largest"].at(0);
  std::string_view a_value;
  ASSERT_EQ(largest["a"].get(a_value), simdjson::SUCCESS) << json;
  EXPECT_EQ(a_value, "NaN");
  std::string_view difference;
  ASSERT_EQ(largest["abs_difference"].get(difference), simdjson::SUCCESS);
  EXPECT_EQ(difference, "Infinity");
  double b_value = 0;
  ASSERT_EQ(largest["b"].get(b_value), simdjson::SUCCESS);
  EXPECT_EQ(b_value, 1.0);
}

}  // namespace
}  // namespace safeckpt
