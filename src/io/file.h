// POSIX file helpers: an owning descriptor, positioned reads that retry
// short reads, and crash-safe whole-file writes. Every error names the path
// and the system error.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "safeckpt/status.h"

namespace safeckpt::internal {

// An open file descriptor, closed on destruction. Move-only.
class File {
 public:
  File() = default;
  File(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  File(File&& other) noexcept;
  File& operator=(File&& other) noexcept;
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  ~File();

  // Opens `path` read-only. Fails with kNotFound when it does not exist.
  static Result<File> OpenForRead(const std::string& path);

  int fd() const { return fd_; }
  const std::string& path() const { return path_; }

  Result<uint64_t> Size() const;

  // Reads exactly `length` bytes at `offset`, retrying short reads and EINTR.
  // Thread-safe: uses pread, which does not move the file position.
  Status ReadAt(uint64_t offset, void* buffer, uint64_t length) const;

 private:
  int fd_ = -1;
  std::string path_;
};

// Returns "<what> '<path>': <strerror(errno)>".
std::string SystemErrorMessage(std::string_view what, std::string_view path, int error);

// Writes `path` from consecutive parts: to "<path>.tmp-<pid>" in the same
// directory, fsync, rename over `path`, then fsync the directory. The
// temporary file is removed on failure, so `path` is either the old content
// or the complete new content.
class AtomicFileWriter {
 public:
  static Result<AtomicFileWriter> Create(const std::string& path);
  AtomicFileWriter(AtomicFileWriter&& other) noexcept;
  AtomicFileWriter& operator=(AtomicFileWriter&&) = delete;
  ~AtomicFileWriter();  // removes the temporary file unless committed

  Status Append(const void* data, uint64_t length);
  Status Commit();

 private:
  AtomicFileWriter(int fd, std::string path, std::string temp_path)
      : fd_(fd), path_(std::move(path)), temp_path_(std::move(temp_path)) {}
  int fd_ = -1;
  std::string path_;
  std::string temp_path_;
  bool committed_ = false;
};

// Reads a whole (small) file such as an index or a manifest, refusing files
// larger than `max_bytes`.
Result<std::string> ReadWholeFile(const std::string& path, uint64_t max_bytes);

}  // namespace safeckpt::internal
