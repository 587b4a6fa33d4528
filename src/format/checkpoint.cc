// Checkpoint::Open for the three layouts: one file, a directory with an
// index, and a directory of *.safetensors files without one.
#include "safeckpt/checkpoint.h"

#include <algorithm>
#include <filesystem>
#include <string>
#include <unordered_map>
#include <vector>

#include "format/checkpoint_builder.h"
#include "format/header_file.h"
#include "format/quote.h"
#include "format/sharded_checkpoint.h"

namespace safeckpt {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kSafetensorsExtension = ".safetensors";

Result<Checkpoint> OpenFile(const std::string& path, const OpenOptions& options) {
  SAFECKPT_ASSIGN_OR_RETURN(internal::HeaderOfFile read,
                            internal::ReadHeaderOfFile(path, options.limits));
  CheckpointBuilder builder(path, /*has_index=*/false, options.logger);
  uint32_t file = builder.AddFile(fs::path(path).filename().string(), path, read);
  for (const TensorInfo& tensor : read.header.tensors) builder.AddTensor(file, tensor);
  return std::move(builder).Finish();
}

// Returns the names of the *.safetensors entries in `directory` (following
// symlinks), sorted. Subdirectories and broken symlinks are left out. A
// FIFO or device with that name is listed, and so is an entry whose target
// cannot be examined (no permission, a symlink loop), so that opening it
// reports the problem instead of the checkpoint silently lacking tensors.
Result<std::vector<std::string>> ListSafetensorsFiles(const std::string& directory) {
  std::vector<std::string> names;
  std::error_code error;
  for (fs::directory_iterator it(directory, error), end; !error && it != end; it.increment(error)) {
    std::string name = it->path().filename().string();
    bool has_extension =
        name.size() > kSafetensorsExtension.size() && name.ends_with(kSafetensorsExtension);
    std::error_code type_error;
    fs::file_status status = it->status(type_error);
    bool listed = type_error ? status.type() != fs::file_type::not_found
                             : fs::exists(status) && !fs::is_directory(status);
    if (has_extension && listed) names.push_back(std::move(name));
  }
  if (error) {
    return IoError(ErrorId::kReadFailed,
                   "cannot list directory '" + directory + "': " + error.message());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// Opens every *.safetensors file of a directory that has no index. Each
// tensor must then be in exactly one file, because no index chooses
// between copies.
Result<Checkpoint> OpenUnindexedDirectory(const std::string& directory,
                                          const OpenOptions& options) {
  SAFECKPT_ASSIGN_OR_RETURN(std::vector<std::string> names, ListSafetensorsFiles(directory));
  if (names.empty()) {
    return NotFound(ErrorId::kNoSafetensorsFiles, directory + ": the directory has neither " +
                                                      std::string(kIndexFileName) +
                                                      " nor any *.safetensors file");
  }

  CheckpointBuilder builder(directory, /*has_index=*/false, options.logger);
  std::unordered_map<std::string, std::string_view> file_of;
  for (const std::string& name : names) {
    std::string path = (fs::path(directory) / name).string();
    SAFECKPT_ASSIGN_OR_RETURN(internal::HeaderOfFile read,
                              internal::ReadHeaderOfFile(path, options.limits));
    uint32_t file = builder.AddFile(name, path, read);

    for (const TensorInfo& tensor : read.header.tensors) {
      auto [previous, inserted] = file_of.emplace(tensor.name, name);
      if (!inserted) {
        return Corruption(ErrorId::kTensorInTwoFiles,
                          directory + ": tensor " + internal::Quote(tensor.name) + " is in both " +
                              internal::Quote(previous->second) + " and " + internal::Quote(name) +
                              "; without an index each tensor must be in exactly one file "
                              "(add a model.safetensors.index.json to choose one)");
      }
      builder.AddTensor(file, tensor);
    }
  }
  return std::move(builder).Finish();
}

// Returns whether `directory` has an entry named `name`, of any type: a
// broken symlink counts, so an index that cannot be read is reported
// instead of the directory opening as one without an index.
Result<bool> HasEntry(const std::string& directory, std::string_view name) {
  std::error_code error;
  fs::path path = fs::path(directory) / name;
  fs::file_status status = fs::symlink_status(path, error);
  if (status.type() == fs::file_type::not_found) return false;
  if (error) {
    return IoError(ErrorId::kReadFailed,
                   "cannot examine '" + path.string() + "': " + error.message());
  }
  return true;
}

Result<Checkpoint> OpenDirectory(const std::string& directory, const OpenOptions& options) {
  SAFECKPT_ASSIGN_OR_RETURN(bool incomplete, HasEntry(directory, kIncompleteMarkerName));
  if (incomplete) {
    return FailedPrecondition(
        ErrorId::kIncompleteCheckpoint,
        directory + ": incomplete checkpoint: a writer did not finish (the marker file " +
            std::string(kIncompleteMarkerName) + " is present); save the checkpoint again, " +
            "or delete the marker only if you know every file is complete");
  }
  SAFECKPT_ASSIGN_OR_RETURN(bool indexed, HasEntry(directory, kIndexFileName));
  if (indexed) return internal::OpenIndexedDirectory(directory, options);
  return OpenUnindexedDirectory(directory, options);
}

}  // namespace

Result<Checkpoint> Checkpoint::Open(const std::string& path, const OpenOptions& options) {
  std::error_code error;
  fs::file_status status = fs::status(path, error);
  if (status.type() == fs::file_type::not_found) {
    return NotFound(ErrorId::kReadFailed, "checkpoint '" + path +
                                              "' not found: no file or "
                                              "directory has that name");
  }
  if (error) {
    return IoError(ErrorId::kReadFailed,
                   "cannot open checkpoint '" + path + "': " + error.message());
  }
  if (fs::is_directory(status)) return OpenDirectory(path, options);
  return OpenFile(path, options);
}

const CheckpointTensor* Checkpoint::Find(std::string_view name) const {
  auto found = std::lower_bound(
      tensors_.begin(), tensors_.end(), name,
      [](const CheckpointTensor& tensor, std::string_view key) { return tensor.name < key; });
  if (found == tensors_.end() || found->name != name) return nullptr;
  return &*found;
}

uint64_t Checkpoint::tensor_bytes() const {
  uint64_t total = 0;
  for (const CheckpointTensor& tensor : tensors_) total += tensor.nbytes;
  return total;
}

}  // namespace safeckpt
