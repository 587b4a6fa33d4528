// One safetensors file, on disk or as bytes in memory, opened to read whole
// tensors or hyperslabs of them. This is the engine behind safe_open,
// load_file and load in the Python package.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "hyperslab_runs.h"
#include "io/thread_pool.h"
#include "safeckpt/safetensors.h"
#include "safeckpt/status.h"

namespace safeckpt::python {

// A whole tensor to read into caller-owned memory of exactly its size.
struct TensorRead {
  const TensorInfo* tensor = nullptr;
  void* destination = nullptr;
  uint64_t destination_bytes = 0;
};

// Thread safety: after Open or FromBytes the header is immutable, and the
// read methods may be called from several threads. Reads of one file share
// one thread pool, which runs one batch at a time.
class TensorFile {
 public:
  // Reads and validates the header of the file at `path` (every rule of
  // docs/format.md). Reads no tensor data.
  static Result<TensorFile> Open(const std::string& path, uint32_t threads);

  // Validates the safetensors bytes `bytes`, which must stay alive and
  // unchanged as long as the TensorFile. Errors name `display_name`.
  static Result<TensorFile> FromBytes(std::string_view bytes, std::string display_name);

  TensorFile(TensorFile&&) noexcept = default;
  TensorFile& operator=(TensorFile&&) noexcept = default;

  // The path, or the display name of bytes.
  const std::string& name() const { return name_; }
  const SafetensorsHeader& header() const { return header_; }

  // Returns the tensor called `name`, or null.
  const TensorInfo* Find(std::string_view name) const;

  // Fails like Find but with kNotFound naming the file and the tensor.
  Result<const TensorInfo*> Get(std::string_view name) const;

  // Reads whole tensors. Fails with kDestinationInvalid when a destination
  // differs from its tensor's size, and otherwise with the read error, such
  // as kShortRead when the file was truncated after opening. Destinations
  // may then be partly written.
  Status ReadTensors(const std::vector<TensorRead>& reads) const;

  // Reads the hyperslab `runs` of `tensor` into `destination`, which must be
  // exactly runs.total_bytes() long.
  Status ReadHyperslab(const TensorInfo& tensor, const HyperslabRuns& runs, void* destination,
                       uint64_t destination_bytes) const;

 private:
  // A lazily started pool: a file that is only listed starts no threads.
  struct Pool {
    std::mutex mutex;
    uint32_t threads = 0;
    std::unique_ptr<internal::ThreadPool> pool;
  };

  TensorFile() = default;
  void IndexNames();
  internal::ThreadPool& ThreadPoolForReads() const;

  // Copies [offset, offset + length) of the data section, with `offset`
  // absolute within the file or bytes, to each destination.
  struct Copy {
    const std::string* tensor = nullptr;
    uint64_t offset = 0;
    uint64_t length = 0;
    void* destination = nullptr;
  };
  Status RunCopies(const std::vector<Copy>& copies) const;
  Status GatherRuns(const TensorInfo& tensor, const HyperslabRuns& runs, void* destination) const;

  std::string name_;
  std::string path_;        // empty for bytes
  std::string_view bytes_;  // the bytes, for FromBytes
  SafetensorsHeader header_;
  std::unordered_map<std::string, size_t> by_name_;
  std::unique_ptr<Pool> pool_;
};

}  // namespace safeckpt::python
