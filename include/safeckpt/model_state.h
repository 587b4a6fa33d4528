// The expected side of a load: the tensors a model wants and, optionally,
// the memory each one is loaded into.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "safeckpt/dtype.h"
#include "safeckpt/hyperslab.h"
#include "safeckpt/status.h"

namespace safeckpt {

enum class TensorRole : uint8_t {
  kParameter,
  kBuffer,
  kBookkeeping,  // module state rebuilt at run time, e.g. TransformerEngine's _extra_state
};

std::string_view TensorRoleName(TensorRole role);

struct ExpectedTensor {
  std::string name;
  DType dtype = DType::kF32;
  Shape shape;  // the global shape, as the checkpoint stores the whole tensor
  TensorRole role = TensorRole::kParameter;

  // Name of the tensor this one is tied to (e.g. lm_head.weight tied to
  // model.embed_tokens.weight); empty when untied. A tied tensor counts as
  // present when either it or its source is in the checkpoint.
  std::string tied_to;

  // The part of `shape` this rank holds, when it holds only part (a row
  // shard, a tensor-parallel slice, its own experts of a stacked tensor).
  // Unset means the whole tensor. sharding.h computes it from a rank and a
  // sharding rule. An empty hyperslab (a trailing rank's zero rows) is valid
  // and loads nothing.
  std::optional<Hyperslab> slice;

  // Destination memory, owned by the caller, laid out row-major in `dtype`
  // with LocalShape() and exactly ByteSize(dtype, LocalShape()) bytes long.
  // Null when the caller only checks. The loader writes it from worker
  // threads; the caller must not touch it until the load returns.
  void* data = nullptr;
  uint64_t data_bytes = 0;

  // The shape of the destination: slice->shape(), or `shape` without slice.
  Shape LocalShape() const { return slice ? slice->shape() : shape; }

  // True when the slice covers less than the whole tensor.
  bool IsSliced() const { return slice.has_value() && !slice->IsWhole(shape); }
};

// An ordered set of expected tensors with unique names.
class ModelState {
 public:
  // Adds a tensor. Fails with kManifestInvalid on a duplicate or empty name
  // or when dtype and shape have no whole byte size, with kSliceInvalid when
  // the slice does not fit the shape, and with kDestinationInvalid when
  // `data` is set but `data_bytes` differs from the size dtype and
  // LocalShape() imply.
  Status Add(ExpectedTensor tensor);

  const std::vector<ExpectedTensor>& tensors() const { return tensors_; }
  std::vector<ExpectedTensor>& mutable_tensors() { return tensors_; }

  // Returns the tensor named `name`, or null.
  const ExpectedTensor* Find(std::string_view name) const;
  ExpectedTensor* Find(std::string_view name);

  size_t size() const { return tensors_.size(); }

 private:
  std::vector<ExpectedTensor> tensors_;
  std::unordered_map<std::string, size_t> by_name_;
};

}  // namespace safeckpt
