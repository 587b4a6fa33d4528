// Detection of a checkpoint file that changed after Checkpoint::Open
// validated its header.
#pragma once

#include "io/file.h"
#include "safeckpt/checkpoint.h"
#include "safeckpt/status.h"

namespace safeckpt::internal {

// Checks that `file`, opened again by path after Checkpoint::Open, is the
// file whose header Open validated (`expected`, an entry of
// Checkpoint::files()), with the same size and modification time. A reader
// should call it on each descriptor before reading tensor data through it,
// because offsets from a header are only valid for the file they came from.
//
// Fails with kFailedPrecondition (kFileChanged) naming the file and what
// changed: it was replaced (another device or inode), its size changed, or
// it was modified. Fails with kIoError when fstat fails. Thread-safe.
//
// NOTE: a write that keeps the size and lands within the file system's
// timestamp granularity of the original modification time (a few
// milliseconds on Linux, which updates mtime from a coarse clock) is not
// detected.
Status CheckSameFile(const File& file, const CheckpointFile& expected);

}  // namespace safeckpt::internal
