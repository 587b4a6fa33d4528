// Shard planning for the writer: which file each tensor goes to, the order
// of tensors inside a file, and the index that lists the files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "safeckpt/dtype.h"
#include "safeckpt/status.h"
#include "safeckpt/writer.h"

namespace safeckpt::internal {

// A tensor to place. `source` is the caller's index of the tensor, carried
// through so the caller can find where its bytes come from.
struct LayoutTensor {
  std::string name;
  DType dtype = DType::kU8;
  Shape shape;
  uint64_t nbytes = 0;
  size_t source = 0;
  uint64_t data_begin = 0;  // offset in the file's data section, set by PlanShards
};

// One output file and its tensors in header order.
struct PlannedFile {
  std::string name;  // relative to the checkpoint directory
  std::vector<LayoutTensor> tensors;
  uint64_t tensor_bytes = 0;
};

struct ShardPlan {
  std::vector<PlannedFile> files;  // in index order (by name)
  bool write_index = false;
  uint64_t total_size = 0;         // sum of tensor bytes
};

// Element size in bytes that a tensor of `dtype` is aligned to in a written
// file: 8, 4, 2 or 1 (1 for the sub-byte dtypes).
uint64_t DTypeAlignment(DType dtype);

// Orders tensors by alignment (largest first), then by name, and sets each
// data_begin so the ranges are contiguous from 0. Because every byte size is
// a multiple of its element size, each tensor then starts on a multiple of
// its alignment.
void OrderForHeader(std::vector<LayoutTensor>& tensors);

// True when `a` sorts before `b` in natural order: runs of digits compare by
// numeric value, everything else byte by byte.
bool NaturalLess(std::string_view a, std::string_view b);

// "model-00002-of-00007.safetensors" for index 1 of 7 (indices from 0).
std::string ShardFileName(std::string_view stem, size_t index, size_t count);

// Places `tensors` into files as ShardingOptions describes. With a
// non-empty `single_file_name`, every tensor goes into that one file and no
// index is written. Tensor names must be unique (the caller checks).
// Fails with kInvalidArgument when max_shard_bytes is 0 or a layout names one
// tensor twice.
Result<ShardPlan> PlanShards(std::vector<LayoutTensor> tensors, const ShardingOptions& options,
                             std::string_view single_file_name);

// The text of model.safetensors.index.json for `plan`: metadata.total_size
// and the weight_map sorted by tensor name, indented by two spaces as
// transformers writes it.
std::string BuildIndexJson(const ShardPlan& plan);

}  // namespace safeckpt::internal
