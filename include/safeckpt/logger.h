// The injectable logger through which the library reports progress and
// warnings. Errors are returned as Status, never logged.
#pragma once

#include <string_view>

namespace safeckpt {

enum class LogLevel { kDebug, kInfo, kWarning };

// Receives progress and warning messages. Implementations must be
// thread-safe: the loader may log from worker threads.
class Logger {
 public:
  virtual ~Logger() = default;
  virtual void Log(LogLevel level, std::string_view message) = 0;
};

// Discards everything. The default when a caller passes no logger.
Logger* NullLogger();

// Writes warnings (and info when verbose) to stderr, one line each,
// prefixed with "warning: " or "info: ".
class StderrLogger : public Logger {
 public:
  explicit StderrLogger(LogLevel min_level = LogLevel::kWarning) : min_level_(min_level) {}
  void Log(LogLevel level, std::string_view message) override;

 private:
  LogLevel min_level_;
};

}  // namespace safeckpt
