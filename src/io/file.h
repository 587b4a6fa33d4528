// POSIX file helpers: an owning descriptor, positioned reads that retry
// short reads, and crash-safe whole-file writes. Every error names the path
// and the system error.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "safeckpt/status.h"

namespace safeckpt::internal {

// The fstat fields of an open file that tell later whether a path still
// names the same file with the same content.
struct FileIdentity {
  uint64_t device = 0;               // st_dev
  uint64_t inode = 0;                // st_ino
  uint64_t size = 0;                 // st_size, in bytes
  int64_t modification_time_ns = 0;  // st_mtim in nanoseconds since the Unix epoch
};

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

  // Opens `path` read-only. Only a regular file, or a symlink to one, is
  // accepted: a FIFO, socket, character or block device, or directory fails
  // with kNotRegularFile. A FIFO without a writer does not block the call,
  // because the file is opened with O_NONBLOCK, and the flag is cleared only
  // after fstat has shown a regular file. Fails with kNotFound when `path`
  // does not exist.
  static Result<File> OpenForRead(const std::string& path);

  int fd() const { return fd_; }
  const std::string& path() const { return path_; }

  // Returns what fstat reports now, not what it reported at open.
  Result<FileIdentity> Identity() const;
  Result<uint64_t> Size() const;

  // Reads exactly `length` bytes at `offset`, retrying short reads and EINTR.
  // Thread-safe: uses pread, which does not move the file position.
  Status ReadAt(uint64_t offset, void* buffer, uint64_t length) const;

 private:
  // Returns the kShortRead error for a read of `length` bytes at `offset`
  // that found no data at `end_of_data`.
  Status ShortReadError(uint64_t offset, uint64_t length, uint64_t end_of_data) const;

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
// larger than `max_bytes`. The file must be a regular file, as for
// File::OpenForRead, so a pipe such as /dev/stdin fails with
// kNotRegularFile and is not read as an empty file.
Result<std::string> ReadWholeFile(const std::string& path, uint64_t max_bytes);

}  // namespace safeckpt::internal
