#include "safeckpt/adapter.h"

#include <simdjson.h>

#include <filesystem>

#include <fmt/format.h>

#include "adapt/adapter_spec.h"
#include "format/json_dom.h"
#include "format/json_text.h"
#include "io/file.h"

namespace safeckpt {
namespace {

// config.json files of real models are a few kilobytes.
constexpr uint64_t kMaxConfigBytes = 16 << 20;

// Real config.json files nest a few levels (quantization_config,
// rope_scaling); deeper text is rejected before it is parsed.
constexpr uint32_t kMaxConfigDepth = 64;

// config.json belongs to the checkpoint, so its defects are checkpoint
// errors (kCorruption, exit code 3), not usage errors.
Status ConfigInvalid(const std::filesystem::path& config, std::string_view problem) {
  return Corruption(ErrorId::kAdapterInvalid,
                    fmt::format("{}: {}, so --adapter auto cannot read its \"model_type\"; fix "
                                "the file or name the adapter instead",
                                config.string(), problem));
}

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
  // A broken symlink counts as present, so that it is reported.
  std::error_code error;
  if (std::filesystem::symlink_status(config, error).type() ==
      std::filesystem::file_type::not_found) {
    return std::string();
  }

  SAFECKPT_ASSIGN_OR_RETURN(std::string text,
                            internal::ReadWholeFile(config.string(), kMaxConfigBytes));
  if (internal::StartsWithByteOrderMark(text)) {
    return ConfigInvalid(config, "it starts with a UTF-8 byte order mark, which JSON forbids");
  }
  if (internal::ScanJsonNesting(text, kMaxConfigDepth).too_deep_at) {
    return ConfigInvalid(config, fmt::format("its JSON nests deeper than {} levels", kMaxConfigDepth));
  }
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  simdjson::error_code parsed = parser.parse(simdjson::padded_string(text)).get(root);
  if (parsed != simdjson::SUCCESS) {
    return ConfigInvalid(config, fmt::format("it is not valid JSON ({})", simdjson::error_message(parsed)));
  }
  if (!root.is_object()) {
    return ConfigInvalid(config, fmt::format("its top level is {}, not an object",
                                             internal::DescribeJsonType(root)));
  }
  simdjson::dom::element value;
  if (root["model_type"].get(value) != simdjson::SUCCESS) return std::string();
  std::string_view model_type;
  if (value.get_string().get(model_type) != simdjson::SUCCESS) {
    return ConfigInvalid(config, fmt::format("its \"model_type\" is {}, not a string",
                                             internal::DescribeJsonType(value)));
  }
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
