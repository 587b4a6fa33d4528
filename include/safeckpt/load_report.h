// The load report: exactly what a load did, or would do.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "safeckpt/dtype.h"

namespace safeckpt {

enum class Policy : uint8_t {
  kDefault,  // mismatches are reported as warnings
  kStrict,   // any missing, unexpected or shape mismatch rejects the load
  kSubset,   // missing allowed; no match at all, or checkpoint weights the model lacks, reject
};

std::string_view PolicyName(Policy policy);
std::optional<Policy> ParsePolicy(std::string_view name);

struct ShapeMismatch {
  std::string name;             // model name
  std::string checkpoint_name;  // name in the checkpoint
  Shape expected;
  Shape found;
};

struct DTypeConversion {
  std::string name;  // model name
  DType from = DType::kU8;
  DType to = DType::kU8;
};

struct TiedSource {
  std::string name;    // the tied tensor, e.g. lm_head.weight
  std::string source;  // the checkpoint tensor it was loaded from
};

// A wrapper prefix stripped from every name on one side.
struct PrefixStrip {
  std::string side;    // "checkpoint" or "model"
  std::string prefix;  // e.g. "_orig_mod."
};

// A wrapper prefix that only some names on one side carry; reported, not
// rewritten.
struct PartialPrefix {
  std::string side;
  std::string prefix;
  uint64_t with_prefix = 0;
  uint64_t total = 0;
};

struct StaleCopyReport {
  std::string tensor;
  std::string file;
  std::string index_file;
};

// Bytes and time of one phase.
struct PhaseStats {
  uint64_t bytes = 0;
  double seconds = 0;
  double GiBPerSecond() const;
};

// Bytes read from one checkpoint file.
struct FileBytes {
  std::string file;  // name relative to the checkpoint directory
  uint64_t bytes = 0;
};

// This rank's share of a sharded load.
struct RankReport {
  uint32_t rank = 0;
  uint32_t world_size = 1;

  // Loaded tensors of which this rank holds a part rather than the whole,
  // and those whose part is empty (a trailing rank's zero rows).
  uint64_t sliced = 0;
  uint64_t empty = 0;

  // Bytes of this rank's destinations for the loaded tensors: what the load
  // writes (check) or wrote (load).
  uint64_t destination_bytes = 0;

  // Bytes read per file, files with none left out; empty for check.
  std::vector<FileBytes> bytes_read_per_file;

  // The layout adapter used, empty for none, and how many checkpoint
  // tensors it read from for this rank.
  std::string adapter;
  uint64_t adapter_sources = 0;

  // True when the load was sharded, sliced or adapted, so the text report
  // shows this part.
  bool IsShown() const { return world_size > 1 || sliced > 0 || !adapter.empty(); }
};

struct LoadReport {
  std::string checkpoint;  // path as given
  Policy policy = Policy::kDefault;
  bool data_read = false;  // false for check: names "loaded" would be loaded

  uint64_t expected_count = 0;
  uint64_t checkpoint_count = 0;

  // Model names, sorted.
  std::vector<std::string> loaded;
  std::vector<std::string> missing;
  // Checkpoint names (as in the file), sorted.
  std::vector<std::string> unexpected;
  std::vector<ShapeMismatch> shape_mismatches;
  std::vector<DTypeConversion> conversions;
  std::vector<std::string> bookkeeping_loaded;   // both sides, matching size
  std::vector<std::string> bookkeeping_kept;     // model only: current module state kept
  std::vector<std::string> bookkeeping_ignored;  // checkpoint only or size differs
  std::vector<TiedSource> tied;
  std::vector<PrefixStrip> prefixes_stripped;
  std::vector<PartialPrefix> partial_prefixes;
  std::vector<StaleCopyReport> stale_copies;
  std::vector<std::string> warnings;  // from opening the checkpoint

  // Set when the policy rejects the load; each reason is one sentence.
  bool rejected = false;
  std::vector<std::string> rejection_reasons;

  PhaseStats plan;
  PhaseStats read;
  PhaseStats convert;
  uint64_t threads = 0;

  // SHA-256 of each destination's bytes, by model name (with --checksums).
  std::map<std::string, std::string> checksums;

  RankReport rank;
};

// Formats the report for people: counts, then each non-empty list with
// numeric indices grouped so similar names share one line.
std::string FormatReportText(const LoadReport& report);

// Formats the report as one JSON object with every list in full and a
// "counts" object.
std::string FormatReportJson(const LoadReport& report);

// Groups names that differ only in numeric components:
// model.layers.1.x, model.layers.10.x, model.layers.12.x ... model.layers.51.x
// become "model.layers.{1,10,12-51}.x". Output is sorted and deterministic.
std::vector<std::string> GroupNames(const std::vector<std::string>& names);

}  // namespace safeckpt
