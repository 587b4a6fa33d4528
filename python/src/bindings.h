// The parts of the safeckpt._core extension module, one function each.
//
// _core is private to the safeckpt Python package: its functions take
// plain lists, tuples and buffers that the pure-Python modules prepare
// from torch tensors and numpy arrays, and they release the GIL around
// every read, write and conversion.
#pragma once

#include <pybind11/pybind11.h>

namespace safeckpt::python {

// TensorFile: reading whole tensors and hyperslabs of one file or bytes.
void RegisterTensorFile(pybind11::module_& module);

// serialize and serialize_file: writing safetensors files and bytes.
void RegisterWriter(pybind11::module_& module);

// load_into, manifests and dtype names.
void RegisterLoad(pybind11::module_& module);

}  // namespace safeckpt::python
