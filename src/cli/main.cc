// The safeckpt command line: argument parsing and dispatch only.
#include <CLI/CLI.hpp>
#include <sys/resource.h>

#include <cstdio>
#include <map>
#include <string>

#include "cli/commands.h"

namespace {

using safeckpt::cli::OutputFormat;

void AddFormatOption(CLI::App* command, OutputFormat* format) {
  // Maps the name to the enum's value before CLI11 converts it, so an invalid
  // name gets a plain message.
  auto to_value = [](std::string& input) -> std::string {
    if (input == "text") {
      input = std::to_string(static_cast<int>(OutputFormat::kText));
    } else if (input == "json") {
      input = std::to_string(static_cast<int>(OutputFormat::kJson));
    } else {
      return "expected text or json, got '" + input + "'";
    }
    return {};
  };
  command->add_option("--format", *format, "Output format: text (for people) or json (for scripts)")
      ->transform(CLI::Validator(to_value, ""))
      ->option_text("text|json");
}

// Returns an error message when the first argument names no subcommand,
// because CLI11's own message only states that a subcommand is required.
std::string CheckSubcommandName(CLI::App& app, int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-') return {};
  std::string names;
  for (const CLI::App* command : app.get_subcommands({})) {
    if (command->get_name() == argv[1]) return {};
    names += names.empty() ? "" : ", ";
    names += command->get_name();
  }
  return "unknown subcommand '" + std::string(argv[1]) + "'; expected one of: " + names;
}

// Raises the soft limit on open files to the hard limit: a load keeps one
// descriptor per shard open, and checkpoints with over 1024 shards exist.
void RaiseOpenFileLimit() {
  struct rlimit limit;
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);  // failure leaves the old limit, which may still do
  }
}

// Prints a parse error on one line; help and version requests print normally.
int ReportParseError(CLI::App& app, const CLI::ParseError& error) {
  if (error.get_exit_code() == 0) return app.exit(error);
  std::fprintf(stderr, "safeckpt: error: %s (run 'safeckpt --help' for usage)\n", error.what());
  return safeckpt::cli::kExitUsage;
}

void AddStrictIndexFlag(CLI::App* command, bool* strict_index) {
  command->add_flag("--strict-index", *strict_index,
                    "Reject index inconsistencies that loading ignores: a stale copy of a "
                    "tensor, a tensor the index does not list, a wrong metadata.total_size");
}

void AddReconcileOptions(CLI::App* command, safeckpt::cli::ReconcileOptions* options,
                         bool manifest_required) {
  command->add_option("checkpoint", options->checkpoint,
                      "A .safetensors file, or a directory with model.safetensors.index.json or "
                      "*.safetensors files")
      ->required();
  CLI::Option* manifest =
      command->add_option("--model,-m", options->manifest,
                          manifest_required
                              ? "Manifest of the model's expected tensors (JSON; see `safeckpt "
                                "manifest`)"
                              : "Manifest of the model's expected tensors (JSON; see `safeckpt "
                                "manifest`); without it, only the checkpoint's structure is checked");
  if (manifest_required) manifest->required();
  command
      ->add_option("--rename", options->rename_pairs,
                   "PATTERN REPLACEMENT: rename checkpoint names matching the RE2 pattern; "
                   "repeatable, first matching rule wins, \\1 refers to a group")
      ->expected(2)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  command->add_option("--bookkeeping", options->bookkeeping,
                      "RE2 pattern of extra bookkeeping names (never missing or unexpected); "
                      "repeatable. Names ending in ._extra_state always are");
  command->add_option("--policy", options->policy,
                      "default: mismatches warn; strict: any missing, unexpected or shape "
                      "mismatch fails; subset: missing allowed, no match or extra checkpoint "
                      "weights fail")
      ->check(CLI::IsMember({"default", "strict", "subset"}));
  command->add_option("--adapter", options->adapter,
                      "Layout adapter from checkpoint to native tensors: a name (mixtral, "
                      "qwen_moe, deepseek_v3, nemotron_h, qwen3_5_moe, granitemoe, gpt_oss), auto "
                      "(from config.json's model_type) or none; default: the manifest's "
                      "\"adapter\", else none");
  command->add_option("--rank", options->rank,
                      "This process's rank, from 0; overrides the manifest's \"rank\"");
  command->add_option("--world-size", options->world_size,
                      "Number of ranks the model is sharded over; overrides the manifest's "
                      "\"world_size\"")
      ->check(CLI::PositiveNumber);
  AddFormatOption(command, &options->format);
  command->add_flag("--verbose,-v", options->verbose, "Also print info messages to stderr");
  AddStrictIndexFlag(command, &options->strict_index);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "safeckpt: inspect, check, load, convert and compare Hugging Face safetensors "
      "checkpoints.\n"
      "Exit codes: 0 success, 1 a mismatch the policy rejects (compare: the checkpoints "
      "differ), 2 usage error, 3 invalid or unreadable checkpoint, 4 an output could not "
      "be written."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "safeckpt 0.1.0");

  safeckpt::cli::InspectOptions inspect;
  CLI::App* inspect_command =
      app.add_subcommand("inspect", "List tensors, dtypes, sizes and shards of a checkpoint");
  inspect_command->add_option("checkpoint", inspect.checkpoint, "Checkpoint file or directory")
      ->required();
  AddFormatOption(inspect_command, &inspect.format);
  inspect_command->add_flag("--all", inspect.all, "List every tensor on its own line");
  AddStrictIndexFlag(inspect_command, &inspect.strict_index);

  safeckpt::cli::ReconcileOptions check;
  CLI::App* check_command = app.add_subcommand(
      "check",
      "Validate a checkpoint; with --model, also print its load report against a manifest "
      "without reading tensor data");
  AddReconcileOptions(check_command, &check, /*manifest_required=*/false);

  safeckpt::cli::LoadCommandOptions load;
  CLI::App* load_command = app.add_subcommand(
      "load", "Load a checkpoint into memory shaped as a manifest says and print the load report");
  AddReconcileOptions(load_command, &load.reconcile, /*manifest_required=*/true);
  load_command
      ->add_option("--threads", load.threads, "Worker threads, 1 to 1024 (default: one per core)")
      ->check(CLI::Range(1, 1024));
  load_command
      ->add_option("--staging-mib", load.staging_mib,
                   "Memory for conversion staging buffers, in MiB (default 64)")
      ->check(CLI::Range(1, 65536));
  load_command->add_flag("--checksums", load.checksums,
                         "Add the SHA-256 of each loaded tensor's bytes to the report");
  load_command->add_flag("--prefault", load.prefault,
                         "Write every destination page before loading, as a model whose "
                         "parameters are already initialized; the report then times only the load");

  safeckpt::cli::ManifestOptions manifest;
  CLI::App* manifest_command = app.add_subcommand(
      "manifest", "Write a manifest that matches a checkpoint exactly, for editing");
  manifest_command->add_option("checkpoint", manifest.checkpoint, "Checkpoint file or directory")
      ->required();
  manifest_command->add_option("--output,-o", manifest.output,
                               "Write to this file instead of standard output");

  safeckpt::cli::ConvertCommandOptions convert;
  CLI::App* convert_command = safeckpt::cli::AddConvertCommand(app, convert);

  safeckpt::cli::CompareCommandOptions compare;
  CLI::App* compare_command = safeckpt::cli::AddCompareCommand(app, compare);

  if (std::string unknown = CheckSubcommandName(app, argc, argv); !unknown.empty()) {
    std::fprintf(stderr, "safeckpt: error: %s\n", unknown.c_str());
    return safeckpt::cli::kExitUsage;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return ReportParseError(app, error);
  }
  RaiseOpenFileLimit();

  if (*inspect_command) return safeckpt::cli::RunInspect(inspect);
  if (*check_command) return safeckpt::cli::RunCheck(check);
  if (*load_command) return safeckpt::cli::RunLoad(load);
  if (*manifest_command) return safeckpt::cli::RunManifest(manifest);
  if (*convert_command) return safeckpt::cli::RunConvert(convert);
  if (*compare_command) return safeckpt::cli::RunCompare(compare);
  return safeckpt::cli::kExitUsage;
}
