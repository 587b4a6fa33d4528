// The streaming part of the writer: fills byte ranges of output files from
// memory or from source files, converting dtypes on the way, in bounded
// chunks on a thread pool.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/file.h"
#include "io/thread_pool.h"
#include "safeckpt/dtype.h"
#include "safeckpt/status.h"

namespace safeckpt::internal {

// Where the bytes of one output range come from: memory, or a source file
// at an absolute offset. Exactly one of `memory` and `file` is set (neither
// for an empty range).
struct ByteSource {
  const void* memory = nullptr;
  const File* file = nullptr;
  uint64_t offset = 0;
  DType dtype = DType::kU8;  // the source's dtype
};

// One contiguous range of an output file: a tensor's data or a header.
struct CopyJob {
  std::string name;     // tensor name for messages; empty for a header
  ByteSource source;
  DType dtype = DType::kU8;  // output dtype; a conversion runs when it differs from the source's
  uint64_t elements = 0;     // element count (only used for conversions)
  uint64_t nbytes = 0;       // bytes written
  int fd = -1;               // output file, open for writing
  const std::string* path = nullptr;  // output path for messages
  uint64_t offset = 0;       // absolute offset in the output file
};

struct CopyStats {
  uint64_t bytes_read = 0;       // read from source files
  uint64_t bytes_written = 0;
  uint64_t bytes_converted = 0;  // output bytes that went through a conversion kernel
};

// Runs every job on `pool`, split into chunks so that the buffers of all
// workers together stay within `buffer_bytes` (each worker needs at least
// one element of the widest conversion). Same-dtype ranges from files go
// through copy_file_range, which moves the data inside the kernel, and fall
// back to pread and pwrite where the file systems do not support it.
//
// Every conversion must have a kernel (FindConvertKernel); the caller
// checks. The first error stops the remaining chunks and is returned.
Result<CopyStats> RunCopyJobs(const std::vector<CopyJob>& jobs, ThreadPool& pool,
                              uint64_t buffer_bytes);

}  // namespace safeckpt::internal
