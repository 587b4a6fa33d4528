#include "io/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
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

Result<File> File::OpenForRead(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int error = errno;
    if (error == ENOENT) {
      return NotFound(ErrorId::kReadFailed, SystemErrorMessage("cannot open", path, error));
    }
    return IoError(ErrorId::kReadFailed, SystemErrorMessage("cannot open", path, error));
  }
  struct stat info;
  if (::fstat(fd, &info) == 0 && S_ISDIR(info.st_mode)) {
    ::close(fd);
    return InvalidArgument(ErrorId::kReadFailed,
                           "cannot read '" + path + "': it is a directory, not a file");
  }
  return File(fd, path);
}

Result<uint64_t> File::Size() const {
  struct stat info;
  if (::fstat(fd_, &info) != 0) {
    return IoError(ErrorId::kReadFailed, SystemErrorMessage("cannot stat", path_, errno));
  }
  return static_cast<uint64_t>(info.st_size);
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
    if (got == 0) {
      return IoError(ErrorId::kShortRead,
                     "'" + path_ + "': file ended at byte " + std::to_string(offset + done) +
                         " while reading " + std::to_string(length) + " bytes at offset " +
                         std::to_string(offset) + " (was it truncated while open?)");
    }
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
