#include "safeckpt/logger.h"

#include <cstdio>
#include <mutex>
#include <string>

#include "core/terminal_text.h"

namespace safeckpt {
namespace {

class DiscardingLogger : public Logger {
 public:
  void Log(LogLevel, std::string_view) override {}
};

}  // namespace

Logger* NullLogger() {
  static DiscardingLogger logger;
  return &logger;
}

void StderrLogger::Log(LogLevel level, std::string_view message) {
  if (level < min_level_) return;
  static std::mutex mutex;
  const char* prefix = level == LogLevel::kWarning ? "warning: "
                       : level == LogLevel::kInfo  ? "info: "
                                                   : "debug: ";
  std::string line(prefix);
  // Warnings quote names and paths from the checkpoint.
  line.append(internal::EscapeForTerminal(message));
  line.push_back('\n');
  std::lock_guard<std::mutex> lock(mutex);
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace safeckpt
