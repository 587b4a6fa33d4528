#include "safeckpt/model_state.h"

#include <string>

#include <fmt/format.h>

namespace safeckpt {

std::string_view TensorRoleName(TensorRole role) {
  switch (role) {
    case TensorRole::kParameter: return "parameter";
    case TensorRole::kBuffer: return "buffer";
    case TensorRole::kBookkeeping: return "bookkeeping";
  }
  return "unknown";
}

namespace {

// Rejects a destination whose size differs from what dtype and local shape
// imply, because the loader writes exactly that many bytes into it.
Status CheckDestination(const ExpectedTensor& tensor) {
  if (tensor.data == nullptr) return Status::Ok();
  const std::optional<uint64_t> expected_bytes = ByteSize(tensor.dtype, tensor.LocalShape());
  if (expected_bytes && tensor.data_bytes == *expected_bytes) return Status::Ok();
  if (tensor.slice) {
    return InvalidArgument(
        ErrorId::kDestinationInvalid,
        fmt::format("tensor '{}': destination is {} bytes but slice {} of {} {} needs {} bytes",
                    tensor.name, tensor.data_bytes, FormatHyperslab(*tensor.slice),
                    DTypeName(tensor.dtype), FormatShape(tensor.shape),
                    expected_bytes.value_or(0)));
  }
  return InvalidArgument(
      ErrorId::kDestinationInvalid,
      fmt::format("tensor '{}': destination is {} bytes but {} {} needs {} bytes", tensor.name,
                  tensor.data_bytes, DTypeName(tensor.dtype), FormatShape(tensor.shape),
                  expected_bytes.value_or(0)));
}

}  // namespace

Status ModelState::Add(ExpectedTensor tensor) {
  if (tensor.name.empty()) {
    return InvalidArgument(ErrorId::kManifestInvalid, "tensor name is empty");
  }
  if (by_name_.count(tensor.name) != 0) {
    return InvalidArgument(ErrorId::kManifestInvalid,
                           fmt::format("tensor '{}' is listed twice", tensor.name));
  }

  std::optional<uint64_t> bytes = ByteSize(tensor.dtype, tensor.shape);
  if (!bytes) {
    return InvalidArgument(
        ErrorId::kManifestInvalid,
        fmt::format("tensor '{}': {} {} has no whole byte size (the bit count overflows 64 bits "
                    "or is not a multiple of 8)",
                    tensor.name, DTypeName(tensor.dtype), FormatShape(tensor.shape)));
  }
  if (tensor.slice) SAFECKPT_RETURN_IF_ERROR(CheckHyperslab(*tensor.slice, tensor.shape, tensor.name));
  SAFECKPT_RETURN_IF_ERROR(CheckDestination(tensor));

  by_name_.emplace(tensor.name, tensors_.size());
  tensors_.push_back(std::move(tensor));
  return Status::Ok();
}

const ExpectedTensor* ModelState::Find(std::string_view name) const {
  auto it = by_name_.find(std::string(name));
  return it == by_name_.end() ? nullptr : &tensors_[it->second];
}

ExpectedTensor* ModelState::Find(std::string_view name) {
  auto it = by_name_.find(std::string(name));
  return it == by_name_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace safeckpt
