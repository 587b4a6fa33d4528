// Memory of Python objects (numpy arrays, the uint8 numpy views of torch
// tensors, bytes) seen as one contiguous byte range.
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace safeckpt::python {

// A C-contiguous buffer of a Python object, held for as long as this object
// lives. The exporting object stays alive and its memory stays in place
// while the view is held, so the bytes may be used with the GIL released.
// Create and destroy it with the GIL held.
class BufferView {
 public:
  // Requests the buffer of `object`. Raises TypeError when the object has no
  // buffer, is read-only although `writable` is set, or is not
  // C-contiguous; the message names `what` (e.g. "tensor 'x'").
  BufferView(pybind11::handle object, bool writable, std::string_view what);

  void* data() const { return info_.ptr; }
  uint64_t size_bytes() const { return size_bytes_; }

 private:
  pybind11::buffer_info info_;
  uint64_t size_bytes_ = 0;
};

}  // namespace safeckpt::python
