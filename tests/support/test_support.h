// Helpers shared by the tests: temporary directories, hand-built
// safetensors bytes, a capturing logger and the location of the real-file
// corpus.
#pragma once

#include <gtest/gtest.h>

#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "safeckpt/logger.h"
#include "safeckpt/status.h"

namespace safeckpt::testing {

// A fresh directory under the system temporary directory, removed with its
// contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string Join(std::string_view name) const;

 private:
  std::string path_;
};

// Returns the 8-byte little-endian length of `json` followed by `json`.
std::string HeaderBytes(std::string_view json);

// Returns HeaderBytes(json) followed by `data`.
std::string FileBytes(std::string_view json, std::string_view data);

void WriteFileBytes(const std::string& path, std::string_view bytes);
std::string ReadFileBytes(const std::string& path);

// The directory of real safetensors files from public projects
// (../shared/corpus beside the source tree, or $SAFECKPT_CORPUS), or nullopt
// when absent.
std::optional<std::string> CorpusDir();

// Absolute path of the built safeckpt command.
std::string SafeckptBinary();

// Output and exit code of a shell command.
struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs `command` through /bin/sh, capturing stdout and stderr separately.
CommandResult RunCommand(const std::string& command);

// Quotes `text` for /bin/sh.
std::string ShellQuote(std::string_view text);

// Stores every message; thread-safe.
class CapturingLogger : public Logger {
 public:
  void Log(LogLevel level, std::string_view message) override;
  std::vector<std::string> Messages() const;
  // True when some message contains `part`.
  bool Contains(std::string_view part) const;

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> messages_;
};

}  // namespace safeckpt::testing

// Skips the current test with a message when the corpus is absent; otherwise
// declares `var` as its path.
#define SAFECKPT_REQUIRE_CORPUS(var)                                         \
  std::string var;                                                           \
  do {                                                                       \
    auto corpus_dir_ = ::safeckpt::testing::CorpusDir();                     \
    if (!corpus_dir_) GTEST_SKIP() << "../shared/corpus not found; skipping"; \
    var = *corpus_dir_;                                                      \
  } while (0)

// Asserts that `expr` (a Status or Result) failed with `error_id` and that
// its message contains `part`.
#define EXPECT_ERROR(expr, error_id, part)                                     \
  do {                                                                         \
    ::safeckpt::Status status_ = (expr).status();                              \
    EXPECT_FALSE(status_.ok()) << "expected error " #error_id;                 \
    EXPECT_EQ(::safeckpt::ErrorIdName(status_.id()),                           \
              ::safeckpt::ErrorIdName(error_id))                               \
        << status_.ToString();                                                 \
    EXPECT_NE(status_.message().find(part), std::string::npos)                 \
        << "message: " << status_.message() << "\nexpected to contain: " << part; \
  } while (0)
