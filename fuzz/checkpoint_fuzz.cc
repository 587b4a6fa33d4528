// libFuzzer target: a checkpoint directory framed in the input
// (checkpoint_framing.h) is written to a tmpfs, opened, checked against its
// own manifest and, when its options byte sets kLoadData, loaded into memory.
#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>

#include "fuzz_inputs.h"

namespace {

// The directory the inputs are written to: one per process, made on first
// use under /dev/shm (or $TMPDIR when there is no /dev/shm) and removed at
// exit. After a crash it is left behind.
std::string& InputDirectory() {
  static std::string directory;
  return directory;
}

void RemoveInputDirectory() {
  std::error_code ignored;
  std::filesystem::remove_all(InputDirectory(), ignored);
}

std::string MakeInputDirectory() {
  std::string parent = "/dev/shm";
  if (::access(parent.c_str(), W_OK) != 0) {
    const char* tmpdir = std::getenv("TMPDIR");
    parent = tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp";
  }
  std::string pattern = parent + "/safeckpt-fuzz-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    std::perror(("checkpoint_fuzz: cannot create a directory from " + pattern).c_str());
    std::abort();
  }
  return pattern;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string& directory = InputDirectory();
  if (directory.empty()) {
    directory = MakeInputDirectory();
    std::atexit(RemoveInputDirectory);
  }
  // Errors are the expected result of most inputs.
  std::string_view input(reinterpret_cast<const char*>(data), size);
  (void)safeckpt::fuzz::RunCheckpointInput(input, directory);
  return 0;
}
