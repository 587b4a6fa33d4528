// The safeckpt subcommands. Each returns the process exit code.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "safeckpt/key_rules.h"
#include "safeckpt/load_report.h"
#include "safeckpt/status.h"

namespace CLI {
class App;
}

namespace safeckpt::cli {

// Exit codes shared by every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitRejected = 1;     // the policy rejects the load, or inputs differ
inline constexpr int kExitUsage = 2;        // bad options, manifest or rules
inline constexpr int kExitBadCheckpoint = 3;  // invalid or unreadable checkpoint
inline constexpr int kExitWriteFailed = 4;    // an output file or standard output could not be written

enum class OutputFormat { kText, kJson };

struct InspectOptions {
  std::string checkpoint;
  OutputFormat format = OutputFormat::kText;
  bool all = false;  // list every tensor instead of grouped lines
  bool strict_index = false;  // OpenOptions::strict_index
};

struct ReconcileOptions {
  std::string checkpoint;
  std::string manifest;
  std::vector<std::string> rename_pairs;  // flattened: pattern, replacement, ...
  std::vector<std::string> bookkeeping;
  std::string policy = "default";
  OutputFormat format = OutputFormat::kText;
  bool verbose = false;
  // Override the manifest's "rank" and "world_size" when set.
  std::optional<uint32_t> rank;
  std::optional<uint32_t> world_size;
  // --adapter: NAME, auto or none; empty uses the manifest's "adapter".
  std::string adapter;
  bool strict_index = false;  // OpenOptions::strict_index
};

struct LoadCommandOptions {
  ReconcileOptions reconcile;
  uint32_t threads = 0;
  uint64_t staging_mib = 64;
  bool checksums = false;
  bool prefault = false;  // touch destination memory before the load starts
};

struct ManifestOptions {
  std::string checkpoint;
  std::string output;  // empty: stdout
};

struct ConvertCommandOptions {
  std::string source;
  std::string destination;
  std::string max_shard_size;             // as given; empty: the default
  std::string layout_from;                // index file or directory; empty: none
  std::string dtype;                      // empty: keep dtypes
  std::vector<std::string> dtype_for;     // flattened: pattern, dtype, ...
  std::vector<std::string> exclude;
  bool keep_bookkeeping = false;          // drop the default exclusion
  std::vector<std::string> rename_pairs;  // flattened: pattern, replacement, ...
  bool force = false;
  uint32_t threads = 0;
  OutputFormat format = OutputFormat::kText;
  bool verbose = false;
};

struct CompareCommandOptions {
  std::string a;
  std::string b;
  std::vector<std::string> rename_pairs;  // flattened: pattern, replacement, ...
  std::vector<std::string> exclude;
  double rtol = 0;
  double atol = 0;
  bool ignore_dtype = false;
  uint32_t max_differences = 5;
  uint32_t threads = 0;
  OutputFormat format = OutputFormat::kText;
};

// Register the convert and compare subcommands and their options on `app`
// and return them.
CLI::App* AddConvertCommand(CLI::App& app, ConvertCommandOptions& options);
CLI::App* AddCompareCommand(CLI::App& app, CompareCommandOptions& options);

int RunInspect(const InspectOptions& options);
int RunConvert(const ConvertCommandOptions& options);
int RunCompare(const CompareCommandOptions& options);
int RunCheck(const ReconcileOptions& options);
int RunLoad(const LoadCommandOptions& options);
int RunManifest(const ManifestOptions& options);

// Writes `text` to stdout and flushes it. Fails when the write does not
// complete (a full disk, a closed pipe), so no command exits 0 with its
// output lost.
Status WriteStdout(std::string_view text);

// Prints "safeckpt: error: <message>" to stderr and returns `exit_code`.
int ReportError(const Status& status, int exit_code);

}  // namespace safeckpt::cli
