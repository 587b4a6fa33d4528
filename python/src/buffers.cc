#include "buffers.h"

#include <fmt/format.h>

namespace safeckpt::python {
namespace {

namespace py = pybind11;

bool IsCContiguous(const py::buffer_info& info) {
  py::ssize_t expected_stride = info.itemsize;
  for (py::ssize_t dim = info.ndim - 1; dim >= 0; --dim) {
    const py::ssize_t extent = info.shape[static_cast<size_t>(dim)];
    if (extent > 1 && info.strides[static_cast<size_t>(dim)] != expected_stride) return false;
    expected_stride *= extent;
  }
  return true;
}

py::buffer_info RequestBuffer(py::handle object, bool writable, std::string_view what) {
  if (!PyObject_CheckBuffer(object.ptr())) {
    throw py::type_error(fmt::format("{}: expected an object with a buffer (a numpy array or "
                                     "bytes), got {}",
                                     what, std::string(py::str(py::type::of(object)))));
  }
  try {
    return py::reinterpret_borrow<py::buffer>(object).request(writable);
  } catch (py::error_already_set& error) {
    throw py::type_error(fmt::format("{}: its memory cannot be {}: {}", what,
                                     writable ? "written" : "read", error.what()));
  }
}

}  // namespace

BufferView::BufferView(py::handle object, bool writable, std::string_view what)
    : info_(RequestBuffer(object, writable, what)) {
  if (!IsCContiguous(info_)) {
    throw py::type_error(fmt::format("{}: memory is not C-contiguous; pass a contiguous array",
                                     what));
  }
  size_bytes_ = static_cast<uint64_t>(info_.size) * static_cast<uint64_t>(info_.itemsize);
}

}  // namespace safeckpt::python
