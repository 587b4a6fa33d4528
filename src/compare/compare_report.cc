// The text and JSON forms of a CompareReport.
#include <cmath>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "core/json_writer.h"
#include "safeckpt/compare.h"
#include "save/text_lists.h"

namespace safeckpt {
namespace {

std::string FormatPosition(const std::vector<uint64_t>& position) {
  return fmt::format("[{}]", fmt::join(position, ", "));
}

std::string DescribeTolerance(const CompareReport& report) {
  if (report.rtol == 0 && report.atol == 0) return "exact";
  return fmt::format("rtol {}, atol {}", report.rtol, report.atol);
}

void AppendCounts(std::string& out, const CompareReport& report) {
  auto row = [&out](std::string_view label, uint64_t count, std::string_view note = {}) {
    out += fmt::format("  {:<20}{:>8}", label, count);
    if (!note.empty()) out += fmt::format("  ({})", note);
    out += '\n';
  };
  row("tensors in A", report.tensors_a);
  row("tensors in B", report.tensors_b);
  row("values compared", report.values_compared, DescribeTolerance(report));
  row("only in A", report.only_in_a.size());
  row("only in B", report.only_in_b.size());
  row("dtype differences", report.dtype_differences.size(),
      report.check_dtype ? std::string_view() : "ignored");
  row("shape differences", report.shape_differences.size());
  row("value differences", report.value_differences.size());
  if (!report.values_not_compared.empty()) row("values not compared", report.values_not_compared.size());
  if (report.excluded > 0) row("excluded", report.excluded);
  out += fmt::format("  {:<20}{:>8}\n", "largest |a - b|", report.max_abs_difference);
}

// Dtype differences grouped by the pair of dtypes, names grouped within.
void AppendDTypeDifferences(std::string& out, const CompareReport& report) {
  if (report.dtype_differences.empty()) return;
  std::map<std::pair<DType, DType>, std::vector<std::string>> by_pair;
  for (const DTypeDifference& difference : report.dtype_differences) {
    by_pair[{difference.a, difference.b}].push_back(difference.name);
  }
  out += fmt::format("dtype differences ({}):\n", report.dtype_differences.size());
  for (const auto& [pair, names] : by_pair) {
    out += fmt::format("  {} in A, {} in B ({}):\n", DTypeName(pair.first), DTypeName(pair.second),
                       names.size());
    internal::AppendCappedLines(out, GroupNames(names), "    ");
  }
}

void AppendShapeDifferences(std::string& out, const CompareReport& report) {
  std::vector<std::string> lines;
  for (const ShapeDifference& difference : report.shape_differences) {
    lines.push_back(fmt::format("{}  {} in A, {} in B", difference.name, FormatShape(difference.a),
                                FormatShape(difference.b)));
  }
  if (!lines.empty()) {
    out += fmt::format("shape differences ({}):\n", lines.size());
    internal::AppendCappedLines(out, lines);
  }
}

void AppendValueDifference(std::string& out, const TensorDifference& difference) {
  std::string dtypes = difference.dtype_a == difference.dtype_b
                           ? std::string(DTypeName(difference.dtype_a))
                           : fmt::format("{}/{}", DTypeName(difference.dtype_a), DTypeName(difference.dtype_b));
  if (difference.compared_bytes) {
    out += fmt::format("  {}  {} {}: {} of {} bytes differ\n", difference.name, dtypes,
                       FormatShape(difference.shape), difference.mismatched, difference.elements);
    return;
  }
  out += fmt::format("  {}  {} {}: {} of {} values differ, max |a - b| {}, max relative {}\n",
                     difference.name, dtypes, FormatShape(difference.shape), difference.mismatched,
                     difference.elements, difference.max_abs_difference,
                     difference.max_relative_difference);
  for (const ElementDifference& element : difference.largest) {
    out += fmt::format("    {}  a {}  b {}  |a - b| {}\n", FormatPosition(element.position), element.a,
                       element.b, element.abs_difference);
  }
}

void AppendValueDifferences(std::string& out, const CompareReport& report) {
  if (report.value_differences.empty()) return;
  out += fmt::format("value differences ({}):\n", report.value_differences.size());
  size_t shown = std::min(report.value_differences.size(), internal::kMaxTextLines);
  for (size_t i = 0; i < shown; ++i) AppendValueDifference(out, report.value_differences[i]);
  if (shown < report.value_differences.size()) {
    out += fmt::format("  ... {} more tensors; --format json lists every one\n",
                       report.value_differences.size() - shown);
  }
}

// JSON has no NaN or infinity, so those are written as the strings Python's
// json module and JavaScript use for them.
void Number(internal::JsonWriter& json, double value) {
  if (std::isnan(value)) {
    json.String("NaN");
  } else if (std::isinf(value)) {
    json.String(value > 0 ? "Infinity" : "-Infinity");
  } else {
    json.Raw(fmt::format("{}", value));
  }
}

void StringList(internal::JsonWriter& json, std::string_view key, const std::vector<std::string>& names) {
  json.Key(key);
  json.BeginArray();
  for (const std::string& name : names) json.String(name);
  json.EndArray();
}

void ShapeArray(internal::JsonWriter& json, const std::vector<uint64_t>& shape) {
  json.BeginArray(/*inline_container=*/true);
  for (uint64_t dim : shape) json.Uint(dim);
  json.EndArray();
}

void CountsJson(internal::JsonWriter& json, const CompareReport& report) {
  json.Key("counts");
  json.BeginObject(/*inline_container=*/true);
  json.Key("tensors_a");
  json.Uint(report.tensors_a);
  json.Key("tensors_b");
  json.Uint(report.tensors_b);
  json.Key("values_compared");
  json.Uint(report.values_compared);
  json.Key("only_in_a");
  json.Uint(report.only_in_a.size());
  json.Key("only_in_b");
  json.Uint(report.only_in_b.size());
  json.Key("dtype_differences");
  json.Uint(report.dtype_differences.size());
  json.Key("shape_differences");
  json.Uint(report.shape_differences.size());
  json.Key("value_differences");
  json.Uint(report.value_differences.size());
  json.Key("values_not_compared");
  json.Uint(report.values_not_compared.size());
  json.Key("excluded");
  json.Uint(report.excluded);
  json.EndObject();
}

void TypeDifferencesJson(internal::JsonWriter& json, const CompareReport& report) {
  json.Key("dtype_differences");
  json.BeginArray();
  for (const DTypeDifference& difference : report.dtype_differences) {
    json.BeginObject(/*inline_container=*/true);
    json.Key("name");
    json.String(difference.name);
    json.Key("a");
    json.String(DTypeName(difference.a));
    json.Key("b");
    json.String(DTypeName(difference.b));
    json.EndObject();
  }
  json.EndArray();

  json.Key("shape_differences");
  json.BeginArray();
  for (const ShapeDifference& difference : report.shape_differences) {
    json.BeginObject(/*inline_container=*/true);
    json.Key("name");
    json.String(difference.name);
    json.Key("a");
    ShapeArray(json, difference.a);
    json.Key("b");
    ShapeArray(json, difference.b);
    json.EndObject();
  }
  json.EndArray();
}

void ValueDifferenceJson(internal::JsonWriter& json, const TensorDifference& difference) {
  json.BeginObject();
  json.Key("name");
  json.String(difference.name);
  json.Key("name_a");
  json.String(difference.name_a);
  json.Key("dtype_a");
  json.String(DTypeName(difference.dtype_a));
  json.Key("dtype_b");
  json.String(DTypeName(difference.dtype_b));
  json.Key("shape");
  ShapeArray(json, difference.shape);

  json.Key("compared_bytes");
  json.Bool(difference.compared_bytes);
  json.Key("elements");
  json.Uint(difference.elements);
  json.Key("mismatched");
  json.Uint(difference.mismatched);
  json.Key("max_abs_difference");
  Number(json, difference.max_abs_difference);
  json.Key("max_relative_difference");
  Number(json, difference.max_relative_difference);

  json.Key("largest");
  json.BeginArray();
  for (const ElementDifference& element : difference.largest) {
    json.BeginObject(/*inline_container=*/true);
    json.Key("position");
    ShapeArray(json, element.position);
    json.Key("a");
    Number(json, element.a);
    json.Key("b");
    Number(json, element.b);
    json.Key("abs_difference");
    Number(json, element.abs_difference);
    json.EndObject();
  }
  json.EndArray();
  json.EndObject();
}

}  // namespace

std::string FormatCompareText(const CompareReport& report) {
  std::string out = fmt::format("{}: {} and {}\n", report.equal() ? "equal" : "not equal", report.a, report.b);
  AppendCounts(out, report);
  internal::AppendGroupedNames(out, "only in A", report.only_in_a);
  internal::AppendGroupedNames(out, "only in B", report.only_in_b);
  AppendDTypeDifferences(out, report);
  AppendShapeDifferences(out, report);
  AppendValueDifferences(out, report);
  internal::AppendGroupedNames(out, "values not compared (no common numeric form)",
                               report.values_not_compared);
  return out;
}

std::string FormatCompareJson(const CompareReport& report) {
  internal::JsonWriter json(/*indent=*/2);
  json.BeginObject();
  json.Key("a");
  json.String(report.a);
  json.Key("b");
  json.String(report.b);
  json.Key("equal");
  json.Bool(report.equal());
  json.Key("rtol");
  Number(json, report.rtol);
  json.Key("atol");
  Number(json, report.atol);
  json.Key("check_dtype");
  json.Bool(report.check_dtype);

  CountsJson(json, report);
  json.Key("bytes_compared");
  json.Uint(report.bytes_compared);
  json.Key("max_abs_difference");
  Number(json, report.max_abs_difference);

  StringList(json, "only_in_a", report.only_in_a);
  StringList(json, "only_in_b", report.only_in_b);
  TypeDifferencesJson(json, report);
  json.Key("value_differences");
  json.BeginArray();
  for (const TensorDifference& difference : report.value_differences) ValueDifferenceJson(json, difference);
  json.EndArray();
  StringList(json, "values_not_compared", report.values_not_compared);
  json.EndObject();
  std::string text = json.Take();
  text.push_back('\n');
  return text;
}

}  // namespace safeckpt
