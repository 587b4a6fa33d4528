#include "errors.h"

#include <optional>
#include <string>

#include <fmt/format.h>

namespace safeckpt::python {
namespace {

namespace py = pybind11;

// Owned by the module, which lives until the interpreter exits.
PyObject* error_type = nullptr;
PyObject* file_not_found_type = nullptr;

// A missing file, as opposed to a missing tensor or a missing shard named
// by an index (a corrupt checkpoint rather than a wrong path).
bool IsMissingFile(const Status& status) {
  return status.code() == StatusCode::kNotFound &&
         (status.id() == ErrorId::kReadFailed || status.id() == ErrorId::kNoSafetensorsFiles);
}

PyObject* NewExceptionType(const char* qualified_name, PyObject* bases, const char* doc) {
  PyObject* type = PyErr_NewExceptionWithDoc(qualified_name, doc, bases, nullptr);
  if (type == nullptr) throw py::error_already_set();
  return type;
}

}  // namespace

void RegisterErrors(py::module_& module) {
  error_type = NewExceptionType(
      "safeckpt._core.SafeckptError", PyExc_Exception,
      "An error reported by the safeckpt library. str() is the library's message; `code` and "
      "`error_id` name the kind of failure and the exact rule that failed.");

  py::tuple bases = py::make_tuple(py::handle(error_type), py::handle(PyExc_FileNotFoundError));
  file_not_found_type = NewExceptionType(
      "safeckpt._core.SafeckptFileNotFoundError", bases.ptr(),
      "A checkpoint or safetensors file that does not exist.");

  module.add_object("SafeckptError", py::handle(error_type));
  module.add_object("SafeckptFileNotFoundError", py::handle(file_not_found_type));
}

DType ParseDTypeArgument(const std::string& name, const std::string& tensor) {
  std::optional<DType> dtype = ParseDType(name);
  if (!dtype) {
    throw py::value_error(fmt::format("tensor '{}': unknown dtype '{}'; accepted: {}", tensor,
                                      name, AllDTypeNames()));
  }
  return *dtype;
}

void ThrowStatus(const Status& status) {
  PyObject* type = IsMissingFile(status) ? file_not_found_type : error_type;
  py::object exception = py::reinterpret_borrow<py::object>(type)(status.message());
  exception.attr("code") = std::string(StatusCodeName(status.code()));
  exception.attr("error_id") = std::string(ErrorIdName(status.id()));
  PyErr_SetObject(type, exception.ptr());
  throw py::error_already_set();
}

}  // namespace safeckpt::python
