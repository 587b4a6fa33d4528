#include "save/checkpoint_transaction.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>  // renameat2, RENAME_NOREPLACE, RENAME_EXCHANGE (glibc 2.28 and later)
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <set>

#include "format/quote.h"
#include "io/file.h"
#include "safeckpt/checkpoint.h"

namespace safeckpt::internal {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kSafetensorsExtension = ".safetensors";

std::string TempSuffix() { return ".tmp-" + std::to_string(::getpid()); }

// A sibling of `destination` that only this process uses:
// "<parent>/.<name>.safeckpt-<purpose>-<pid>".
std::string SiblingPath(const std::string& destination, std::string_view purpose) {
  fs::path path(destination);
  std::string name = "." + path.filename().string() + ".safeckpt-" + std::string(purpose) + "-" +
                     std::to_string(::getpid());
  return (path.parent_path() / name).string();
}

std::string ParentOf(const std::string& path) {
  std::string parent = fs::path(path).parent_path().string();
  return parent.empty() ? "." : parent;
}

// Fsyncs a directory so the renames and unlinks in it survive a crash. File
// systems that cannot fsync a directory report EINVAL, which is ignored.
Status FsyncDirectory(const std::string& directory) {
  int fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return IoError(ErrorId::kWriteFailed, SystemErrorMessage("cannot open directory", directory, errno));
  }
  int result = ::fsync(fd);
  int error = errno;
  ::close(fd);
  if (result != 0 && error != EINVAL) {
    return IoError(ErrorId::kWriteFailed, WriteErrorMessage("fsync failed on directory", directory, error));
  }
  return Status::Ok();
}

bool RenameUnsupported(int error) {
  return error == EINVAL || error == ENOSYS || error == EOPNOTSUPP;
}

// Renames `from` to `to` unless `to` exists. RENAME_NOREPLACE makes the check
// and the rename one step; file systems without it get a check, then a
// plain rename.
Status RenameNoReplace(const std::string& from, const std::string& to) {
  int result = ::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE);
  if (result != 0 && RenameUnsupported(errno)) {
    std::error_code error;
    if (fs::exists(fs::symlink_status(to, error))) {
      errno = EEXIST;
      result = -1;
    } else {
      result = ::rename(from.c_str(), to.c_str());
    }
  }
  if (result != 0) {
    int error = errno;
    std::string message = SystemErrorMessage("cannot rename '" + from + "' to", to, error);
    if (error == EEXIST || error == ENOTEMPTY) {
      message += "; another process created it meanwhile";
    }
    return IoError(ErrorId::kWriteFailed, message);
  }
  return Status::Ok();
}

bool IsTempName(std::string_view name) {
  size_t at = name.rfind(".tmp-");
  if (at == std::string_view::npos || at + 5 == name.size()) return false;
  return name.find_first_not_of("0123456789", at + 5) == std::string_view::npos;
}

// The first path component of a relative file name ("a/b.safetensors" -> "a").
std::string TopComponent(std::string_view name) {
  return std::string(name.substr(0, name.find('/')));
}

// Names at the top of `directory` that belong to the checkpoint in it (or to
// an interrupted write): the index and the files it names, the marker,
// *.safetensors files and temporary files.
std::set<std::string> CheckpointEntries(const std::string& directory) {
  std::set<std::string> entries = {std::string(kIndexFileName), std::string(kIncompleteMarkerName)};
  Result<std::string> text = ReadWholeFile((fs::path(directory) / kIndexFileName).string(), 100'000'000);
  if (text.ok()) {
    Result<CheckpointIndex> index = ParseCheckpointIndex(*text, kIndexFileName);
    if (index.ok()) {
      for (const auto& [tensor, file] : index->weight_map) entries.insert(TopComponent(file));
    }
  }

  std::error_code error;
  for (fs::directory_iterator it(directory, error), end; !error && it != end; it.increment(error)) {
    std::string name = it->path().filename().string();
    if (name.ends_with(kSafetensorsExtension) || IsTempName(name)) entries.insert(name);
  }
  return entries;
}

// Describes what in `directory` makes it hold a checkpoint, or returns an
// empty string when nothing does. `names` are the files about to be written:
// one that exists would be replaced, so it counts too.
std::string DescribeExistingCheckpoint(const std::string& directory,
                                       const std::vector<std::pair<std::string, uint64_t>>& names) {
  std::error_code error;
  fs::path root(directory);
  if (fs::exists(root / kIncompleteMarkerName, error)) {
    return "an incomplete checkpoint (the marker " + std::string(kIncompleteMarkerName) +
           " of an interrupted write)";
  }
  if (fs::exists(root / kIndexFileName, error)) return "a checkpoint (" + std::string(kIndexFileName) + ")";
  for (fs::directory_iterator it(directory, error), end; !error && it != end; it.increment(error)) {
    std::string name = it->path().filename().string();
    if (name.ends_with(kSafetensorsExtension)) return "a checkpoint file " + Quote(name);
  }
  for (const auto& [name, size] : names) {
    if (fs::exists(fs::symlink_status(root / name, error))) {
      return "a file named " + Quote(name) + ", which the new checkpoint would replace";
    }
  }
  return "";
}

// Makes `target` hold the same entry as `source` without modifying `source`:
// a hard link for a file, a copy of a symlink, and for a directory a new
// directory filled the same way. Files that cannot be linked are copied.
Status LinkOrCopy(const fs::path& source, const fs::path& target) {
  std::error_code error;
  fs::file_status status = fs::symlink_status(source, error);
  if (fs::is_symlink(status)) {
    fs::copy_symlink(source, target, error);
  } else if (fs::is_directory(status)) {
    fs::create_directory(target, error);
    for (fs::directory_iterator it(source, error), end; !error && it != end; it.increment(error)) {
      SAFECKPT_RETURN_IF_ERROR(LinkOrCopy(it->path(), target / it->path().filename()));
    }
  } else {
    fs::create_hard_link(source, target, error);
    if (error) {
      error.clear();
      fs::copy_file(source, target, error);
    }
  }
  if (error) {
    return IoError(ErrorId::kWriteFailed, "cannot carry '" + source.string() + "' over into '" +
                                              target.string() + "': " + error.message());
  }
  return Status::Ok();
}

}  // namespace

std::string WriteErrorMessage(std::string_view what, std::string_view path, int error) {
  std::string message = SystemErrorMessage(what, path, error);
  switch (error) {
    case ENOSPC:
      return message + "; the file system is full: free space on it or write elsewhere";
    case EDQUOT:
      return message + "; the disk quota is used up: free space or write elsewhere";
    case EFBIG:
      return message + "; the file would exceed the file size limit (see ulimit -f) or the "
                       "largest file the file system allows";
    default:
      return message;
  }
}

Result<std::unique_ptr<CheckpointTransaction>> CheckpointTransaction::Begin(
    const std::string& destination, bool single_file,
    const std::vector<std::pair<std::string, uint64_t>>& files, bool overwrite, Logger* logger) {
  std::unique_ptr<CheckpointTransaction> transaction(new CheckpointTransaction());
  transaction->logger_ = logger;

  // A directory is resolved (".", trailing slashes, symlinks) so the
  // siblings and the swap act on the real directory rather than on a link to
  // it. A file destination that is a symlink is replaced as a link, so the
  // file it points to (a blob in the Hugging Face cache, say) stays intact.
  std::error_code error;
  fs::path absolute = fs::absolute(destination, error);
  fs::path resolved = single_file ? absolute.lexically_normal() : fs::weakly_canonical(absolute, error);
  if (error) {
    return IoError(ErrorId::kWriteFailed, "cannot resolve destination '" + destination + "': " + error.message());
  }
  transaction->destination_ = resolved.string();
  while (transaction->destination_.size() > 1 && transaction->destination_.ends_with('/')) {
    transaction->destination_.pop_back();
  }

  for (const auto& [name, size] : files) transaction->files_.push_back(PendingFile{name, size, "", "", -1});
  if (single_file) {
    SAFECKPT_RETURN_IF_ERROR(transaction->PrepareFile(destination, overwrite));
  } else {
    SAFECKPT_RETURN_IF_ERROR(transaction->PrepareDirectory(destination, overwrite, files));
  }

  for (PendingFile& file : transaction->files_) {
    file.final_path = transaction->mode_ == Mode::kFile
                          ? transaction->destination_
                          : (fs::path(transaction->working_dir_) / file.name).string();
    file.temp_path = file.final_path + TempSuffix();
  }
  return transaction;
}

namespace {

// Rejects a destination that is a symlink to nothing: writing would either
// replace the link or fail halfway, and neither is what its owner meant.
Status CheckNotDanglingLink(const std::string& destination) {
  std::error_code error;
  if (!fs::is_symlink(fs::symlink_status(destination, error))) return Status::Ok();
  if (fs::exists(fs::status(destination, error))) return Status::Ok();
  std::string target = fs::read_symlink(destination, error).string();
  return InvalidArgument(ErrorId::kDestinationExists,
                         "destination '" + destination + "' is a symbolic link to '" + target +
                             "', which does not exist; remove the link or choose another "
                             "destination");
}

}  // namespace

Status CheckpointTransaction::PrepareFile(const std::string& destination, bool overwrite) {
  mode_ = Mode::kFile;
  SAFECKPT_RETURN_IF_ERROR(CheckNotDanglingLink(destination_));
  std::error_code error;
  fs::file_status status = fs::status(destination_, error);
  if (fs::is_directory(status)) {
    return InvalidArgument(ErrorId::kDestinationExists,
                           "destination '" + destination + "' is a directory, not a file");
  }
  if (fs::exists(status) && !fs::is_regular_file(status)) {
    return InvalidArgument(ErrorId::kDestinationExists,
                           "destination '" + destination +
                               "' exists and is not a regular file (a device, FIFO or socket); "
                               "choose another destination");
  }
  if (fs::exists(status) && !overwrite) {
    return FailedPrecondition(ErrorId::kDestinationExists,
                              "destination '" + destination +
                                  "' exists; pass --force to replace it once the new file is complete");
  }
  replaces_existing_ = fs::exists(status);
  working_dir_ = ParentOf(destination_);
  fs::create_directories(working_dir_, error);
  if (error) {
    return IoError(ErrorId::kWriteFailed, "cannot create directory '" + working_dir_ + "': " + error.message());
  }
  return Status::Ok();
}

Status CheckpointTransaction::PrepareDirectory(
    const std::string& destination, bool overwrite,
    const std::vector<std::pair<std::string, uint64_t>>& files) {
  WarnAboutLeftovers();
  SAFECKPT_RETURN_IF_ERROR(CheckNotDanglingLink(destination_));
  std::error_code error;
  fs::file_status status = fs::status(destination_, error);
  if (!fs::exists(status)) {
    mode_ = Mode::kDirectory;
    return CreateNewDirectory();
  }
  if (!fs::is_directory(status)) {
    return InvalidArgument(ErrorId::kDestinationExists,
                           "destination '" + destination +
                               "' exists and is not a directory; a checkpoint with several files "
                               "needs a directory (give a path ending in .safetensors for one file)");
  }

  std::string existing = DescribeExistingCheckpoint(destination_, files);
  if (existing.empty()) {
    mode_ = Mode::kDirectory;
    working_dir_ = destination_;
    return WriteMarker(working_dir_);
  }
  if (!overwrite) {
    return FailedPrecondition(ErrorId::kDestinationExists,
                              "destination '" + destination + "' contains " + existing +
                                  "; pass --force to replace it once the new checkpoint is complete, "
                                  "or choose another destination");
  }
  mode_ = Mode::kReplace;
  replaces_existing_ = true;
  return CreateStagingDirectory();
}

Status CheckpointTransaction::CreateNewDirectory() {
  std::string parent = ParentOf(destination_);
  std::error_code error;
  fs::create_directories(parent, error);
  if (error) {
    return IoError(ErrorId::kWriteFailed, "cannot create directory '" + parent + "': " + error.message());
  }

  // The directory appears under its final name only with the marker inside.
  std::string staging = SiblingPath(destination_, "new");
  if (::mkdir(staging.c_str(), 0755) != 0) {
    return IoError(ErrorId::kWriteFailed, WriteErrorMessage("cannot create directory", staging, errno));
  }
  Status status = WriteMarker(staging);
  if (status.ok()) status = RenameNoReplace(staging, destination_);
  if (!status.ok()) {
    fs::remove_all(staging, error);
    marker_written_ = false;
    return status;
  }
  created_destination_ = true;
  working_dir_ = destination_;
  return FsyncDirectory(parent);
}

Status CheckpointTransaction::CreateStagingDirectory() {
  working_dir_ = SiblingPath(destination_, "staging");
  if (::mkdir(working_dir_.c_str(), 0755) != 0) {
    return IoError(ErrorId::kWriteFailed, WriteErrorMessage("cannot create directory", working_dir_, errno));
  }
  Log(LogLevel::kInfo, "writing the new checkpoint into '" + working_dir_ +
                           "'; it replaces '" + destination_ + "' once complete");
  return WriteMarker(working_dir_);
}

Status CheckpointTransaction::WriteMarker(const std::string& directory) {
  std::string text = "safeckpt (pid " + std::to_string(::getpid()) +
                     ") is writing a checkpoint in this directory. While this file exists the "
                     "checkpoint is incomplete. If no safeckpt process is running, the write was "
                     "interrupted: write the checkpoint again.\n";
  std::string path = (fs::path(directory) / kIncompleteMarkerName).string();
  SAFECKPT_ASSIGN_OR_RETURN(AtomicFileWriter writer, AtomicFileWriter::Create(path));
  SAFECKPT_RETURN_IF_ERROR(writer.Append(text.data(), text.size()));
  SAFECKPT_RETURN_IF_ERROR(writer.Commit());
  marker_written_ = true;
  return Status::Ok();
}

void CheckpointTransaction::WarnAboutLeftovers() const {
  fs::path path(destination_);
  std::string prefix = "." + path.filename().string() + ".safeckpt-";
  std::error_code error;
  for (fs::directory_iterator it(ParentOf(destination_), error), end; !error && it != end;
       it.increment(error)) {
    std::string name = it->path().filename().string();
    if (name.starts_with(prefix)) {
      Log(LogLevel::kWarning, "'" + it->path().string() +
                                  "' is left over from an interrupted write; delete it when no "
                                  "safeckpt process is writing '" + destination_ + "'");
    }
  }
}

Status CheckpointTransaction::CreateParentDirectories(const std::string& name) {
  fs::path relative = fs::path(name).parent_path();
  fs::path current(working_dir_);
  for (const fs::path& component : relative) {
    current /= component;
    std::error_code error;
    if (fs::is_directory(current, error)) continue;
    if (::mkdir(current.c_str(), 0755) != 0) {
      return IoError(ErrorId::kWriteFailed, WriteErrorMessage("cannot create directory", current.string(), errno));
    }
    created_dirs_.push_back(current.string());
  }
  return Status::Ok();
}

Status CheckpointTransaction::CreateFiles(bool reserve) {
  for (PendingFile& file : files_) {
    if (mode_ != Mode::kFile) SAFECKPT_RETURN_IF_ERROR(CreateParentDirectories(file.name));
    file.fd = ::open(file.temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (file.fd < 0) {
      return IoError(ErrorId::kWriteFailed, WriteErrorMessage("cannot create", file.temp_path, errno));
    }
    if (!reserve || file.size == 0) continue;

    int result = 0;
    do {
      result = ::fallocate(file.fd, 0, 0, static_cast<off_t>(file.size));
    } while (result != 0 && errno == EINTR);
    if (result != 0 && errno != EOPNOTSUPP && errno != ENOSYS) {
      return IoError(ErrorId::kWriteFailed,
                     WriteErrorMessage("cannot reserve " + std::to_string(file.size) + " bytes for",
                                       file.temp_path, errno));
    }
  }
  return Status::Ok();
}

Status CheckpointTransaction::SyncFile(size_t i) {
  PendingFile& file = files_[i];
  if (::fsync(file.fd) != 0) {
    return IoError(ErrorId::kWriteFailed, WriteErrorMessage("fsync failed on", file.temp_path, errno));
  }
  return Status::Ok();
}

void CheckpointTransaction::CloseFiles() {
  for (PendingFile& file : files_) {
    if (file.fd >= 0) ::close(file.fd);
    file.fd = -1;
  }
}

Status CheckpointTransaction::RenameFiles() {
  for (PendingFile& file : files_) {
    int result = ::close(file.fd);
    file.fd = -1;
    if (result != 0) {
      return IoError(ErrorId::kWriteFailed, WriteErrorMessage("close failed on", file.temp_path, errno));
    }
  }

  std::set<std::string> directories = {working_dir_};
  for (PendingFile& file : files_) {
    if (mode_ == Mode::kFile) {
      // Begin() checked that the destination may be replaced.
      if (::rename(file.temp_path.c_str(), file.final_path.c_str()) != 0) {
        return IoError(ErrorId::kWriteFailed,
                       SystemErrorMessage("cannot rename '" + file.temp_path + "' to", file.final_path, errno));
      }
    } else {
      SAFECKPT_RETURN_IF_ERROR(RenameNoReplace(file.temp_path, file.final_path));
    }
    renamed_.push_back(file.final_path);
    directories.insert(ParentOf(file.final_path));
  }
  if (mode_ == Mode::kFile) committed_ = true;

  for (const std::string& directory : directories) SAFECKPT_RETURN_IF_ERROR(FsyncDirectory(directory));
  return Status::Ok();
}

Status CheckpointTransaction::WriteIndex(std::string_view text) {
  std::string path = (fs::path(working_dir_) / kIndexFileName).string();
  SAFECKPT_ASSIGN_OR_RETURN(AtomicFileWriter writer, AtomicFileWriter::Create(path));
  index_path_ = path;
  Status status = writer.Append(text.data(), text.size());
  if (status.ok()) status = writer.Commit();
  if (!status.ok()) {
    return IoError(ErrorId::kWriteFailed, status.message());
  }
  return Status::Ok();
}

Status CheckpointTransaction::Commit() {
  if (mode_ == Mode::kFile) return Status::Ok();

  if (mode_ == Mode::kReplace) {
    std::set<std::string> skip = CheckpointEntries(destination_);
    for (const PendingFile& file : files_) skip.insert(TopComponent(file.name));
    std::error_code error;
    for (fs::directory_iterator it(destination_, error), end; !error && it != end; it.increment(error)) {
      if (skip.count(it->path().filename().string()) != 0) continue;
      SAFECKPT_RETURN_IF_ERROR(LinkOrCopy(it->path(), fs::path(working_dir_) / it->path().filename()));
    }
  }

  std::string marker = (fs::path(working_dir_) / kIncompleteMarkerName).string();
  if (::unlink(marker.c_str()) != 0) {
    return IoError(ErrorId::kWriteFailed, SystemErrorMessage("cannot remove the marker", marker, errno));
  }
  marker_written_ = false;
  SAFECKPT_RETURN_IF_ERROR(FsyncDirectory(working_dir_));
  if (mode_ == Mode::kDirectory) {
    committed_ = true;
    return Status::Ok();
  }
  return SwapIntoPlace();
}

Status CheckpointTransaction::SwapIntoPlace() {
  std::string parent = ParentOf(destination_);
  std::string old_checkpoint = working_dir_;
  if (::renameat2(AT_FDCWD, working_dir_.c_str(), AT_FDCWD, destination_.c_str(), RENAME_EXCHANGE) != 0) {
    if (!RenameUnsupported(errno)) {
      return IoError(ErrorId::kWriteFailed,
                     SystemErrorMessage("cannot swap the new checkpoint '" + working_dir_ + "' with",
                                        destination_, errno));
    }
    // NOTE: without RENAME_EXCHANGE (some network file systems) the
    // destination does not exist between the two renames. A crash there
    // leaves the old checkpoint complete under the "old" sibling name.
    old_checkpoint = SiblingPath(destination_, "old");
    SAFECKPT_RETURN_IF_ERROR(RenameNoReplace(destination_, old_checkpoint));
    Status status = RenameNoReplace(working_dir_, destination_);
    if (!status.ok()) {
      ::rename(old_checkpoint.c_str(), destination_.c_str());
      return status;
    }
  }
  committed_ = true;
  SAFECKPT_RETURN_IF_ERROR(FsyncDirectory(parent));

  std::error_code error;
  fs::remove_all(old_checkpoint, error);
  if (error) {
    Log(LogLevel::kWarning, "the new checkpoint is in place, but the old one could not be removed "
                            "from '" + old_checkpoint + "': " + error.message() + "; delete it");
  }
  return Status::Ok();
}

void CheckpointTransaction::RollBack() {
  CloseFiles();
  if (working_dir_.empty()) return;  // Begin() failed before creating anything
  std::error_code error;
  if (mode_ == Mode::kReplace) {
    fs::remove_all(working_dir_, error);
    return;
  }

  for (const PendingFile& file : files_) ::unlink(file.temp_path.c_str());
  if (mode_ == Mode::kFile) return;

  // The marker goes last, so a crash during the rollback still leaves the
  // directory marked incomplete.
  if (!index_path_.empty()) ::unlink(index_path_.c_str());
  for (const std::string& path : renamed_) ::unlink(path.c_str());
  for (auto it = created_dirs_.rbegin(); it != created_dirs_.rend(); ++it) ::rmdir(it->c_str());
  if (marker_written_) {
    ::unlink((fs::path(working_dir_) / kIncompleteMarkerName).c_str());
  }
  (void)FsyncDirectory(working_dir_);
  if (created_destination_ && ::rmdir(destination_.c_str()) == 0) {
    (void)FsyncDirectory(ParentOf(destination_));
  }
}

CheckpointTransaction::~CheckpointTransaction() {
  if (!committed_) RollBack();
  CloseFiles();
}

void CheckpointTransaction::Log(LogLevel level, const std::string& message) const {
  if (logger_ != nullptr) logger_->Log(level, message);
}

}  // namespace safeckpt::internal
