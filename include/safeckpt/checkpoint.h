// The read side: a checkpoint opened from one file or a directory.
//
// Opening parses and validates every header (and the index when there is
// one) and builds the tensor index: name -> file, dtype, shape, byte range.
// It reads no tensor data. A Checkpoint is immutable after Open() and safe to
// share between threads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "safeckpt/dtype.h"
#include "safeckpt/logger.h"
#include "safeckpt/safetensors.h"
#include "safeckpt/status.h"

namespace safeckpt {

inline constexpr std::string_view kIndexFileName = "model.safetensors.index.json";

// Name of the marker file a writer leaves in a directory until the index is
// in place. Its presence makes Open() fail with kIncompleteCheckpoint.
inline constexpr std::string_view kIncompleteMarkerName = ".safeckpt-incomplete";

struct CheckpointFile {
  std::string path;        // path as opened (directory joined with name)
  std::string name;        // name relative to the checkpoint directory
  uint64_t size = 0;       // file size in bytes
  uint64_t data_start = 0; // absolute offset of the data section
  Metadata metadata;

  // The identity of the file whose header was validated, from fstat on the
  // descriptor the header was read from. A reader that opens the file again
  // compares them (with `size`) to detect a file replaced or modified since.
  uint64_t device = 0;               // st_dev
  uint64_t inode = 0;                // st_ino
  int64_t modification_time_ns = 0;  // st_mtim in nanoseconds since the Unix epoch
};

struct CheckpointTensor {
  std::string name;
  DType dtype = DType::kU8;
  Shape shape;
  uint32_t file = 0;     // index into Checkpoint::files()
  uint64_t offset = 0;   // absolute offset of the first byte in the file
  uint64_t nbytes = 0;
};

// A tensor that a shard holds although the index maps it to another file.
// Such copies are never read.
struct StaleCopy {
  std::string tensor;
  std::string file;        // the shard holding the unused copy
  std::string index_file;  // the shard the index maps the tensor to
};

struct OpenOptions {
  ReaderLimits limits;
  Logger* logger = nullptr;  // warnings (stale copies, wrong total_size); may be null
  // When true, index inconsistencies that loading can ignore are errors:
  // a stale copy (kIndexStaleCopy), a tensor the index does not list
  // (kIndexUnlistedTensor) and a metadata.total_size that is wrong or not a
  // byte count (kIndexTotalSize). Real checkpoints often have them, so the
  // default only warns.
  bool strict_index = false;
};

class Checkpoint {
 public:
  // Opens a .safetensors file, a directory containing
  // model.safetensors.index.json, or a directory of *.safetensors files
  // without an index (each tensor must then appear in exactly one file).
  static Result<Checkpoint> Open(const std::string& path, const OpenOptions& options = {});

  // The path given to Open().
  const std::string& path() const { return path_; }
  bool has_index() const { return has_index_; }

  const std::vector<CheckpointFile>& files() const { return files_; }

  // Tensors sorted by name.
  const std::vector<CheckpointTensor>& tensors() const { return tensors_; }

  // Returns the tensor named `name`, or null.
  const CheckpointTensor* Find(std::string_view name) const;

  const std::vector<StaleCopy>& stale_copies() const { return stale_copies_; }

  // Warnings found while opening, also sent to the logger.
  const std::vector<std::string>& warnings() const { return warnings_; }

  // metadata.total_size from the index, when present.
  std::optional<uint64_t> declared_total_size() const { return declared_total_size_; }

  // Sum of nbytes over tensors().
  uint64_t tensor_bytes() const;

 private:
  friend class CheckpointBuilder;

  std::string path_;
  bool has_index_ = false;
  std::vector<CheckpointFile> files_;
  std::vector<CheckpointTensor> tensors_;
  std::vector<StaleCopy> stale_copies_;
  std::vector<std::string> warnings_;
  std::optional<uint64_t> declared_total_size_;
};

// A parsed model.safetensors.index.json, before the shards are checked.
struct CheckpointIndex {
  // metadata.total_size. Absent when the index has none or when it is not a
  // byte count, which a warning then reports.
  std::optional<uint64_t> total_size;
  // The reason total_size was not a byte count ("<index>: metadata.total_size
  // is "big" (a string), not a byte count"); empty when it was one or absent.
  std::string total_size_problem;
  // weight_map entries in file order. File names are in normal form
  // ("./a//b.safetensors" becomes "a/b.safetensors").
  std::vector<std::pair<std::string, std::string>> weight_map;
  // Problems that do not stop a load, such as a total_size that is not a
  // number. Checkpoint::Open passes them to its logger.
  std::vector<std::string> warnings;
};

// Parses an index file's text. Validates structure only (weight_map present,
// every value a string, no duplicate tensor, file names that stay inside the
// directory); Checkpoint::Open checks the shards themselves. JSON nested
// deeper than limits.max_json_depth is rejected before it is parsed.
Result<CheckpointIndex> ParseCheckpointIndex(std::string_view text, std::string_view display_name,
                                             const ReaderLimits& limits = {});

}  // namespace safeckpt
