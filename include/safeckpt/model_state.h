// The expected side of a load: the tensors a model wants and, optionally,
// the memory each one is loaded into.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "safeckpt/dtype.h"
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
  Shape shape;
  TensorRole role = TensorRole::kParameter;

  // Name of the tensor this one is tied to (e.g. lm_head.weight tied to
  // model.embed_tokens.weight); empty when untied. A tied tensor counts as
  // present when either it or its source is in the checkpoint.
  std::string tied_to;

  // Destination memory, owned by the caller, laid out row-major in `dtype`
  // and exactly ByteSize(dtype, shape) bytes long. Null when the caller only
  // checks. The loader writes it from worker threads; the caller must not
  // touch it until the load returns.
  void* data = nullptr;
  uint64_t data_bytes = 0;
};

// An ordered set of expected tensors with unique names.
class ModelState {
 public:
  // Adds a tensor. Fails with kManifestInvalid on a duplicate or empty name
  // or when dtype and shape have no whole byte size, and with
  // kDestinationInvalid when `data` is set but `data_bytes` differs from the
  // size dtype and shape imply.
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
