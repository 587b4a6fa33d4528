// Conversion of library errors, and of invalid arguments from Python, into
// Python exceptions.
//
// Every Status that reaches Python becomes a safeckpt.SafeckptError whose
// str() is Status::message() unchanged, with two attributes for scripts:
// `code` (StatusCodeName, e.g. "corruption") and `error_id` (ErrorIdName,
// e.g. "data_gap"). A file that cannot be found raises
// safeckpt.SafeckptFileNotFoundError, a subclass of both SafeckptError and
// the built-in FileNotFoundError, as the safetensors package raises
// FileNotFoundError there.
#pragma once

#include <pybind11/pybind11.h>

#include <string>
#include <utility>

#include "safeckpt/dtype.h"
#include "safeckpt/status.h"

namespace safeckpt::python {

// Creates the exception classes and adds them to `module`. Call once, while
// the module is initialised.
void RegisterErrors(pybind11::module_& module);

// Raises the Python exception for `status`, which must not be OK. Needs the
// GIL.
[[noreturn]] void ThrowStatus(const Status& status);

inline void ThrowIfError(const Status& status) {
  if (!status.ok()) ThrowStatus(status);
}

template <typename T>
T ValueOrThrow(Result<T> result) {
  if (!result.ok()) ThrowStatus(result.status());
  return std::move(result).value();
}

// Parses a dtype name that Python passed for tensor `tensor`; raises
// ValueError listing the accepted names when it is unknown.
DType ParseDTypeArgument(const std::string& name, const std::string& tensor);

}  // namespace safeckpt::python
