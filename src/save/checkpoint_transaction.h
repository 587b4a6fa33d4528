// The crash-safe destination of the checkpoint writer: temporary files, the
// incomplete marker, the renames that publish the files and the rollback
// that removes them after a failure.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "safeckpt/logger.h"
#include "safeckpt/status.h"

namespace safeckpt::internal {

// A file being written under a temporary name.
struct PendingFile {
  std::string name;        // final name, relative to the checkpoint directory
  uint64_t size = 0;       // final size in bytes, reserved when the file is created
  std::string temp_path;   // "<final_path>.tmp-<pid>"
  std::string final_path;
  int fd = -1;             // open for writing between CreateFiles() and RenameFiles()
};

// Writes one checkpoint to a destination so that a crash at any point
// leaves either what was there before or an unmistakably incomplete
// directory, never a checkpoint that looks complete but is not.
//
// Use: Begin(), CreateFiles(), write every file through its descriptor,
// SyncFile() each, RenameFiles(), WriteIndex() when there is an index,
// Commit(). Destroying the transaction before Commit() succeeds removes
// everything it wrote and leaves the destination as it was.
//
// Thread safety: SyncFile() and writes through the descriptors may run
// concurrently for distinct files; every other call must come from one
// thread at a time.
class CheckpointTransaction {
 public:
  // The way the destination is written, which Begin() chooses from what is
  // there.
  enum class Mode {
    kFile,       // one .safetensors file, renamed over the destination path
    kDirectory,  // files written into the destination directory, which is
                 // new or contains no checkpoint, with the marker meanwhile
    kReplace,    // a staging directory beside an existing checkpoint,
                 // swapped with it on commit
  };

  // Checks the destination and prepares it. `files` are the names (relative
  // to the checkpoint directory; for a file destination, its base name) and
  // sizes of every file to write. Fails with kFailedPrecondition when the
  // destination contains a checkpoint (or is an existing file, for a file
  // destination) and `overwrite` is false, and with kInvalidArgument when a
  // directory destination is an existing file.
  static Result<std::unique_ptr<CheckpointTransaction>> Begin(
      const std::string& destination, bool single_file,
      const std::vector<std::pair<std::string, uint64_t>>& files, bool overwrite,
      Logger* logger);

  ~CheckpointTransaction();
  CheckpointTransaction(const CheckpointTransaction&) = delete;
  CheckpointTransaction& operator=(const CheckpointTransaction&) = delete;

  Mode mode() const { return mode_; }

  // True when the commit replaces an existing checkpoint or file.
  bool replaces_existing() const { return replaces_existing_; }

  // Creates every temporary file (and missing subdirectories). With
  // `reserve`, reserves each file's final size with fallocate, so a full file
  // system fails here, before any data is copied. File systems without
  // fallocate skip the reservation.
  Status CreateFiles(bool reserve = true);

  std::vector<PendingFile>& files() { return files_; }

  // Fsyncs file `i`.
  Status SyncFile(size_t i);

  // Closes every file, renames each to its final name without replacing an
  // existing file (a file destination with overwrite is replaced), then
  // fsyncs the directories.
  Status RenameFiles();

  // Writes model.safetensors.index.json (temporary name, fsync, rename,
  // directory fsync). Call after RenameFiles().
  Status WriteIndex(std::string_view text);

  // Completes the checkpoint: removes the marker and fsyncs the directory. In
  // kReplace mode it first links the old directory's other files into the
  // new one, and afterwards swaps the two directories and removes the old
  // checkpoint.
  Status Commit();

 private:
  CheckpointTransaction() = default;

  Status PrepareFile(const std::string& destination, bool overwrite);
  Status PrepareDirectory(const std::string& destination, bool overwrite,
                          const std::vector<std::pair<std::string, uint64_t>>& files);
  Status CreateNewDirectory();
  Status CreateStagingDirectory();
  Status WriteMarker(const std::string& directory);
  Status CreateParentDirectories(const std::string& name);
  Status SwapIntoPlace();
  void WarnAboutLeftovers() const;
  void RollBack();
  void CloseFiles();
  void Log(LogLevel level, const std::string& message) const;

  Mode mode_ = Mode::kDirectory;
  Logger* logger_ = nullptr;
  std::string destination_;   // the checkpoint directory (or file) as resolved
  std::string working_dir_;   // where files are written: destination_, its parent or staging
  std::vector<PendingFile> files_;
  std::vector<std::string> created_dirs_;  // subdirectories this transaction made, outer first
  std::vector<std::string> renamed_;       // final paths already renamed into place
  std::string index_path_;                 // set once the index is written
  bool marker_written_ = false;
  bool created_destination_ = false;
  bool replaces_existing_ = false;
  bool committed_ = false;
};

// Returns a message for a failed write, naming the path and, for a full file
// system, a file size limit or a quota, what to do.
std::string WriteErrorMessage(std::string_view what, std::string_view path, int error);

}  // namespace safeckpt::internal
