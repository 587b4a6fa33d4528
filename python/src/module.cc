// The safeckpt._core extension module.
#include <pybind11/pybind11.h>

#include "bindings.h"
#include "errors.h"

PYBIND11_MODULE(_core, module) {
  module.doc() = "Private C++ core of the safeckpt package; use the safeckpt modules instead.";
  safeckpt::python::RegisterErrors(module);
  safeckpt::python::RegisterTensorFile(module);
  safeckpt::python::RegisterWriter(module);
  safeckpt::python::RegisterLoad(module);
}
