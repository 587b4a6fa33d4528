// Writing safetensors files and Hugging Face checkpoints.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "safeckpt/dtype.h"
#include "safeckpt/logger.h"
#include "safeckpt/safetensors.h"
#include "safeckpt/status.h"

namespace safeckpt {

// A tensor to write; `data` points at ByteSize(dtype, shape) bytes,
// little-endian, owned by the caller.
struct TensorToWrite {
  std::string name;
  DType dtype = DType::kF32;
  Shape shape;
  const void* data = nullptr;
};

struct WriteOptions {
  Metadata metadata;        // __metadata__ entries; "format": "pt" is added when absent
  bool pad_header = true;   // pad the header with spaces to a multiple of 8
};

// Writes one safetensors file crash-safely: to a temporary name in the same
// directory, fsync, rename over `path`, fsync the directory. Tensors are
// stored in the order given. Fails with kInvalidArgument on a duplicate name,
// a tensor named __metadata__, or a null data pointer for a non-empty tensor.
Status WriteSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                        const WriteOptions& options = {});

// Serialises a header (8-byte length plus JSON) for tensors laid out
// contiguously in the given order. Exposed for tests that build files.
std::string BuildSafetensorsHeader(const std::vector<TensorToWrite>& tensors,
                                   const WriteOptions& options);

// The default maximum shard size, 5 GB (5 * 10^9 bytes), as in Hugging Face
// transformers' save_pretrained.
inline constexpr uint64_t kDefaultMaxShardBytes = 5'000'000'000;

// A tensor name and the file that a reference index assigns it to.
using LayoutEntry = std::pair<std::string, std::string>;

// How a checkpoint directory's tensors are split into files.
//
// Without `layout`, tensors are taken in natural name order (numbers by
// value, so layers.2 precedes layers.10) and filled greedily into files of at
// most `max_shard_bytes` tensor bytes, as transformers does; a larger tensor
// gets a file of its own. One file is named model.safetensors and has no
// index; N files are model-00001-of-0000N.safetensors and so on, listed in
// model.safetensors.index.json.
//
// With `layout`, each tensor goes to the file the layout names. File names
// are used as they are, never parsed, and an index is always written.
// Tensors the layout does not name go to model-extra.safetensors, split by
// `max_shard_bytes` into model-extra-00001-of-0000M.safetensors when they do
// not fit in one file; a numeric suffix avoids a name the layout uses.
struct ShardingOptions {
  uint64_t max_shard_bytes = kDefaultMaxShardBytes;
  std::vector<LayoutEntry> layout;
};

// Options for writing a checkpoint.
struct SaveOptions {
  ShardingOptions sharding;

  // __metadata__ of every file. "format" is always "pt", because the files
  // are a PyTorch checkpoint: transformers' load_state_dict rejects a file
  // whose "format" is not pt, tf, flax or mlx, and its TensorFlow loader
  // reads "pt" as a PyTorch checkpoint.
  Metadata metadata;

  // Replace a checkpoint already at the destination. Without it, a
  // destination containing a checkpoint (or a file, for a file destination) is
  // rejected with kFailedPrecondition before anything is written.
  bool overwrite = false;

  // Worker threads; 0 means one per core.
  uint32_t threads = 0;

  // Memory for the buffers of dtype conversions and copies, shared by all
  // workers. Each worker gets an equal part and needs room for at least one
  // element of the widest conversion.
  uint64_t buffer_bytes = 32ull << 20;

  Logger* logger = nullptr;  // progress (info) and warnings; may be null
};

// One file of a written checkpoint.
struct SavedFile {
  std::string name;           // relative to the checkpoint directory
  uint64_t size = 0;          // file size in bytes, header included
  uint64_t tensor_count = 0;
  uint64_t tensor_bytes = 0;
};

// What a save wrote.
struct SaveSummary {
  std::string destination;        // as given
  std::vector<SavedFile> files;   // in the order of the index's file names
  bool has_index = false;         // model.safetensors.index.json was written
  bool replaced_existing = false; // an existing checkpoint was replaced
  uint64_t tensor_count = 0;
  uint64_t tensor_bytes = 0;      // sum of tensor bytes, = metadata.total_size
  uint64_t bytes_written = 0;     // sum of file sizes
  double seconds = 0;             // wall time from start to commit
};

// Writes in-memory tensors as a Hugging Face checkpoint.
//
// `destination` is a directory (created when absent, parents included), or a
// path ending in ".safetensors" that is not a directory, which receives all
// tensors in one file. Within each file tensors are ordered by element size
// (largest first) and then by name, offsets are contiguous from 0, and the
// header is padded with spaces so data starts at a multiple of 8 bytes, which
// aligns every tensor to its element size.
//
// Crash safety, for every destination: a reader never sees a checkpoint that
// looks complete but is not.
//   - Each file is written under the temporary name "<name>.tmp-<pid>",
//     fsynced and renamed; directories are fsynced after the renames and
//     the index is written last.
//   - A new checkpoint directory carries the marker kIncompleteMarkerName
//     from the moment it appears until the index is in place, so
//     Checkpoint::Open reports it as incomplete. A new directory is created
//     under a temporary name with the marker inside and then renamed into
//     place, so it is never visible without the marker.
//   - With `overwrite`, a replaced checkpoint is never modified: the new
//     one is built in a hidden directory beside it, files of the old
//     directory that are not part of the old checkpoint (config.json, a
//     tokenizer) are hard-linked into the new one, and the two directories
//     are swapped atomically with renameat2(RENAME_EXCHANGE).
//   - On failure every file written so far is removed and the destination
//     is left as it was.
//
// Fails with kInvalidArgument, before anything is written, on an empty or
// duplicate name, a tensor named __metadata__, a shape without a whole byte
// size, a null pointer for a non-empty tensor, or an invalid layout. Thread
// safety: concurrent saves to the same destination are not supported.
Result<SaveSummary> SaveCheckpoint(const std::string& destination,
                                   const std::vector<TensorToWrite>& tensors,
                                   const SaveOptions& options = {});

// Reads the weight_map of model.safetensors.index.json, given as the file or
// a directory containing it, for ShardingOptions::layout. The index is
// validated as Checkpoint::Open validates indexes; its shards need not exist.
Result<std::vector<LayoutEntry>> ReadShardLayout(const std::string& path);

// Parses a size: a number of bytes, or a number (fractions allowed) with one
// of the units B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB
// (powers of 1024), case-insensitive, as in "5GB" or "500MiB". Fractional
// bytes are rounded down. Fails with kInvalidArgument on anything else, on 0
// and on sizes that overflow 64 bits.
Result<uint64_t> ParseByteSize(std::string_view text);

}  // namespace safeckpt
