// Reading a safetensors header from a file together with the identity of
// the file it came from.
#pragma once

#include <string>

#include "io/file.h"
#include "safeckpt/safetensors.h"

namespace safeckpt::internal {

// A validated header and what fstat reported about the descriptor it was
// read from. identity.size is the file size the header was checked against.
struct HeaderOfFile {
  SafetensorsHeader header;
  FileIdentity identity;
};

// Opens `path`, which must be a regular file, and reads and validates its
// header as ReadSafetensorsHeader does. Errors name `path`.
Result<HeaderOfFile> ReadHeaderOfFile(const std::string& path, const ReaderLimits& limits);

}  // namespace safeckpt::internal
