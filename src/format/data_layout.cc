#include "format/data_layout.h"

#include <algorithm>
#include <string>
#include <tuple>

#include "format/quote.h"

namespace safeckpt::internal {
namespace {

std::string Range(uint64_t begin, uint64_t end) {
  return "[" + std::to_string(begin) + ", " + std::to_string(end) + ")";
}

std::string Describe(const TensorInfo& tensor) {
  return "tensor " + Quote(tensor.name) + " " + Range(tensor.data_begin, tensor.data_end);
}

Status GapError(std::string_view display_name, uint64_t gap_begin, const TensorInfo* before,
                const TensorInfo* after, uint64_t data_size) {
  std::string message = std::string(display_name) + ": data bytes " +
                        Range(gap_begin, after ? after->data_begin : data_size) +
                        " belong to no tensor";
  if (before != nullptr && after != nullptr) {
    message += " (between " + Describe(*before) + " and " + Describe(*after) + ")";
  } else if (after != nullptr) {
    message +=
        " (the data section must start with a tensor, but the first is " + Describe(*after) + ")";
  }
  return Corruption(ErrorId::kDataGap, message);
}

}  // namespace

Status SortAndCheckDataLayout(std::vector<TensorInfo>& tensors, uint64_t data_size,
                              std::string_view display_name) {
  std::sort(tensors.begin(), tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return std::tie(a.data_begin, a.data_end, a.name) < std::tie(b.data_begin, b.data_end, b.name);
  });

  // `covered` is the end of the bytes that the tensors so far cover. `last`
  // is the tensor that reaches it, named when the next range overlaps it.
  uint64_t covered = 0;
  const TensorInfo* last = nullptr;
  for (const TensorInfo& tensor : tensors) {
    if (tensor.data_end > data_size) {
      return Corruption(ErrorId::kDataPastEnd, std::string(display_name) + ": " + Describe(tensor) +
                                                   " ends past the data section, which has " +
                                                   std::to_string(data_size) +
                                                   " bytes; the file may be truncated");
    }
    if (tensor.data_begin > covered) {
      return GapError(display_name, covered, last, &tensor, data_size);
    }
    if (tensor.data_begin < covered) {
      return Corruption(ErrorId::kDataOverlap, std::string(display_name) + ": " + Describe(tensor) +
                                                   " overlaps " + Describe(*last));
    }
    if (tensor.data_end > covered || last == nullptr) {
      covered = tensor.data_end;
      last = &tensor;
    }
  }

  if (covered < data_size) {
    std::string where = last ? "after the last tensor, " + Describe(*last)
                             : "although the header lists no tensor data";
    return Corruption(ErrorId::kTrailingData,
                      std::string(display_name) + ": " + std::to_string(data_size - covered) +
                          " extra bytes at data offsets " + Range(covered, data_size) + " " +
                          where +
                          "; header and tensor data must end exactly at the end of "
                          "the file");
  }
  return Status::Ok();
}

}  // namespace safeckpt::internal
