// _core.serialize and _core.serialize_file: safetensors output for
// save/save_file of the torch and numpy modules.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "bindings.h"
#include "buffers.h"
#include "errors.h"
#include "safeckpt/writer.h"

namespace safeckpt::python {
namespace {

namespace py = pybind11;

// __metadata__ entries as Python passes them: (key, value) pairs or None.
using MetadataItems = std::optional<std::vector<std::pair<std::string, std::string>>>;

// Tensors to write and the buffer views that keep their memory in place.
struct PreparedTensors {
  std::vector<BufferView> views;
  std::vector<TensorToWrite> tensors;
  uint64_t data_bytes = 0;
};

// The checks WriteSafetensors makes, applied to bytes output too, so that
// save() and save_file() accept and reject the same tensors.
void CheckName(const std::string& name, std::set<std::string>& seen) {
  if (name.empty()) throw py::value_error("a tensor has an empty name; give every tensor a name");
  if (name == "__metadata__") {
    throw py::value_error("a tensor cannot be named '__metadata__': the safetensors format "
                          "reserves that key for file metadata; rename the tensor");
  }
  if (!seen.insert(name).second) {
    throw py::value_error(fmt::format("tensor '{}' is given twice", name));
  }
}

// `entries` contains (name, dtype name, shape, buffer) tuples. Each buffer
// must be C-contiguous and exactly as large as dtype and shape imply.
PreparedTensors PrepareTensors(const py::list& entries) {
  PreparedTensors prepared;
  prepared.views.reserve(entries.size());
  std::set<std::string> seen;
  for (py::handle entry : entries) {
    auto [name, dtype_name, shape, data] =
        entry.cast<std::tuple<std::string, std::string, Shape, py::object>>();
    CheckName(name, seen);
    const DType dtype = ParseDTypeArgument(dtype_name, name);
    const std::optional<uint64_t> size = ByteSize(dtype, shape);
    if (!size) {
      throw py::value_error(fmt::format("tensor '{}': shape {} of {} has no whole byte size", name,
                                        FormatShape(shape), dtype_name));
    }

    prepared.views.emplace_back(data, /*writable=*/false, fmt::format("tensor '{}'", name));
    if (prepared.views.back().size_bytes() != *size) {
      throw py::value_error(fmt::format("tensor '{}': {} bytes of data for shape {} of {}, which "
                                        "needs {} bytes",
                                        name, prepared.views.back().size_bytes(),
                                        FormatShape(shape), dtype_name, *size));
    }
    prepared.tensors.push_back({name, dtype, shape, prepared.views.back().data()});
    prepared.data_bytes += *size;
  }
  return prepared;
}

WriteOptions OptionsWithMetadata(const MetadataItems& metadata) {
  WriteOptions options;
  if (metadata) options.metadata = *metadata;
  return options;
}

// Writes the file crash-safely (temporary file, fsync, rename).
void SerializeFile(const py::list& entries, const std::string& path,
                   const MetadataItems& metadata) {
  PreparedTensors prepared = PrepareTensors(entries);
  const WriteOptions options = OptionsWithMetadata(metadata);
  Status status;
  {
    py::gil_scoped_release release;
    status = WriteSafetensors(path, prepared.tensors, options);
  }
  ThrowIfError(status);
}

// Returns the safetensors bytes: header, then each tensor in the given order.
py::bytes Serialize(const py::list& entries, const MetadataItems& metadata) {
  PreparedTensors prepared = PrepareTensors(entries);
  const std::string header =
      BuildSafetensorsHeader(prepared.tensors, OptionsWithMetadata(metadata));
  const uint64_t total = header.size() + prepared.data_bytes;

  // A new bytes object is private until returned, so it is filled without
  // the GIL.
  py::bytes output = py::reinterpret_steal<py::bytes>(
      PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(total)));
  if (!output) throw py::error_already_set();
  char* out = PyBytes_AS_STRING(output.ptr());
  {
    py::gil_scoped_release release;
    std::memcpy(out, header.data(), header.size());
    out += header.size();
    for (const TensorToWrite& tensor : prepared.tensors) {
      const uint64_t size = ByteSize(tensor.dtype, tensor.shape).value_or(0);
      if (size > 0) std::memcpy(out, tensor.data, size);
      out += size;
    }
  }
  return output;
}

}  // namespace

void RegisterWriter(py::module_& module) {
  module.def("serialize_file", &SerializeFile, py::arg("entries"), py::arg("path"),
             py::arg("metadata") = py::none(),
             "Write (name, dtype, shape, buffer) entries to a safetensors file.");
  module.def("serialize", &Serialize, py::arg("entries"), py::arg("metadata") = py::none(),
             "Return (name, dtype, shape, buffer) entries as safetensors bytes.");
}

}  // namespace safeckpt::python
