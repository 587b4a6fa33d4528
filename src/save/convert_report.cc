// The text and JSON forms of a ConvertReport.
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "core/json_writer.h"
#include "safeckpt/checkpoint.h"
#include "safeckpt/convert.h"
#include "save/text_lists.h"

namespace safeckpt {
namespace {

using DTypePair = std::pair<DType, DType>;

std::map<DTypePair, std::vector<std::string>> ConversionsByPair(const ConvertReport& report) {
  std::map<DTypePair, std::vector<std::string>> by_pair;
  for (const DTypeConversion& conversion : report.conversions) {
    by_pair[{conversion.from, conversion.to}].push_back(conversion.name);
  }
  return by_pair;
}

double GiBPerSecond(uint64_t bytes, double seconds) {
  return seconds > 0 ? static_cast<double>(bytes) / static_cast<double>(1ull << 30) / seconds : 0;
}

void AppendFiles(std::string& out, const SaveSummary& output) {
  size_t width = 0;
  for (const SavedFile& file : output.files) width = std::max(width, file.name.size());
  size_t shown = std::min(output.files.size(), internal::kMaxTextLines);
  for (size_t i = 0; i < shown; ++i) {
    const SavedFile& file = output.files[i];
    out += fmt::format("  {:<{}}  {:>7} {:<7}  {:>11}\n", file.name, width, file.tensor_count,
                       file.tensor_count == 1 ? "tensor" : "tensors", internal::FormatByteCount(file.size));
  }
  if (shown < output.files.size()) {
    out += fmt::format("  ... {} more files; --format json lists every file\n", output.files.size() - shown);
  }
  if (output.has_index) out += fmt::format("  {}\n", kIndexFileName);
}

void AppendConversions(std::string& out, const ConvertReport& report) {
  if (report.conversions.empty()) return;
  out += fmt::format("converted ({}):\n", report.conversions.size());
  for (const auto& [pair, names] : ConversionsByPair(report)) {
    out += fmt::format("  {} -> {} ({}):\n", DTypeName(pair.first), DTypeName(pair.second), names.size());
    internal::AppendCappedLines(out, GroupNames(names), "    ");
  }
}

void AppendRenames(std::string& out, const ConvertReport& report) {
  if (report.renamed.empty()) return;
  std::vector<std::string> lines;
  for (const auto& [from, to] : report.renamed) lines.push_back(from + " -> " + to);
  out += fmt::format("renamed ({}):\n", report.renamed.size());
  internal::AppendCappedLines(out, lines);
}

void AppendFilesJson(internal::JsonWriter& json, const SaveSummary& output) {
  json.Key("files");
  json.BeginArray();
  for (const SavedFile& file : output.files) {
    json.BeginObject(/*inline_container=*/true);
    json.Key("name");
    json.String(file.name);
    json.Key("size");
    json.Uint(file.size);
    json.Key("tensor_count");
    json.Uint(file.tensor_count);
    json.Key("tensor_bytes");
    json.Uint(file.tensor_bytes);
    json.EndObject();
  }
  json.EndArray();
}

void AppendCountsJson(internal::JsonWriter& json, const ConvertReport& report) {
  json.Key("counts");
  json.BeginObject(/*inline_container=*/true);
  json.Key("source_tensors");
  json.Uint(report.source_tensor_count);
  json.Key("written");
  json.Uint(report.output.tensor_count);
  json.Key("excluded");
  json.Uint(report.excluded.size());
  json.Key("renamed");
  json.Uint(report.renamed.size());
  json.Key("converted");
  json.Uint(report.conversions.size());
  json.EndObject();
}

void AppendListsJson(internal::JsonWriter& json, const ConvertReport& report) {
  json.Key("excluded");
  json.BeginArray();
  for (const std::string& name : report.excluded) json.String(name);
  json.EndArray();

  json.Key("renamed");
  json.BeginArray();
  for (const auto& [from, to] : report.renamed) {
    json.BeginObject(/*inline_container=*/true);
    json.Key("from");
    json.String(from);
    json.Key("to");
    json.String(to);
    json.EndObject();
  }
  json.EndArray();

  json.Key("conversions");
  json.BeginArray();
  for (const DTypeConversion& conversion : report.conversions) {
    json.BeginObject(/*inline_container=*/true);
    json.Key("name");
    json.String(conversion.name);
    json.Key("from");
    json.String(DTypeName(conversion.from));
    json.Key("to");
    json.String(DTypeName(conversion.to));
    json.EndObject();
  }
  json.EndArray();
}

}  // namespace

std::string FormatConvertText(const ConvertReport& report) {
  const SaveSummary& output = report.output;
  std::string out = fmt::format(
      "wrote {}: {} {}, {} {}, {} in {:.2f} s ({:.2f} GiB/s)\n", output.destination,
      output.files.size(), output.files.size() == 1 ? "file" : "files", output.tensor_count,
      output.tensor_count == 1 ? "tensor" : "tensors",
      internal::FormatByteCount(output.bytes_written), output.seconds,
      GiBPerSecond(output.bytes_written, output.seconds));
  AppendFiles(out, output);
  if (output.replaced_existing) out += "replaced the checkpoint that was at the destination\n";
  AppendConversions(out, report);
  AppendRenames(out, report);
  internal::AppendGroupedNames(out, "excluded", report.excluded);
  return out;
}

std::string FormatConvertJson(const ConvertReport& report) {
  const SaveSummary& output = report.output;
  internal::JsonWriter json(/*indent=*/2);
  json.BeginObject();
  json.Key("source");
  json.String(report.source);
  json.Key("destination");
  json.String(output.destination);
  json.Key("has_index");
  json.Bool(output.has_index);
  json.Key("replaced_existing");
  json.Bool(output.replaced_existing);
  AppendCountsJson(json, report);
  json.Key("tensor_bytes");
  json.Uint(output.tensor_bytes);
  json.Key("bytes_read");
  json.Uint(report.bytes_read);
  json.Key("bytes_written");
  json.Uint(output.bytes_written);
  json.Key("seconds");
  json.Double(output.seconds);
  AppendFilesJson(json, output);
  AppendListsJson(json, report);
  json.EndObject();
  std::string text = json.Take();
  text.push_back('\n');
  return text;
}

}  // namespace safeckpt
