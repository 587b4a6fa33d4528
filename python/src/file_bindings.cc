// _core.TensorFile: the reader behind safe_open, load_file and load.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "bindings.h"
#include "buffers.h"
#include "errors.h"
#include "hyperslab_runs.h"
#include "tensor_file.h"

namespace safeckpt::python {
namespace {

namespace py = pybind11;

// A TensorFile and, for one made from bytes, the buffer that keeps those
// bytes alive and unmovable.
struct PyTensorFile {
  std::unique_ptr<BufferView> bytes;
  std::optional<TensorFile> file;

  const TensorFile& Get() const { return *file; }
};

std::unique_ptr<PyTensorFile> OpenFile(const std::string& path, uint32_t threads) {
  Result<TensorFile> file = [&] {
    py::gil_scoped_release release;
    return TensorFile::Open(path, threads);
  }();
  auto opened = std::make_unique<PyTensorFile>();
  opened->file.emplace(ValueOrThrow(std::move(file)));
  return opened;
}

std::unique_ptr<PyTensorFile> OpenBytes(py::handle data, const std::string& display_name) {
  auto opened = std::make_unique<PyTensorFile>();
  opened->bytes = std::make_unique<BufferView>(data, /*writable=*/false, display_name);
  std::string_view bytes(static_cast<const char*>(opened->bytes->data()),
                         opened->bytes->size_bytes());
  opened->file.emplace(ValueOrThrow(TensorFile::FromBytes(bytes, display_name)));
  return opened;
}

py::tuple DescribeTensor(const TensorInfo& tensor) {
  return py::make_tuple(tensor.name, std::string(DTypeName(tensor.dtype)), py::cast(tensor.shape),
                        tensor.data_begin, tensor.data_end);
}

// (name, dtype, shape, begin, end) of every tensor, in data_offsets order.
py::list Tensors(const PyTensorFile& self) {
  py::list tensors;
  for (const TensorInfo& tensor : self.Get().header().tensors) {
    tensors.append(DescribeTensor(tensor));
  }
  return tensors;
}

// The __metadata__ entries, or None when the header has no __metadata__.
py::object Metadata(const PyTensorFile& self) {
  const SafetensorsHeader& header = self.Get().header();
  if (!header.has_metadata) return py::none();
  py::dict metadata;
  for (const auto& [key, value] : header.metadata) metadata[py::str(key)] = value;
  return metadata;
}

py::tuple Info(const PyTensorFile& self, const std::string& name) {
  return DescribeTensor(*ValueOrThrow(self.Get().Get(name)));
}

// Reads whole tensors: names[i] into destinations[i], a writable
// C-contiguous buffer of exactly the tensor's size.
void Read(const PyTensorFile& self, const std::vector<std::string>& names,
          const py::list& destinations) {
  if (names.size() != destinations.size()) {
    throw py::value_error(fmt::format("{} names but {} destinations", names.size(),
                                      destinations.size()));
  }

  std::vector<BufferView> views;
  std::vector<TensorRead> reads;
  views.reserve(names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    const TensorInfo* tensor = ValueOrThrow(self.Get().Get(names[i]));
    views.emplace_back(destinations[i], /*writable=*/true, fmt::format("tensor '{}'", names[i]));
    reads.push_back({tensor, views.back().data(), views.back().size_bytes()});
  }

  Status status;
  {
    py::gil_scoped_release release;
    status = self.Get().ReadTensors(reads);
  }
  ThrowIfError(status);
}

// Reads the hyperslab [starts, stops) of one tensor into `destination`.
void ReadHyperslab(const PyTensorFile& self, const std::string& name,
                   const std::vector<uint64_t>& starts, const std::vector<uint64_t>& stops,
                   py::handle destination) {
  const TensorInfo& tensor = *ValueOrThrow(self.Get().Get(name));
  HyperslabRuns runs =
      ValueOrThrow(HyperslabRuns::Plan(tensor.dtype, tensor.shape, starts, stops, tensor.name));
  BufferView view(destination, /*writable=*/true, fmt::format("tensor '{}'", name));

  Status status;
  {
    py::gil_scoped_release release;
    status = self.Get().ReadHyperslab(tensor, runs, view.data(), view.size_bytes());
  }
  ThrowIfError(status);
}

}  // namespace

void RegisterTensorFile(py::module_& module) {
  py::class_<PyTensorFile>(module, "TensorFile",
                           "A validated safetensors file or bytes object, read on request.")
      .def_static("open", &OpenFile, py::arg("path"), py::arg("threads") = 0,
                  "Read and validate the header of the file at `path`.")
      .def_static("from_bytes", &OpenBytes, py::arg("data"), py::arg("name") = "<bytes>",
                  "Validate safetensors bytes; the object keeps `data` alive.")
      // Decoded as os.fsdecode does, so a path that is not UTF-8 still
      // comes back as the str that names the file.
      .def_property_readonly("name",
                             [](const PyTensorFile& self) {
                               const std::string& name = self.Get().name();
                               return py::reinterpret_steal<py::str>(PyUnicode_DecodeFSDefaultAndSize(
                                   name.data(), static_cast<Py_ssize_t>(name.size())));
                             })
      .def("tensors", &Tensors)
      .def("metadata", &Metadata)
      .def("info", &Info, py::arg("name"))
      .def("read", &Read, py::arg("names"), py::arg("destinations"))
      .def("read_hyperslab", &ReadHyperslab, py::arg("name"), py::arg("starts"), py::arg("stops"),
           py::arg("destination"));
}

}  // namespace safeckpt::python
