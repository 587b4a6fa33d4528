// check, load and manifest: the subcommands that reconcile a checkpoint with
// a model manifest.
#include "cli/commands.h"

#include <fmt/core.h>

#include <sys/mman.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <thread>
#include <optional>
#include <variant>

#include "core/json_writer.h"
#include "core/terminal_text.h"
#include "io/file.h"
#include "safeckpt/adapter.h"
#include "safeckpt/checkpoint.h"
#include "safeckpt/loader.h"
#include "safeckpt/logger.h"
#include "safeckpt/manifest.h"
#include "safeckpt/sharding.h"

namespace safeckpt::cli {
namespace {

// Exit code for an error from opening or reading a checkpoint.
int ExitCodeForLoadError(const Status& status) {
  // Destination memory that cannot be allocated is an output that cannot be
  // written, not a mismatch between model and checkpoint.
  if (status.id() == ErrorId::kDestinationInvalid && status.code() == StatusCode::kIoError) {
    return kExitWriteFailed;
  }
  switch (status.id()) {
    case ErrorId::kRuleInvalid:
    case ErrorId::kManifestInvalid:
    case ErrorId::kSliceInvalid:
    case ErrorId::kAdapterInvalid:
      return kExitUsage;
    case ErrorId::kUnsupportedConversion:
    case ErrorId::kDestinationInvalid:
      return kExitRejected;
    default:
      return kExitBadCheckpoint;
  }
}

Status PrintReport(const LoadReport& report, OutputFormat format) {
  std::string text = format == OutputFormat::kJson ? FormatReportJson(report) : FormatReportText(report);
  if (text.empty() || text.back() != '\n') text.push_back('\n');
  return WriteStdout(text);
}

// Everything a reconciling command needs, opened and validated.
struct Inputs {
  Checkpoint checkpoint;
  Manifest manifest;
  LoadOptions options;
};

// Applies --rank and --world-size over the manifest's own values.
Status ApplyRankOptions(const ReconcileOptions& options, Manifest& manifest) {
  if (!options.rank && !options.world_size) return Status::Ok();
  if (options.rank) manifest.sharding.rank = *options.rank;
  if (options.world_size) manifest.sharding.world_size = *options.world_size;
  return ApplySharding(manifest.sharding, manifest.model);
}

// Opens the checkpoint and the manifest and builds load options, or returns
// the exit code of the first failure (already reported).
std::variant<Inputs, int> OpenInputs(const ReconcileOptions& options, Logger* logger) {
  if (options.rename_pairs.size() % 2 != 0) {
    return ReportError(InvalidArgument(ErrorId::kRuleInvalid,
                                       "--rename takes two values, PATTERN and REPLACEMENT; '" +
                                           options.rename_pairs.back() + "' has no replacement"),
                       kExitUsage);
  }
  Result<Manifest> manifest = ReadManifest(options.manifest);
  if (!manifest.ok()) return ReportError(manifest.status(), kExitUsage);
  Status sharded = ApplyRankOptions(options, *manifest);
  if (!sharded.ok()) return ReportError(sharded, kExitUsage);

  std::optional<Policy> policy = ParsePolicy(options.policy);
  if (!policy) {
    return ReportError(InvalidArgument(ErrorId::kRuleInvalid,
                                       "unknown policy '" + options.policy +
                                           "'; accepted: default, strict, subset"),
                       kExitUsage);
  }

  OpenOptions open_options;
  open_options.logger = logger;
  open_options.strict_index = options.strict_index;
  Result<Checkpoint> checkpoint = Checkpoint::Open(options.checkpoint, open_options);
  if (!checkpoint.ok()) return ReportError(checkpoint.status(), kExitBadCheckpoint);

  LoadOptions load_options;
  load_options.policy = *policy;
  load_options.logger = logger;
  load_options.rank = manifest->sharding.rank;
  load_options.world_size = manifest->sharding.world_size;
  Result<std::string> adapter = ResolveAdapter(
      options.adapter.empty() ? manifest->adapter : options.adapter, options.checkpoint);
  if (!adapter.ok()) {
    // An unknown adapter name is a usage error. An unreadable or invalid
    // config.json belongs to the checkpoint.
    bool usage = adapter.status().id() == ErrorId::kAdapterInvalid &&
                 adapter.status().code() == StatusCode::kInvalidArgument;
    return ReportError(adapter.status(), usage ? kExitUsage : kExitBadCheckpoint);
  }
  load_options.adapter = std::move(adapter).value();
  // Command-line renames come first so they can override the manifest's.
  for (size_t i = 0; i + 1 < options.rename_pairs.size(); i += 2) {
    load_options.rules.renames.push_back({options.rename_pairs[i], options.rename_pairs[i + 1]});
  }
  for (const RenameRule& rule : manifest->renames) load_options.rules.renames.push_back(rule);
  load_options.rules.bookkeeping_patterns = options.bookkeeping;

  return Inputs{std::move(checkpoint).value(), std::move(manifest).value(), std::move(load_options)};
}

int ExitCodeForReport(const LoadReport& report) {
  return report.rejected ? kExitRejected : kExitOk;
}

// Destination memory for every expected tensor: one anonymous mapping,
// each tensor at a 64-byte aligned offset. Pages are not touched until the
// loader writes them, so tensors that are not loaded cost no memory.
//
// NOTE: faulting in fresh pages costs about as much as copying the data from
// the page cache. MADV_HUGEPAGE halves that on some runs but, with the
// kernel's default defrag setting (madvise), stalls others for seconds in
// memory compaction, so it is not used.
class Destinations {
 public:
  Destinations() = default;
  Destinations(const Destinations&) = delete;
  Destinations& operator=(const Destinations&) = delete;
  ~Destinations() {
    if (base_ != nullptr) ::munmap(base_, size_);
  }

  Status Allocate(ModelState& model) {
    constexpr uint64_t kAlignment = 64;
    uint64_t total = 0;
    for (const ExpectedTensor& tensor : model.tensors()) {
      uint64_t size = ByteSize(tensor.dtype, tensor.LocalShape()).value_or(0);
      uint64_t padded = 0;
      if (__builtin_add_overflow(size, kAlignment - 1, &padded) ||
          __builtin_add_overflow(total, padded / kAlignment * kAlignment, &total)) {
        return InvalidArgument(ErrorId::kDestinationInvalid,
                               fmt::format("the manifest's tensors need more than 2^64 bytes of "
                                           "memory (tensor '{}' has shape {}); check the shapes",
                                           tensor.name, FormatShape(tensor.LocalShape())));
      }
    }
    size_ = std::max<uint64_t>(total, kAlignment);
    void* base = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) {
      return IoError(ErrorId::kDestinationInvalid,
                     fmt::format("cannot allocate {} bytes for the model's tensors: {}", size_,
                                 std::strerror(errno)));
    }
    base_ = static_cast<uint8_t*>(base);

    uint64_t offset = 0;
    for (ExpectedTensor& tensor : model.mutable_tensors()) {
      uint64_t size = ByteSize(tensor.dtype, tensor.LocalShape()).value_or(0);
      tensor.data = base_ + offset;
      tensor.data_bytes = size;
      offset += (size + kAlignment - 1) / kAlignment * kAlignment;
    }
    return Status::Ok();
  }

  // Writes every page once, from `threads` threads, as a model whose
  // parameters were initialized before the load would have them.
  void Prefault(uint32_t threads) {
    if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
    uint64_t chunk = (size_ + threads - 1) / threads;
    std::vector<std::thread> workers;
    for (uint32_t i = 0; i < threads; ++i) {
      uint64_t begin = std::min<uint64_t>(size_, i * chunk);
      uint64_t end = std::min<uint64_t>(size_, begin + chunk);
      workers.emplace_back([this, begin, end] { std::memset(base_ + begin, 0, end - begin); });
    }
    for (std::thread& worker : workers) worker.join();
  }

 private:
  uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
};

int RunReconcile(const ReconcileOptions& options, bool read_data, uint32_t threads,
                 uint64_t staging_mib, bool checksums, bool prefault) {
  StderrLogger logger(options.verbose ? LogLevel::kInfo : LogLevel::kWarning);
  std::variant<Inputs, int> opened = OpenInputs(options, &logger);
  if (std::holds_alternative<int>(opened)) return std::get<int>(opened);
  Inputs& inputs = std::get<Inputs>(opened);

  inputs.options.read_data = read_data;
  inputs.options.threads = threads;
  inputs.options.staging_bytes = staging_mib << 20;
  inputs.options.checksums = checksums;

  Destinations destinations;
  if (read_data) {
    Status status = destinations.Allocate(inputs.manifest.model);
    if (!status.ok()) return ReportError(status, ExitCodeForLoadError(status));
    if (prefault) destinations.Prefault(threads);
  }

  Result<LoadReport> report = LoadCheckpoint(inputs.checkpoint, inputs.manifest.model, inputs.options);
  if (!report.ok()) return ReportError(report.status(), ExitCodeForLoadError(report.status()));
  Status printed = PrintReport(*report, options.format);
  if (!printed.ok()) return ReportError(printed, kExitWriteFailed);
  return ExitCodeForReport(*report);
}

}  // namespace

Status WriteStdout(std::string_view text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    return IoError(ErrorId::kWriteFailed,
                   fmt::format("cannot write to standard output: {}", std::strerror(errno)));
  }
  return Status::Ok();
}

int ReportError(const Status& status, int exit_code) {
  // Messages quote paths and names from the checkpoint. Most quotes are
  // escaped already, and escaping the whole line also covers a path from a
  // directory listing.
  std::string line = "safeckpt: error: " + internal::EscapeForTerminal(status.message()) + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
  return exit_code;
}

namespace {

// Returns `noun` with an "s" unless `count` is 1.
std::string Plural(size_t count, std::string_view noun) {
  return count == 1 ? std::string(noun) : std::string(noun) + "s";
}

// Validates the checkpoint alone, for `check` without a manifest.
int CheckStructure(const ReconcileOptions& options) {
  StderrLogger logger;
  OpenOptions open_options;
  open_options.logger = &logger;
  open_options.strict_index = options.strict_index;
  Result<Checkpoint> checkpoint = Checkpoint::Open(options.checkpoint, open_options);
  if (!checkpoint.ok()) return ReportError(checkpoint.status(), kExitBadCheckpoint);

  const size_t tensors = checkpoint->tensors().size();
  const size_t files = checkpoint->files().size();
  const size_t warnings = checkpoint->warnings().size();
  uint64_t bytes = 0;
  for (const CheckpointTensor& tensor : checkpoint->tensors()) bytes += tensor.nbytes;

  std::string text;
  if (options.format == OutputFormat::kJson) {
    internal::JsonWriter json;
    json.BeginObject();
    json.Key("valid");
    json.Bool(true);
    json.Key("tensors");
    json.Uint(tensors);
    json.Key("files");
    json.Uint(files);
    json.Key("tensor_bytes");
    json.Uint(bytes);
    json.Key("warnings");
    json.Uint(warnings);
    json.EndObject();
    text = json.Take() + "\n";
  } else {
    text = fmt::format("valid: {} {} in {} {}, {} bytes of tensor data", tensors,
                       Plural(tensors, "tensor"), files, Plural(files, "file"), bytes);
    if (warnings > 0) text += fmt::format(" ({} {} above)", warnings, Plural(warnings, "warning"));
    text += "\n";
  }
  Status written = WriteStdout(text);
  return written.ok() ? kExitOk : ReportError(written, kExitWriteFailed);
}

}  // namespace

int RunCheck(const ReconcileOptions& options) {
  if (options.manifest.empty()) return CheckStructure(options);
  return RunReconcile(options, /*read_data=*/false, 0, 64, false, false);
}

int RunLoad(const LoadCommandOptions& options) {
  return RunReconcile(options.reconcile, /*read_data=*/true, options.threads, options.staging_mib,
                      options.checksums, options.prefault);
}

int RunManifest(const ManifestOptions& options) {
  StderrLogger logger;
  OpenOptions open_options;
  open_options.logger = &logger;
  Result<Checkpoint> checkpoint = Checkpoint::Open(options.checkpoint, open_options);
  if (!checkpoint.ok()) return ReportError(checkpoint.status(), kExitBadCheckpoint);

  std::string text = FormatManifest(ManifestFromCheckpoint(*checkpoint));
  if (text.empty() || text.back() != '\n') text.push_back('\n');
  if (options.output.empty()) {
    Status written = WriteStdout(text);
    return written.ok() ? kExitOk : ReportError(written, kExitWriteFailed);
  }

  // The output is written to a temporary file renamed over the target, which
  // would replace a symlink or device node instead of writing through it.
  struct stat target;
  if (::lstat(options.output.c_str(), &target) == 0 && !S_ISREG(target.st_mode)) {
    return ReportError(InvalidArgument(ErrorId::kNotRegularFile,
                                       fmt::format("refusing to replace '{}': it exists and is not "
                                                   "a regular file; choose another output path",
                                                   options.output)),
                       kExitUsage);
  }

  Result<internal::AtomicFileWriter> writer = internal::AtomicFileWriter::Create(options.output);
  if (!writer.ok()) return ReportError(writer.status(), kExitUsage);
  Status status = writer->Append(text.data(), text.size());
  if (status.ok()) status = writer->Commit();
  if (!status.ok()) return ReportError(status, kExitUsage);
  return kExitOk;
}

}  // namespace safeckpt::cli
