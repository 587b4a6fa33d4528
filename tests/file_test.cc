#include "io/file.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <future>
#include <string>

#include <gtest/gtest.h>

#include "support/test_support.h"

namespace safeckpt::internal {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using testing::WriteFileBytes;

constexpr std::string_view kNotRegularAdvice =
    "not a regular file; safeckpt reads checkpoints, indexes and manifests from regular files";

// Runs `open` on another thread and returns its result. Without O_NONBLOCK,
// opening a FIFO that has no writer blocks. When `open` is still blocked
// after a few seconds, the test fails and connects a writer to `fifo`, so
// that the blocked open returns and the test can finish.
template <typename T>
Result<T> OpenWithoutHanging(const std::string& fifo, std::function<Result<T>()> open) {
  std::future<Result<T>> result = std::async(std::launch::async, std::move(open));
  if (result.wait_for(std::chrono::seconds(5)) == std::future_status::timeout) {
    ADD_FAILURE() << "opening the FIFO " << fifo << " blocked";
    int writer = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    Result<T> unblocked = result.get();
    if (writer >= 0) ::close(writer);
    return unblocked;
  }
  return result.get();
}

std::string MakeFifo(const TempDir& dir, std::string_view name) {
  std::string path = dir.Join(name);
  EXPECT_EQ(::mkfifo(path.c_str(), 0600), 0) << std::strerror(errno);
  return path;
}

TEST(FileTest, OpenBeyondFileLimitSuggestsRaisingIt) {
  TempDir dir;
  std::string path = dir.Join("model.safetensors");
  testing::WriteFileBytes(path, "x");
  struct rlimit saved;
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  struct rlimit none = saved;
  none.rlim_cur = 0;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &none), 0);

  Result<File> file = File::OpenForRead(path);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);

  EXPECT_ERROR(file, ErrorId::kReadFailed, "cannot open '" + path + "'");
  EXPECT_ERROR(file, ErrorId::kReadFailed, "ulimit -n");
}

TEST(FileTest, OpenForReadRejectsFifoWithoutBlocking) {
  TempDir dir;
  std::string fifo = MakeFifo(dir, "model.safetensors");

  Result<File> file = OpenWithoutHanging<File>(fifo, [&] { return File::OpenForRead(fifo); });
  EXPECT_ERROR(file, ErrorId::kNotRegularFile, "'" + fifo + "' is a FIFO, ");
  EXPECT_ERROR(file, ErrorId::kNotRegularFile, kNotRegularAdvice);
  EXPECT_EQ(file.status().code(), StatusCode::kInvalidArgument);
}

TEST(FileTest, OpenForReadRejectsFifoBehindSymlink) {
  TempDir dir;
  std::string fifo = MakeFifo(dir, "pipe");
  std::string link = dir.Join("model.safetensors");
  fs::create_symlink(fifo, link);

  Result<File> file = OpenWithoutHanging<File>(fifo, [&] { return File::OpenForRead(link); });
  EXPECT_ERROR(file, ErrorId::kNotRegularFile, "'" + link + "' is a FIFO");
}

TEST(FileTest, OpenForReadRejectsCharacterDevice) {
  Result<File> file = File::OpenForRead("/dev/null");
  EXPECT_ERROR(file, ErrorId::kNotRegularFile, "'/dev/null' is a character device, ");
  EXPECT_ERROR(file, ErrorId::kNotRegularFile, kNotRegularAdvice);
}

TEST(FileTest, OpenForReadRejectsDirectory) {
  TempDir dir;
  Result<File> file = File::OpenForRead(dir.path());
  EXPECT_ERROR(file, ErrorId::kNotRegularFile, "'" + dir.path() + "' is a directory, ");
}

TEST(FileTest, OpenForReadRejectsSocket) {
  TempDir dir;
  std::string path = dir.Join("socket.safetensors");
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  ASSERT_LT(path.size(), sizeof(address.sun_path)) << path;
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0)
      << std::strerror(errno);

  Result<File> file = File::OpenForRead(path);
  ::close(fd);
  EXPECT_ERROR(file, ErrorId::kNotRegularFile, "'" + path + "' is a socket, ");
}

TEST(FileTest, OpenForReadLeavesDescriptorBlocking) {
  TempDir dir;
  std::string path = dir.Join("data");
  WriteFileBytes(path, "abc");

  Result<File> file = File::OpenForRead(path);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  int flags = ::fcntl(file->fd(), F_GETFL);
  ASSERT_GE(flags, 0);
  EXPECT_EQ(flags & O_NONBLOCK, 0);
}

TEST(FileTest, OpenForReadFollowsSymlinkToRegularFile) {
  TempDir dir;
  std::string target = dir.Join("blob");
  WriteFileBytes(target, "abcd");
  std::string link = dir.Join("model.safetensors");
  fs::create_symlink(target, link);

  Result<File> file = File::OpenForRead(link);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ(file->Size().value(), 4u);
}

TEST(FileTest, OpenForReadMissingFileIsNotFound) {
  TempDir dir;
  Result<File> file = File::OpenForRead(dir.Join("absent"));
  EXPECT_ERROR(file, ErrorId::kReadFailed, "absent");
  EXPECT_EQ(file.status().code(), StatusCode::kNotFound);
}

TEST(FileTest, ReadWholeFileRejectsFifo) {
  TempDir dir;
  std::string fifo = MakeFifo(dir, "manifest.json");

  Result<std::string> text = OpenWithoutHanging<std::string>(
      fifo, [&] { return ReadWholeFile(fifo, 1 << 20); });
  EXPECT_ERROR(text, ErrorId::kNotRegularFile, "'" + fifo + "' is a FIFO");
}

TEST(FileTest, ReadWholeFileRejectsPipeWithWriter) {
  int ends[2];
  ASSERT_EQ(::pipe2(ends, O_CLOEXEC), 0);
  ASSERT_EQ(::write(ends[1], "{}", 2), 2);
  std::string path = "/proc/self/fd/" + std::to_string(ends[0]);

  Result<std::string> text = ReadWholeFile(path, 1 << 20);
  ::close(ends[0]);
  ::close(ends[1]);
  EXPECT_ERROR(text, ErrorId::kNotRegularFile, "is a FIFO");
}

TEST(FileTest, IdentityMatchesStat) {
  TempDir dir;
  std::string path = dir.Join("data");
  WriteFileBytes(path, "12345");
  // A modification time with nanoseconds, to check that they are kept.
  timespec times[2] = {{0, UTIME_OMIT}, {1'700'000'000, 123'456'789}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);

  Result<File> file = File::OpenForRead(path);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  Result<FileIdentity> identity = file->Identity();
  ASSERT_TRUE(identity.ok()) << identity.status().ToString();

  struct stat info;
  ASSERT_EQ(::stat(path.c_str(), &info), 0);
  EXPECT_EQ(identity->device, static_cast<uint64_t>(info.st_dev));
  EXPECT_EQ(identity->inode, static_cast<uint64_t>(info.st_ino));
  EXPECT_EQ(identity->size, 5u);
  EXPECT_EQ(identity->modification_time_ns, 1'700'000'000'123'456'789);
}

TEST(FileTest, ShortReadGivesCurrentSize) {
  TempDir dir;
  std::string path = dir.Join("data");
  WriteFileBytes(path, std::string(64, 'x'));
  Result<File> file = File::OpenForRead(path);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  ASSERT_EQ(::truncate(path.c_str(), 0), 0);

  char buffer[16];
  Status status = file->ReadAt(48, buffer, sizeof(buffer));
  EXPECT_ERROR(Result<bool>(status), ErrorId::kShortRead, "no data at byte 48");
  EXPECT_ERROR(Result<bool>(status), ErrorId::kShortRead, "the file is now 0 bytes long");
}

}  // namespace
}  // namespace safeckpt::internal
