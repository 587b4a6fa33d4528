// Assembles a Checkpoint from validated headers. Used only by the code
// that opens checkpoints; not thread-safe.
#pragma once

#include <optional>
#include <string>

#include "format/header_file.h"
#include "safeckpt/checkpoint.h"
#include "safeckpt/logger.h"

namespace safeckpt {

class CheckpointBuilder {
 public:
  // `logger` may be null.
  CheckpointBuilder(std::string path, bool has_index, Logger* logger);

  // Adds a file with its validated header and the identity of the file the
  // header was read from, and returns its index in files().
  uint32_t AddFile(std::string name, std::string path, const internal::HeaderOfFile& read);

  // Adds `tensor` from the file AddFile() numbered `file`. The caller makes
  // sure each name is added once.
  void AddTensor(uint32_t file, const TensorInfo& tensor);

  // Records a copy that is never read, and warns about it.
  void AddStaleCopy(StaleCopy copy);

  // Sends `message` to the logger and keeps it for Checkpoint::warnings().
  void Warn(std::string message);

  void SetDeclaredTotalSize(std::optional<uint64_t> total_size);

  // Returns the checkpoint with its tensors sorted by name.
  Checkpoint Finish() &&;

 private:
  Checkpoint checkpoint_;
  Logger* logger_;
};

}  // namespace safeckpt
