// Writing a safetensors file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "safeckpt/dtype.h"
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

}  // namespace safeckpt
