#include "safeckpt/adapter.h"

#include <simdjson.h>

#include <filesystem>

#include <fmt/format.h>

#include "adapt/adapter_spec.h"
#include "io/file.h"

namespace safeckpt {
namespace {

// config.json files of real models are a few kilobytes.
constexpr uint64_t kMaxConfigBytes = 16 << 20;

std::string KnownNames() {
  std::string names;
  for (const internal::AdapterSpec& spec : internal::AdapterSpecs()) {
    if (!names.empty()) names += ", ";
    names += spec.name;
  }
  return names;
}

// config.json in the checkpoint directory, or beside a single file.
std::filesystem::path ConfigPath(const std::string& checkpoint_path) {
  const std::filesystem::path path(checkpoint_path);
  std::error_code error;
  const std::filesystem::path directory =
      std::filesystem::is_directory(path, error) ? path : path.parent_path();
  return directory / "config.json";
}

// The "model_type" of config.json, or an empty string when the file or the
// key is absent.
Result<std::string> ReadModelType(const std::string& checkpoint_path) {
  const std::filesystem::path config = ConfigPath(checkpoint_path);
  std::error_code error;
  if (!std::filesystem::exists(config, error)) return std::string();

  SAFECKPT_ASSIGN_OR_RETURN(std::string text,
                            internal::ReadWholeFile(config.string(), kMaxConfigBytes));
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(simdjson::padded_string(text)).get(root) != simdjson::SUCCESS ||
      !root.is_object()) {
    return InvalidArgument(ErrorId::kManifestInvalid,
                           fmt::format("{}: not a JSON object, so --adapter auto cannot read its "
                                       "\"model_type\"; name the adapter instead",
                                       config.string()));
  }
  std::string_view model_type;
  if (root["model_type"].get_string().get(model_type) != simdjson::SUCCESS) return std::string();
  return std::string(model_type);
}

}  // namespace

std::vector<AdapterInfo> Adapters() {
  std::vector<AdapterInfo> adapters;
  for (const internal::AdapterSpec& spec : internal::AdapterSpecs()) {
    AdapterInfo info;
    info.name = std::string(spec.name);
    for (std::string_view model_type : spec.model_types) info.model_types.emplace_back(model_type);
    info.description = std::string(spec.description);
    adapters.push_back(std::move(info));
  }
  return adapters;
}

std::string AdapterForModelType(std::string_view model_type) {
  for (const internal::AdapterSpec& spec : internal::AdapterSpecs()) {
    for (std::string_view served : spec.model_types) {
      if (served == model_type) return std::string(spec.name);
    }
  }
  return std::string();
}

Result<std::string> ResolveAdapter(std::string_view option, const std::string& checkpoint_path) {
  if (option.empty() || option == "none") return std::string();
  if (option == "auto") {
    SAFECKPT_ASSIGN_OR_RETURN(std::string model_type, ReadModelType(checkpoint_path));
    return AdapterForModelType(model_type);
  }
  if (internal::FindAdapterSpec(option) != nullptr) return std::string(option);
  return InvalidArgument(ErrorId::kAdapterInvalid,
                         fmt::format("unknown adapter '{}'; known adapters: {}, or auto or none",
                                     option, KnownNames()));
}

}  // namespace safeckpt
