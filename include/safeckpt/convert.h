// Converting a checkpoint: resharding, dtype changes, renames and
// exclusions, streamed from one checkpoint into a new one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "safeckpt/checkpoint.h"
#include "safeckpt/dtype.h"
#include "safeckpt/key_rules.h"
#include "safeckpt/load_report.h"
#include "safeckpt/logger.h"
#include "safeckpt/status.h"
#include "safeckpt/writer.h"

namespace safeckpt {

// Converts the tensors whose source name matches `pattern` (RE2, partial
// match) to `dtype`.
struct DTypeRule {
  std::string pattern;
  DType dtype = DType::kF32;
};

struct ConvertOptions {
  // Files and where the tensors go; see ShardingOptions. `metadata` of the
  // output is the source's (see ConvertCheckpoint), so SaveOptions is not
  // used whole.
  ShardingOptions sharding;

  // Target dtype for floating tensors (F64, F32, F16, BF16 only; must be one
  // of those). Integer, BOOL and quantized dtypes (the F8, F6 and F4 types)
  // keep their dtype: converting FP8 weights without their scales would
  // change their values.
  std::optional<DType> dtype;

  // Per-tensor targets, tried in order before `dtype`; the first rule whose
  // pattern matches the source name wins and applies to any dtype.
  std::vector<DTypeRule> dtype_rules;

  // Source names to leave out (RE2, partial match). The default leaves out
  // bookkeeping entries, so TransformerEngine's _extra_state never reaches a
  // Hugging Face checkpoint.
  std::vector<std::string> exclude_patterns = {std::string(kDefaultBookkeepingPattern)};

  // Renames from source names to output names, as on load: the first rule
  // whose pattern matches is applied.
  std::vector<RenameRule> renames;

  bool overwrite = false;            // see SaveOptions::overwrite
  uint32_t threads = 0;              // 0: one per core
  uint64_t buffer_bytes = 32ull << 20;  // see SaveOptions::buffer_bytes
  Logger* logger = nullptr;
};

// The record of a conversion.
struct ConvertReport {
  std::string source;                 // Checkpoint::path() of the source
  uint64_t source_tensor_count = 0;
  SaveSummary output;
  std::vector<std::string> excluded;  // source names, sorted
  // Source name -> output name, for names a rename changed; sorted.
  std::vector<std::pair<std::string, std::string>> renamed;
  std::vector<DTypeConversion> conversions;  // by output name, sorted
  uint64_t bytes_read = 0;            // tensor bytes read from the source
};

// Streams the tensors of `source` into a new checkpoint at `destination`,
// which is a directory or a path ending in ".safetensors" for one file.
// SaveCheckpoint describes the layout and the crash safety.
//
// Each source tensor not excluded is renamed, converted when a rule or
// `dtype` asks and written. Same-dtype tensors are copied inside the kernel
// where the file systems allow it. Conversions go through buffers of at most
// `buffer_bytes` in total, so memory use does not grow with tensor or
// checkpoint size. Numbers keep their values where the target dtype can hold
// them; narrowing F32 to BF16 or F16 rounds to nearest with ties to even.
//
// The output's __metadata__ is that of the source's files (the first file's
// value wins when files disagree, with a warning), with "format": "pt".
//
// Fails before anything is written on an invalid pattern (kRuleInvalid), an
// unsupported conversion (kUnsupportedConversion), two tensors renamed to one
// name or a tensor renamed to __metadata__ (kDuplicateName), and a
// destination that contains a checkpoint without `overwrite`
// (kDestinationExists). `source` must stay open and unchanged meanwhile.
Result<ConvertReport> ConvertCheckpoint(const Checkpoint& source, const std::string& destination,
                                        const ConvertOptions& options = {});

// Formats a report for people: the files written, then conversions, renames
// and exclusions with numeric indices grouped.
std::string FormatConvertText(const ConvertReport& report);

// Formats a report as one JSON object with every list in full.
std::string FormatConvertJson(const ConvertReport& report);

}  // namespace safeckpt
