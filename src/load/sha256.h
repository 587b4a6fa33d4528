// SHA-256 digests of loaded tensor bytes, for load reports.
#pragma once

#include <cstdint>
#include <string>

#include "safeckpt/status.h"

namespace safeckpt::internal {

// Returns the SHA-256 of `length` bytes at `data` as 64 lowercase hex
// digits. `data` may be null when `length` is 0. Thread-safe. Fails with
// kInternal only when OpenSSL reports an error.
Result<std::string> Sha256Hex(const void* data, uint64_t length);

}  // namespace safeckpt::internal
