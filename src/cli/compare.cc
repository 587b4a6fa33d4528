// safeckpt compare: tensor-by-tensor equality of two checkpoints.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <map>
#include <string>

#include "cli/commands.h"
#include "safeckpt/checkpoint.h"
#include "safeckpt/compare.h"
#include "safeckpt/logger.h"

namespace safeckpt::cli {
namespace {

const std::map<std::string, OutputFormat> kFormats = {{"text", OutputFormat::kText},
                                                      {"json", OutputFormat::kJson}};

CompareOptions BuildOptions(const CompareCommandOptions& command) {
  CompareOptions options;
  for (size_t i = 0; i + 1 < command.rename_pairs.size(); i += 2) {
    options.renames.push_back({command.rename_pairs[i], command.rename_pairs[i + 1]});
  }
  options.exclude_patterns = command.exclude;
  options.rtol = command.rtol;
  options.atol = command.atol;
  options.check_dtype = !command.ignore_dtype;
  options.max_differences = command.max_differences;
  options.threads = command.threads;
  return options;
}

int ExitCodeForCompareError(const Status& status) {
  switch (status.id()) {
    case ErrorId::kRuleInvalid:
    case ErrorId::kDuplicateName:
      return kExitUsage;
    default:
      return kExitBadCheckpoint;
  }
}

}  // namespace

CLI::App* AddCompareCommand(CLI::App& app, CompareCommandOptions& options) {
  CLI::App* command = app.add_subcommand(
      "compare", "Compare two checkpoints tensor by tensor: names, dtypes, shapes and values. "
                 "Exit 0 when equal, 1 when not");
  command->add_option("a", options.a, "First checkpoint (file or directory)")->required();
  command->add_option("b", options.b, "Second checkpoint, the reference for --rtol")->required();
  command
      ->add_option("--rename", options.rename_pairs,
                   "PATTERN REPLACEMENT: rename A's names matching the RE2 pattern before "
                   "matching them with B's; repeatable, first matching rule wins")
      ->expected(2)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  command->add_option("--exclude", options.exclude,
                      "Skip names matching this RE2 pattern on both sides (A's before renames); "
                      "repeatable");
  command
      ->add_option("--rtol", options.rtol,
                   "Relative tolerance: values are equal when |a - b| <= atol + rtol * |b| "
                   "(default 0: identical)")
      ->check(CLI::NonNegativeNumber);
  command->add_option("--atol", options.atol, "Absolute tolerance (default 0)")
      ->check(CLI::NonNegativeNumber);
  command->add_flag("--ignore-dtype", options.ignore_dtype,
                    "Compare values only: a dtype difference alone does not make the checkpoints differ");
  command->add_option("--max-differences", options.max_differences,
                      "Largest differences listed per tensor (default 5)");
  command->add_option("--threads", options.threads, "Worker threads (default: one per core)");
  command->add_option("--format", options.format, "Output format: text (for people) or json (for scripts)")
      ->transform(CLI::CheckedTransformer(kFormats, CLI::ignore_case));
  return command;
}

int RunCompare(const CompareCommandOptions& command) {
  StderrLogger logger;
  OpenOptions open_options;
  open_options.logger = &logger;
  Result<Checkpoint> a = Checkpoint::Open(command.a, open_options);
  if (!a.ok()) return ReportError(a.status(), kExitBadCheckpoint);
  Result<Checkpoint> b = Checkpoint::Open(command.b, open_options);
  if (!b.ok()) return ReportError(b.status(), kExitBadCheckpoint);

  Result<CompareReport> report = CompareCheckpoints(*a, *b, BuildOptions(command));
  if (!report.ok()) return ReportError(report.status(), ExitCodeForCompareError(report.status()));

  std::string text = command.format == OutputFormat::kJson ? FormatCompareJson(*report)
                                                           : FormatCompareText(*report);
  Status written = WriteStdout(text);
  if (!written.ok()) return ReportError(written, kExitWriteFailed);
  return report->equal() ? kExitOk : kExitRejected;
}

}  // namespace safeckpt::cli
