#include "support/test_support.h"

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace safeckpt::testing {

namespace fs = std::filesystem;

TempDir::TempDir() {
  std::random_device device;
  for (int attempt = 0; attempt < 100; ++attempt) {
    fs::path candidate = fs::temp_directory_path() /
                         ("safeckpt-test-" + std::to_string(::getpid()) + "-" +
                          std::to_string(device()));
    std::error_code error;
    if (fs::create_directory(candidate, error)) {
      path_ = candidate.string();
      return;
    }
  }
  ADD_FAILURE() << "cannot create a temporary directory";
}

TempDir::~TempDir() {
  std::error_code error;
  if (!path_.empty()) fs::remove_all(path_, error);
}

std::string TempDir::Join(std::string_view name) const { return (fs::path(path_) / name).string(); }

std::string HeaderBytes(std::string_view json) {
  std::string bytes(8, '\0');
  uint64_t length = json.size();
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((length >> (8 * i)) & 0xff);
  bytes.append(json);
  return bytes;
}

std::string FileBytes(std::string_view json, std::string_view data) {
  std::string bytes = HeaderBytes(json);
  bytes.append(data);
  return bytes;
}

void WriteFileBytes(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

std::string ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::optional<std::string> CorpusDir() {
  if (const char* env = std::getenv("SAFECKPT_CORPUS"); env != nullptr && *env != '\0') {
    if (fs::is_directory(env)) return std::string(env);
    return std::nullopt;
  }
  fs::path candidate = fs::path(SAFECKPT_SOURCE_DIR) / ".." / "shared" / "corpus";
  if (fs::is_directory(candidate)) return fs::canonical(candidate).string();
  return std::nullopt;
}

std::string SafeckptBinary() { return (fs::path(SAFECKPT_BINARY_DIR) / "safeckpt").string(); }

std::string ShellQuote(std::string_view text) {
  std::string quoted = "'";
  for (char c : text) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted.push_back(c);
    }
  }
  quoted += "'";
  return quoted;
}

CommandResult RunCommand(const std::string& command) {
  TempDir scratch;
  std::string out_path = scratch.Join("stdout");
  std::string err_path = scratch.Join("stderr");
  std::string full = command + " >" + ShellQuote(out_path) + " 2>" + ShellQuote(err_path) +
                     " </dev/null";
  CommandResult result;
  int status = std::system(full.c_str());
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = ReadFileBytes(out_path);
  result.err = ReadFileBytes(err_path);
  return result;
}

void CapturingLogger::Log(LogLevel, std::string_view message) {
  std::lock_guard<std::mutex> lock(mutex_);
  messages_.emplace_back(message);
}

std::vector<std::string> CapturingLogger::Messages() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return messages_;
}

bool CapturingLogger::Contains(std::string_view part) const {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const std::string& message : messages_) {
    if (message.find(part) != std::string::npos) return true;
  }
  return false;
}

}  // namespace safeckpt::testing
