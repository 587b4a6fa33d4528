// safeckpt convert: reshard a checkpoint, change dtypes, rename and exclude
// tensors, writing a new checkpoint crash-safely.
#include <CLI/CLI.hpp>

#include <signal.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>
#include <string>

#include "cli/commands.h"
#include "safeckpt/checkpoint.h"
#include "safeckpt/convert.h"
#include "safeckpt/logger.h"
#include "safeckpt/writer.h"
#include "save/checkpoint_writer.h"

namespace safeckpt::cli {
namespace {

const std::map<std::string, OutputFormat> kFormats = {{"text", OutputFormat::kText},
                                                      {"json", OutputFormat::kJson}};

// Exit code for an error from ConvertCheckpoint.
int ExitCodeForConvertError(const Status& status) {
  switch (status.id()) {
    case ErrorId::kRuleInvalid:
    case ErrorId::kDuplicateName:
    case ErrorId::kNameEmpty:
    case ErrorId::kDestinationExists:
      return kExitUsage;
    case ErrorId::kUnsupportedConversion:
      return kExitRejected;
    case ErrorId::kReadFailed:
    case ErrorId::kShortRead:
      return kExitBadCheckpoint;
    default:
      return status.code() == StatusCode::kIoError ? kExitWriteFailed : kExitBadCheckpoint;
  }
}

Status UsageError(std::string message) {
  return InvalidArgument(ErrorId::kRuleInvalid, std::move(message));
}

// Parses a dtype name given on the command line; case does not matter.
Result<DType> ParseDTypeOption(const std::string& text, std::string_view option) {
  std::string upper = text;
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  std::optional<DType> dtype = ParseDType(upper);
  if (!dtype) {
    return UsageError(std::string(option) + ": unknown dtype '" + text + "'; accepted: " + AllDTypeNames());
  }
  return *dtype;
}

Result<ConvertOptions> BuildOptions(const ConvertCommandOptions& command, Logger* logger) {
  ConvertOptions options;
  bool single_file = internal::IsSingleFileDestination(command.destination);
  if (!command.max_shard_size.empty()) {
    if (single_file) {
      return UsageError("--max-shard-size: destination '" + command.destination +
                        "' is one .safetensors file; give a directory to write shards");
    }
    Result<uint64_t> size = ParseByteSize(command.max_shard_size);
    if (!size.ok()) return size.status().WithContext("--max-shard-size");
    options.sharding.max_shard_bytes = *size;
  }
  if (!command.layout_from.empty()) {
    Result<std::vector<LayoutEntry>> layout = ReadShardLayout(command.layout_from);
    if (!layout.ok()) return UsageError("--layout-from: " + layout.status().message());
    options.sharding.layout = std::move(layout).value();
  }
  if (!command.dtype.empty()) {
    SAFECKPT_ASSIGN_OR_RETURN(options.dtype, ParseDTypeOption(command.dtype, "--dtype"));
  }
  for (size_t i = 0; i + 1 < command.dtype_for.size(); i += 2) {
    SAFECKPT_ASSIGN_OR_RETURN(DType dtype, ParseDTypeOption(command.dtype_for[i + 1], "--dtype-for"));
    options.dtype_rules.push_back({command.dtype_for[i], dtype});
  }

  if (command.keep_bookkeeping) options.exclude_patterns.clear();
  for (const std::string& pattern : command.exclude) options.exclude_patterns.push_back(pattern);
  for (size_t i = 0; i + 1 < command.rename_pairs.size(); i += 2) {
    options.renames.push_back({command.rename_pairs[i], command.rename_pairs[i + 1]});
  }
  options.overwrite = command.force;
  options.threads = command.threads;
  options.logger = logger;
  return options;
}

}  // namespace

CLI::App* AddConvertCommand(CLI::App& app, ConvertCommandOptions& options) {
  CLI::App* command = app.add_subcommand(
      "convert", "Write a checkpoint as a new Hugging Face checkpoint: reshard, change dtypes, "
                 "rename or exclude tensors; crash-safe");
  command->add_option("source", options.source, "Checkpoint file or directory to read")->required();
  command
      ->add_option("destination", options.destination,
                   "Directory to write (model.safetensors, or shards and "
                   "model.safetensors.index.json), or a path ending in .safetensors for one file")
      ->required();

  // Files.
  command->add_option("--max-shard-size", options.max_shard_size,
                      "Largest tensor bytes per file: bytes or a number with B, KB, MB, GB, TB "
                      "(powers of 1000) or KiB, MiB, GiB, TiB (default 5GB)");
  command->add_option("--layout-from", options.layout_from,
                      "Put each tensor in the file this model.safetensors.index.json (or its "
                      "directory) names; others go to model-extra.safetensors");

  // Dtypes.
  command->add_option("--dtype", options.dtype,
                      "Convert F64, F32, F16 and BF16 tensors to this dtype (F64, F32, F16 or "
                      "BF16); integer, BOOL and quantized tensors keep theirs");
  command
      ->add_option("--dtype-for", options.dtype_for,
                   "REGEX DTYPE: convert tensors whose source name matches the RE2 pattern to "
                   "DTYPE, whatever their dtype; repeatable, first match wins over --dtype")
      ->expected(2)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);

  // Names.
  command->add_option("--exclude", options.exclude,
                      "Leave out tensors whose source name matches this RE2 pattern; repeatable. "
                      "Names ending in ._extra_state are always left out unless --keep-bookkeeping");
  command->add_flag("--keep-bookkeeping", options.keep_bookkeeping,
                    "Also write bookkeeping entries (names ending in ._extra_state)");
  command
      ->add_option("--rename", options.rename_pairs,
                   "PATTERN REPLACEMENT: rename source names matching the RE2 pattern; "
                   "repeatable, first matching rule wins, \\1 refers to a group")
      ->expected(2)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);

  // Destination and output.
  command->add_flag("--force", options.force,
                    "Replace a checkpoint at the destination once the new one is complete");
  command->add_option("--threads", options.threads, "Worker threads (default: one per core)");
  command->add_option("--format", options.format, "Output format: text (for people) or json (for scripts)")
      ->transform(CLI::CheckedTransformer(kFormats, CLI::ignore_case));
  command->add_flag("--verbose,-v", options.verbose, "Also print info messages to stderr");
  return command;
}

int RunConvert(const ConvertCommandOptions& command) {
  // A write past the file size limit (ulimit -f) sends SIGXFSZ, which would
  // kill the process before the temporary files are removed. With the signal
  // ignored, the write fails with EFBIG and the error is reported.
  ::signal(SIGXFSZ, SIG_IGN);

  StderrLogger logger(command.verbose ? LogLevel::kInfo : LogLevel::kWarning);
  Result<ConvertOptions> options = BuildOptions(command, &logger);
  if (!options.ok()) return ReportError(options.status(), kExitUsage);

  OpenOptions open_options;
  open_options.logger = &logger;
  Result<Checkpoint> source = Checkpoint::Open(command.source, open_options);
  if (!source.ok()) return ReportError(source.status(), kExitBadCheckpoint);

  Result<ConvertReport> report = ConvertCheckpoint(*source, command.destination, *options);
  if (!report.ok()) return ReportError(report.status(), ExitCodeForConvertError(report.status()));
  // The checkpoint is complete at this point; a failed report write is
  // still an error, because a script reading the report would get nothing.
  Status written = WriteStdout(command.format == OutputFormat::kJson ? FormatConvertJson(*report)
                                                                     : FormatConvertText(*report));
  return written.ok() ? kExitOk : ReportError(written, kExitWriteFailed);
}

}  // namespace safeckpt::cli
