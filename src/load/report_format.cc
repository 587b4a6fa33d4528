// Policy names, phase throughput, and the text and JSON forms of a
// LoadReport.
#include <algorithm>
#include <array>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "core/byte_units.h"
#include "core/terminal_text.h"
#include "core/json_writer.h"
#include "safeckpt/load_report.h"

namespace safeckpt {

std::string_view PolicyName(Policy policy) {
  switch (policy) {
    case Policy::kDefault: return "default";
    case Policy::kStrict: return "strict";
    case Policy::kSubset: return "subset";
  }
  return "unknown";
}

std::optional<Policy> ParsePolicy(std::string_view name) {
  for (Policy policy : {Policy::kDefault, Policy::kStrict, Policy::kSubset}) {
    if (PolicyName(policy) == name) return policy;
  }
  return std::nullopt;
}

double PhaseStats::GiBPerSecond() const {
  if (seconds <= 0) return 0;
  return static_cast<double>(bytes) / static_cast<double>(1ull << 30) / seconds;
}

namespace {

// Lists longer than this many grouped lines are cut in the text form, while
// the JSON form has every name.
constexpr size_t kMaxLinesPerList = 20;

using DTypePair = std::pair<DType, DType>;

std::map<DTypePair, std::vector<std::string>> ConversionsByPair(const LoadReport& report) {
  std::map<DTypePair, std::vector<std::string>> by_pair;
  for (const DTypeConversion& conversion : report.conversions) {
    by_pair[{conversion.from, conversion.to}].push_back(conversion.name);
  }
  return by_pair;
}

struct NamedPhase {
  std::string_view name;
  const PhaseStats* stats;
};

std::array<NamedPhase, 3> Phases(const LoadReport& report) {
  return {{{"plan", &report.plan}, {"read", &report.read}, {"convert", &report.convert}}};
}

// --- Text -------------------------------------------------------------------

// Appends up to kMaxLinesPerList indented lines, then a line counting the
// lines left out.
// Lines carry names from the checkpoint, which may hold control characters:
// they are escaped so a hostile name cannot fake a line or drive the terminal.
void AppendCappedLines(std::string& out, const std::vector<std::string>& lines) {
  size_t printed = std::min(lines.size(), kMaxLinesPerList);
  for (size_t i = 0; i < printed; ++i) out += fmt::format("  {}\n", internal::EscapeForTerminal(lines[i]));
  if (lines.size() > printed) {
    out += fmt::format("  ... {} more lines; --format json lists every name\n",
                       lines.size() - printed);
  }
}

void AppendNameList(std::string& out, std::string_view title, const std::vector<std::string>& names,
                    std::string_view note = {}) {
  if (names.empty()) return;
  if (note.empty()) {
    out += fmt::format("{} ({}):\n", title, names.size());
  } else {
    out += fmt::format("{} ({}, {}):\n", title, names.size(), note);
  }
  AppendCappedLines(out, GroupNames(names));
}

void AppendCounts(std::string& out, const LoadReport& report) {
  std::string converted_pairs;
  for (const auto& [pair, names] : ConversionsByPair(report)) {
    if (!converted_pairs.empty()) converted_pairs += ", ";
    converted_pairs += fmt::format("{} -> {}: {}", DTypeName(pair.first), DTypeName(pair.second),
                                   names.size());
  }

  auto row = [&out](std::string_view label, uint64_t count, std::string_view note = {}) {
    out += fmt::format("  {:<21}{:>8}", label, count);
    if (!note.empty()) out += fmt::format("  ({})", note);
    out += '\n';
  };
  row("expected tensors", report.expected_count);
  row("checkpoint tensors", report.checkpoint_count);
  row("loaded", report.loaded.size());
  row("missing", report.missing.size());
  row("unexpected", report.unexpected.size());
  row("shape mismatch", report.shape_mismatches.size());
  row("converted", report.conversions.size(), converted_pairs);
  row("bookkeeping loaded", report.bookkeeping_loaded.size());
  row("bookkeeping kept", report.bookkeeping_kept.size(), "kept current module state");
  row("bookkeeping ignored", report.bookkeeping_ignored.size(), "ignored");
  row("tied", report.tied.size());
}

void AppendShapeMismatches(std::string& out, const LoadReport& report) {
  if (report.shape_mismatches.empty()) return;
  std::vector<std::string> lines;
  for (const ShapeMismatch& mismatch : report.shape_mismatches) {
    std::string line = fmt::format("{}: model {}, checkpoint {}", mismatch.name,
                                   FormatShape(mismatch.expected), FormatShape(mismatch.found));
    if (mismatch.checkpoint_name != mismatch.name) {
      line += fmt::format(" (checkpoint name '{}')", mismatch.checkpoint_name);
    }
    lines.push_back(std::move(line));
  }
  out += fmt::format("shape mismatch ({}):\n", lines.size());
  AppendCappedLines(out, lines);
}

// Lists converted names per dtype pair. A pair that covers every loaded
// tensor gets one line: the list would repeat the loaded list.
void AppendConversions(std::string& out, const LoadReport& report) {
  for (const auto& [pair, names] : ConversionsByPair(report)) {
    if (names.size() == report.loaded.size()) {
      out += fmt::format("converted {} -> {}: every loaded tensor ({})\n", DTypeName(pair.first),
                         DTypeName(pair.second), names.size());
      continue;
    }
    AppendNameList(out, fmt::format("converted {} -> {}", DTypeName(pair.first), DTypeName(pair.second)),
                   names);
  }
}

void AppendTied(std::string& out, const LoadReport& report) {
  if (report.tied.empty()) return;
  std::vector<std::string> lines;
  for (const TiedSource& tied : report.tied) {
    lines.push_back(fmt::format("{} loaded from '{}'", tied.name, tied.source));
  }
  out += fmt::format("tied ({}):\n", lines.size());
  AppendCappedLines(out, lines);
}

void AppendPrefixes(std::string& out, const LoadReport& report) {
  if (!report.prefixes_stripped.empty()) {
    out += "prefixes stripped:\n";
    for (const PrefixStrip& strip : report.prefixes_stripped) {
      out += fmt::format("  '{}' from every {} name\n", internal::EscapeForTerminal(strip.prefix),
                         strip.side);
    }
  }
  if (!report.partial_prefixes.empty()) {
    out += "prefixes not stripped, because only some names carry them:\n";
    for (const PartialPrefix& partial : report.partial_prefixes) {
      out += fmt::format("  '{}' on {} of {} {} names\n", internal::EscapeForTerminal(partial.prefix),
                         partial.with_prefix, partial.total, partial.side);
    }
  }
}

void AppendStaleCopies(std::string& out, const LoadReport& report) {
  if (report.stale_copies.empty()) return;
  std::vector<std::string> lines;
  for (const StaleCopyReport& stale : report.stale_copies) {
    lines.push_back(fmt::format("'{}': unused copy in {}; the index maps it to {}", stale.tensor,
                                stale.file, stale.index_file));
  }
  out += fmt::format("stale copies ({}):\n", lines.size());
  AppendCappedLines(out, lines);
}

void AppendSentences(std::string& out, std::string_view title, const std::vector<std::string>& lines) {
  if (lines.empty()) return;
  out += fmt::format("{}:\n", title);
  for (const std::string& line : lines) out += fmt::format("  {}\n", internal::EscapeForTerminal(line));
}

void AppendPhases(std::string& out, const LoadReport& report) {
  if (!report.data_read) {
    out += "no data was read, so \"loaded\" counts the tensors a load would fill\n";
    return;
  }
  out += "phases:\n";
  for (const NamedPhase& phase : Phases(report)) {
    out += fmt::format("  {} {} in {:.3f} s ({:.2f} GiB/s)\n", phase.name,
                       internal::FormatBytes(phase.stats->bytes), phase.stats->seconds,
                       phase.stats->GiBPerSecond());
  }
  out += fmt::format("  threads: {}\n", report.threads);
}

// This rank's share: shown only for a sharded load, a sliced tensor or an
// adapter, so the report of a whole-tensor load is unchanged.
void AppendRank(std::string& out, const LoadReport& report) {
  const RankReport& rank = report.rank;
  if (!rank.IsShown()) return;
  out += fmt::format("rank {} of {}: {} of {} loaded tensors sliced", rank.rank, rank.world_size,
                     rank.sliced, report.loaded.size());
  if (rank.empty > 0) out += fmt::format(" ({} with no elements on this rank)", rank.empty);
  out += fmt::format(", destinations {}\n", internal::FormatBytes(rank.destination_bytes));
  if (!rank.adapter.empty()) {
    out += fmt::format("adapter {}: read from {} checkpoint tensors\n", rank.adapter,
                       rank.adapter_sources);
  }
  if (rank.bytes_read_per_file.empty()) return;
  out += "bytes read per file:\n";
  std::vector<std::string> lines;
  for (const FileBytes& file : rank.bytes_read_per_file) {
    lines.push_back(fmt::format("{} {}", file.file, internal::FormatBytes(file.bytes)));
  }
  AppendCappedLines(out, lines);
}

void AppendChecksums(std::string& out, const LoadReport& report) {
  if (report.checksums.empty()) return;
  std::vector<std::string> lines;
  for (const auto& [name, hex] : report.checksums) lines.push_back(fmt::format("{} {}", hex, name));
  out += fmt::format("SHA-256 ({}):\n", lines.size());
  AppendCappedLines(out, lines);
}

// --- JSON -------------------------------------------------------------------

void WriteStringList(internal::JsonWriter& writer, std::string_view key,
                     const std::vector<std::string>& values) {
  writer.Key(key);
  writer.BeginArray();
  for (const std::string& value : values) writer.String(value);
  writer.EndArray();
}

void WriteShape(internal::JsonWriter& writer, std::string_view key, const Shape& shape) {
  writer.Key(key);
  writer.BeginArray(/*inline_container=*/true);
  for (uint64_t dimension : shape) writer.Uint(dimension);
  writer.EndArray();
}

void WriteCounts(internal::JsonWriter& writer, const LoadReport& report) {
  writer.Key("counts");
  writer.BeginObject();
  const std::pair<std::string_view, uint64_t> counts[] = {
      {"expected", report.expected_count},
      {"checkpoint", report.checkpoint_count},
      {"loaded", report.loaded.size()},
      {"missing", report.missing.size()},
      {"unexpected", report.unexpected.size()},
      {"shape_mismatch", report.shape_mismatches.size()},
      {"converted", report.conversions.size()},
      {"bookkeeping_loaded", report.bookkeeping_loaded.size()},
      {"bookkeeping_kept", report.bookkeeping_kept.size()},
      {"bookkeeping_ignored", report.bookkeeping_ignored.size()},
      {"tied", report.tied.size()},
  };
  for (const auto& [key, count] : counts) {
    writer.Key(key);
    writer.Uint(count);
  }
  writer.EndObject();
}

void WriteShapeMismatches(internal::JsonWriter& writer, const LoadReport& report) {
  writer.Key("shape_mismatch");
  writer.BeginArray();
  for (const ShapeMismatch& mismatch : report.shape_mismatches) {
    writer.BeginObject(/*inline_container=*/true);
    writer.Key("name");
    writer.String(mismatch.name);
    writer.Key("checkpoint_name");
    writer.String(mismatch.checkpoint_name);
    WriteShape(writer, "expected", mismatch.expected);
    WriteShape(writer, "found", mismatch.found);
    writer.EndObject();
  }
  writer.EndArray();
}

void WriteConversions(internal::JsonWriter& writer, const LoadReport& report) {
  writer.Key("converted");
  writer.BeginArray();
  for (const DTypeConversion& conversion : report.conversions) {
    writer.BeginObject(/*inline_container=*/true);
    writer.Key("name");
    writer.String(conversion.name);
    writer.Key("from");
    writer.String(DTypeName(conversion.from));
    writer.Key("to");
    writer.String(DTypeName(conversion.to));
    writer.EndObject();
  }
  writer.EndArray();
}

void WriteTied(internal::JsonWriter& writer, const LoadReport& report) {
  writer.Key("tied");
  writer.BeginArray();
  for (const TiedSource& tied : report.tied) {
    writer.BeginObject(/*inline_container=*/true);
    writer.Key("name");
    writer.String(tied.name);
    writer.Key("source");
    writer.String(tied.source);
    writer.EndObject();
  }
  writer.EndArray();
}

void WritePrefixes(internal::JsonWriter& writer, const LoadReport& report) {
  writer.Key("prefixes_stripped");
  writer.BeginArray();
  for (const PrefixStrip& strip : report.prefixes_stripped) {
    writer.BeginObject(/*inline_container=*/true);
    writer.Key("side");
    writer.String(strip.side);
    writer.Key("prefix");
    writer.String(strip.prefix);
    writer.EndObject();
  }
  writer.EndArray();

  writer.Key("partial_prefixes");
  writer.BeginArray();
  for (const PartialPrefix& partial : report.partial_prefixes) {
    writer.BeginObject(/*inline_container=*/true);
    writer.Key("side");
    writer.String(partial.side);
    writer.Key("prefix");
    writer.String(partial.prefix);
    writer.Key("with_prefix");
    writer.Uint(partial.with_prefix);
    writer.Key("total");
    writer.Uint(partial.total);
    writer.EndObject();
  }
  writer.EndArray();
}

void WriteStaleCopies(internal::JsonWriter& writer, const LoadReport& report) {
  writer.Key("stale_copies");
  writer.BeginArray();
  for (const StaleCopyReport& stale : report.stale_copies) {
    writer.BeginObject(/*inline_container=*/true);
    writer.Key("tensor");
    writer.String(stale.tensor);
    writer.Key("file");
    writer.String(stale.file);
    writer.Key("index_file");
    writer.String(stale.index_file);
    writer.EndObject();
  }
  writer.EndArray();
}

void WritePhases(internal::JsonWriter& writer, const LoadReport& report) {
  writer.Key("phases");
  writer.BeginObject();
  for (const NamedPhase& phase : Phases(report)) {
    writer.Key(phase.name);
    writer.BeginObject(/*inline_container=*/true);
    writer.Key("bytes");
    writer.Uint(phase.stats->bytes);
    writer.Key("seconds");
    writer.Double(phase.stats->seconds);
    writer.Key("gib_per_second");
    writer.Double(phase.stats->GiBPerSecond());
    writer.EndObject();
  }
  writer.EndObject();
  writer.Key("threads");
  writer.Uint(report.threads);
}

void WriteChecksums(internal::JsonWriter& writer, const LoadReport& report) {
  if (report.checksums.empty()) return;
  writer.Key("checksums");
  writer.BeginObject();
  for (const auto& [name, hex] : report.checksums) {
    writer.Key(name);
    writer.String(hex);
  }
  writer.EndObject();
}

void WriteRank(internal::JsonWriter& writer, const LoadReport& report) {
  const RankReport& rank = report.rank;
  writer.Key("rank");
  writer.BeginObject();
  const std::pair<std::string_view, uint64_t> numbers[] = {
      {"rank", rank.rank},
      {"world_size", rank.world_size},
      {"sliced", rank.sliced},
      {"empty", rank.empty},
      {"destination_bytes", rank.destination_bytes},
      {"adapter_sources", rank.adapter_sources},
  };
  for (const auto& [key, number] : numbers) {
    writer.Key(key);
    writer.Uint(number);
  }
  writer.Key("adapter");
  writer.String(rank.adapter);
  writer.Key("bytes_read_per_file");
  writer.BeginObject();
  for (const FileBytes& file : rank.bytes_read_per_file) {
    writer.Key(file.file);
    writer.Uint(file.bytes);
  }
  writer.EndObject();
  writer.EndObject();
}

}  // namespace

std::string FormatReportText(const LoadReport& report) {
  std::string out = fmt::format("checkpoint: {}  policy: {}  result: {}\n",
                                internal::EscapeForTerminal(report.checkpoint), PolicyName(report.policy),
                                report.rejected ? "rejected" : "accepted");
  AppendCounts(out, report);
  AppendNameList(out, "loaded", report.loaded);
  AppendNameList(out, "missing", report.missing);
  AppendNameList(out, "unexpected", report.unexpected);
  AppendShapeMismatches(out, report);
  AppendConversions(out, report);
  AppendNameList(out, "bookkeeping loaded", report.bookkeeping_loaded);
  AppendNameList(out, "bookkeeping kept", report.bookkeeping_kept, "kept current module state");
  AppendNameList(out, "bookkeeping ignored", report.bookkeeping_ignored);
  AppendTied(out, report);
  AppendPrefixes(out, report);
  AppendStaleCopies(out, report);
  AppendSentences(out, "warnings", report.warnings);
  AppendSentences(out, "rejected because", report.rejection_reasons);
  AppendRank(out, report);
  AppendPhases(out, report);
  AppendChecksums(out, report);
  return out;
}

std::string FormatReportJson(const LoadReport& report) {
  internal::JsonWriter writer(/*indent=*/2);
  writer.BeginObject();
  writer.Key("checkpoint");
  writer.String(report.checkpoint);
  writer.Key("policy");
  writer.String(PolicyName(report.policy));
  writer.Key("data_read");
  writer.Bool(report.data_read);
  writer.Key("accepted");
  writer.Bool(!report.rejected);
  WriteStringList(writer, "rejection_reasons", report.rejection_reasons);
  WriteCounts(writer, report);

  WriteStringList(writer, "loaded", report.loaded);
  WriteStringList(writer, "missing", report.missing);
  WriteStringList(writer, "unexpected", report.unexpected);
  WriteShapeMismatches(writer, report);
  WriteConversions(writer, report);
  WriteStringList(writer, "bookkeeping_loaded", report.bookkeeping_loaded);
  WriteStringList(writer, "bookkeeping_kept", report.bookkeeping_kept);
  WriteStringList(writer, "bookkeeping_ignored", report.bookkeeping_ignored);
  WriteTied(writer, report);
  WritePrefixes(writer, report);
  WriteStaleCopies(writer, report);
  WriteStringList(writer, "warnings", report.warnings);
  WritePhases(writer, report);
  WriteRank(writer, report);
  WriteChecksums(writer, report);
  writer.EndObject();

  std::string text = writer.Take();
  text += '\n';
  return text;
}

}  // namespace safeckpt
