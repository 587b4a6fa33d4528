#include "io/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace safeckpt::internal {

std::string SystemErrorMessage(std::string_view what, std::string_view path, int error) {
  std::string message(what);
  message += " '";
  message += path;
  message += "': ";
  message += std::strerror(error);
  return message;
}

File::File(File&& other) noexcept : fd_(other.fd_), path_(std::move(other.path_)) {
  other.fd_ = -1;
}

File& File::operator=(File&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    path_ = std::move(other.path_);
    other.fd_ = -1;
  }
  return *this;
}

File::~File() {
  if (fd_ >= 0) ::close(fd_);
}

namespace {

std::string DescribeFileType(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  char octal[16];
  std::snprintf(octal, sizeof(octal), "%o", static_cast<unsigned>(mode));
  return std::string("a special file (mode ") + octal + ")";
}

Status NotRegularFileError(const std::string& path, mode_t mode) {
  return InvalidArgument(ErrorId::kNotRegularFile,
                         "'" + path + "' is " + DescribeFileType(mode) +
                             ", not a regular file; safeckpt reads checkpoints, indexes and "
                             "manifests from regular files");
}

// Returns st_mtim in nanoseconds, saturated at the limits of int64_t,
// which a file dated after the year 2262 or before 1677 reaches.
int64_t ModificationTimeNanoseconds(const struct stat& info) {
  constexpr int64_t kNanosecondsPerSecond = 1'000'000'000;
  int64_t nanoseconds = 0;
  int64_t seconds = static_cast<int64_t>(info.st_mtim.tv_sec);
  if (__builtin_mul_overflow(seconds, kNanosecondsPerSecond, &nanoseconds) ||
      __builtin_add_overflow(nanoseconds, static_cast<int64_t>(info.st_mtim.tv_nsec),
                             &nanoseconds)) {
    return seconds < 0 ? INT64_MIN : INT64_MAX;
  }
  return nanoseconds;
}

Status ClearNonBlocking(const File& file) {
  int flags = ::fcntl(file.fd(), F_GETFL);
  if (flags < 0 || ::fcntl(file.fd(), F_SETFL, flags & ~O_NONBLOCK) != 0) {
    return IoError(ErrorId::kReadFailed,
                   SystemErrorMessage("cannot clear O_NONBLOCK on", file.path(), errno));
  }
  return Status::Ok();
}

}  // namespace

Result<File> File::OpenForRead(const std::string& path) {
  // stat first, so that a device is not even opened: opening some devices
  // has side effects, such as a tape drive rewinding. The fstat after open
  // is what decides, because the path may change in between.
  struct stat before;
  if (::stat(path.c_str(), &before) == 0 && !S_ISREG(before.st_mode)) {
    return NotRegularFileError(path, before.st_mode);
  }

  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    int error = errno;
    if (error == ENOENT) {
      return NotFound(ErrorId::kReadFailed, SystemErrorMessage("cannot open", path, error));
    }
    if (error == EMFILE || error == ENFILE) {
      // A load keeps every shard open, so a checkpoint of thousands of shards
      // can exceed a low limit.
      return IoError(ErrorId::kReadFailed,
                     SystemErrorMessage("cannot open", path, error) +
                         "; a load keeps every shard of the checkpoint open, so raise the "
                         "open-file limit (ulimit -n) above the number of shards");
    }
    return IoError(ErrorId::kReadFailed, SystemErrorMessage("cannot open", path, error));
  }
  File file(fd, path);

  struct stat info;
  if (::fstat(fd, &info) != 0) {
    return IoError(ErrorId::kReadFailed, SystemErrorMessage("cannot stat", path, errno));
  }
  if (!S_ISREG(info.st_mode)) return NotRegularFileError(path, info.st_mode);
  SAFECKPT_RETURN_IF_ERROR(ClearNonBlocking(file));
  return file;
}

Result<FileIdentity> File::Identity() const {
  struct stat info;
  if (::fstat(fd_, &info) != 0) {
    return IoError(ErrorId::kReadFailed, SystemErrorMessage("cannot stat", path_, errno));
  }
  FileIdentity identity;
  identity.device = static_cast<uint64_t>(info.st_dev);
  identity.inode = static_cast<uint64_t>(info.st_ino);
  identity.size = static_cast<uint64_t>(info.st_size);
  identity.modification_time_ns = ModificationTimeNanoseconds(info);
  return identity;
}

Result<uint64_t> File::Size() const {
  SAFECKPT_ASSIGN_OR_RETURN(FileIdentity identity, Identity());
  return identity.size;
}

Status File::ShortReadError(uint64_t offset, uint64_t length, uint64_t end_of_data) const {
  // The current size is given too, because a file truncated while open may
  // end long before the offset where this read found no data.
  Result<uint64_t> size = Size();
  std::string now = size.ok() ? "; the file is now " + std::to_string(*size) + " bytes long" : "";
  return IoError(ErrorId::kShortRead,
                 "'" + path_ + "': no data at byte " + std::to_string(end_of_data) +
                     " while reading " + std::to_string(length) + " bytes at offset " +
                     std::to_string(offset) + now + " (was it truncated or replaced while open?)");
}

Status File::ReadAt(uint64_t offset, void* buffer, uint64_t length) const {
  auto* out = static_cast<char*>(buffer);
  uint64_t done = 0;
  while (done < length) {
    // Linux transfers at most 0x7ffff000 bytes per call.
    size_t chunk = static_cast<size_t>(std::min<uint64_t>(length - done, 1ull << 30));
    ssize_t got = ::pread(fd_, out + done, chunk, static_cast<off_t>(offset + done));
    if (got < 0) {
      if (errno == EINTR) continue;
      return IoError(ErrorId::kReadFailed,
                     SystemErrorMessage("read failed at offset " + std::to_string(offset + done) +
                                            " of",
                                        path_, errno));
    }
    if (got == 0) return ShortReadError(offset, length, offset + done);
    done += static_cast<uint64_t>(got);
  }
  return Status::Ok();
}

Result<AtomicFileWriter> AtomicFileWriter::Create(const std::string& path) {
  std::string temp_path = path + ".tmp-" + std::to_string(::getpid());
  int fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return IoError(ErrorId::kWriteFailed, SystemErrorMessage("cannot create", temp_path, errno));
  }
  return AtomicFileWriter(fd, path, std::move(temp_path));
}

AtomicFileWriter::AtomicFileWriter(AtomicFileWriter&& other) noexcept
    : fd_(other.fd_),
      path_(std::move(other.path_)),
      temp_path_(std::move(other.temp_path_)),
      committed_(other.committed_) {
  other.fd_ = -1;
  other.committed_ = true;
}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(temp_path_.c_str());
}

Status AtomicFileWriter::Append(const void* data, uint64_t length) {
  const auto* in = static_cast<const char*>(data);
  while (length > 0) {
    ssize_t wrote = ::write(fd_, in, static_cast<size_t>(std::min<uint64_t>(length, 1ull << 30)));
    if (wrote < 0) {
      if (errno == EINTR) continue;
      return IoError(ErrorId::kWriteFailed, SystemErrorMessage("write failed on", temp_path_, errno));
    }
    in += wrote;
    length -= static_cast<uint64_t>(wrote);
  }
  return Status::Ok();
}

Status AtomicFileWriter::Commit() {
  if (::fsync(fd_) != 0) {
    return IoError(ErrorId::kWriteFailed, SystemErrorMessage("fsync failed on", temp_path_, errno));
  }
  ::close(fd_);
  fd_ = -1;
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    return IoError(ErrorId::kWriteFailed,
                   SystemErrorMessage("cannot rename '" + temp_path_ + "' to", path_, errno));
  }
  committed_ = true;

  std::string directory = std::filesystem::path(path_).parent_path().string();
  if (directory.empty()) directory = ".";
  int dir_fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  return Status::Ok();
}

Result<std::string> ReadWholeFile(const std::string& path, uint64_t max_bytes) {
  SAFECKPT_ASSIGN_OR_RETURN(File file, File::OpenForRead(path));
  SAFECKPT_ASSIGN_OR_RETURN(uint64_t size, file.Size());
  if (size > max_bytes) {
    return OutOfRange(ErrorId::kHeaderTooLarge,
                      "'" + path + "' is " + std::to_string(size) + " bytes, over the limit of " +
                          std::to_string(max_bytes) + " bytes for this kind of file");
  }
  std::string text(size, '\0');
  SAFECKPT_RETURN_IF_ERROR(file.ReadAt(0, text.data(), size));
  return text;
}

}  // namespace safeckpt::internal
