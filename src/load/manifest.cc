#include "safeckpt/manifest.h"

#include <simdjson.h>

#include <span>
#include <string>
#include <unordered_set>
#include <utility>

#include <fmt/format.h>

#include "core/json_writer.h"
#include "safeckpt/sharding.h"
#include "format/json_dom.h"
#include "format/json_text.h"
#include "io/file.h"

namespace safeckpt {
namespace {

using simdjson::dom::element;

// A manifest has one short line per tensor, so by estimate a model with a
// million tensors needs about 100 MiB.
constexpr uint64_t kMaxManifestBytes = 1ull << 30;

// A manifest nests five levels deep at most (top level, tensors, entry,
// slice, bounds); the cap leaves room and stops deeper text before parsing.
constexpr uint32_t kMaxManifestDepth = 64;

// Position of a value in the manifest, named by error messages.
struct Location {
  std::string_view file;
  std::string_view tensor;  // empty outside "tensors"
};

Status ManifestError(const Location& location, std::string_view message) {
  std::string text = location.tensor.empty()
                         ? fmt::format("{}: {}", location.file, message)
                         : fmt::format("{}: tensor '{}': {}", location.file, location.tensor, message);
  return InvalidArgument(ErrorId::kManifestInvalid, std::move(text));
}

// Formats a value with its JSON type, e.g. `"1" (a string)`.
std::string DescribeValue(element value) {
  return fmt::format("{} ({})", internal::JsonValueText(value), internal::DescribeJsonType(value));
}

// One accepted key of a JSON object and the function that parses its value
// into `Target`. Supporting a new key means adding one row to a table.
template <typename Target>
struct Field {
  std::string_view key;
  bool required;
  Status (*parse)(element value, const Location& location, Target& target);
};

template <typename Target>
std::string AcceptedKeys(std::span<const Field<Target>> fields) {
  std::string keys;
  for (const Field<Target>& field : fields) {
    if (!keys.empty()) keys += ", ";
    keys += fmt::format("\"{}\"", field.key);
  }
  return keys;
}

template <typename Target>
const Field<Target>* FindField(std::span<const Field<Target>> fields, std::string_view key) {
  for (const Field<Target>& field : fields) {
    if (field.key == key) return &field;
  }
  return nullptr;
}

// Parses every field of `object` into `target`. Unknown and repeated keys are
// rejected. Fields are parsed in table order, not file order, so that the
// version is checked before anything that depends on it.
template <typename Target>
Status ParseFields(simdjson::dom::object object, std::span<const Field<Target>> fields,
                   std::string_view where, const Location& location, Target& target) {
  std::unordered_set<std::string_view> seen;
  for (simdjson::dom::key_value_pair member : object) {
    if (FindField(fields, member.key) == nullptr) {
      return ManifestError(location, fmt::format("unknown key \"{}\" in {}; accepted keys: {}",
                                                 member.key, where, AcceptedKeys(fields)));
    }
    if (!seen.insert(member.key).second) {
      return ManifestError(location, fmt::format("key \"{}\" appears twice in {}", member.key, where));
    }
  }

  for (const Field<Target>& field : fields) {
    element value;
    if (object.at_key(field.key).get(value) != simdjson::SUCCESS) {
      if (!field.required) continue;
      return ManifestError(location,
                           fmt::format("required key \"{}\" is missing from {}", field.key, where));
    }
    SAFECKPT_RETURN_IF_ERROR(field.parse(value, location, target));
  }
  return Status::Ok();
}

// --- Tensor entries ---------------------------------------------------------

// One entry of "tensors": the tensor, and its own sharding when it gives one.
struct TensorEntry {
  ExpectedTensor tensor;
  std::optional<Sharding> sharding;
};

Status ParseDtype(element value, const Location& location, TensorEntry& entry) {
  ExpectedTensor& tensor = entry.tensor;
  std::string_view name;
  if (value.get_string().get(name) != simdjson::SUCCESS) {
    return ManifestError(location, fmt::format("\"dtype\" is {}; expected a string such as \"BF16\"",
                                               DescribeValue(value)));
  }
  std::optional<DType> dtype = ParseDType(name);
  if (!dtype) {
    return ManifestError(location, fmt::format("\"dtype\" \"{}\" is unknown; accepted dtypes: {}",
                                               name, AllDTypeNames()));
  }
  tensor.dtype = *dtype;
  return Status::Ok();
}

Status ParseShape(element value, const Location& location, TensorEntry& entry) {
  ExpectedTensor& tensor = entry.tensor;
  simdjson::dom::array dimensions;
  if (value.get_array().get(dimensions) != simdjson::SUCCESS) {
    return ManifestError(location, fmt::format("\"shape\" is {}; expected an array of "
                                               "non-negative integers such as [4096, 11008]",
                                               DescribeValue(value)));
  }

  Shape shape;
  for (element dimension : dimensions) {
    std::optional<uint64_t> size = internal::NonNegativeInteger(dimension);
    if (!size) {
      return ManifestError(
          location, fmt::format("\"shape\" {}: dimension {} is {}; expected non-negative integers",
                                internal::JsonValueText(value), shape.size(),
                                DescribeValue(dimension)));
    }
    shape.push_back(*size);
  }
  tensor.shape = std::move(shape);
  return Status::Ok();
}

std::optional<TensorRole> ParseRole(std::string_view name) {
  for (TensorRole role : {TensorRole::kParameter, TensorRole::kBuffer, TensorRole::kBookkeeping}) {
    if (TensorRoleName(role) == name) return role;
  }
  return std::nullopt;
}

Status ParseRoleField(element value, const Location& location, TensorEntry& entry) {
  ExpectedTensor& tensor = entry.tensor;
  std::string_view name;
  std::optional<TensorRole> role;
  if (value.get_string().get(name) == simdjson::SUCCESS) role = ParseRole(name);
  if (!role) {
    return ManifestError(location,
                         fmt::format("\"role\" is {}; accepted roles: \"parameter\", \"buffer\", "
                                     "\"bookkeeping\"",
                                     DescribeValue(value)));
  }
  tensor.role = *role;
  return Status::Ok();
}

Status ParseTiedTo(element value, const Location& location, TensorEntry& entry) {
  ExpectedTensor& tensor = entry.tensor;
  std::string_view source;
  if (value.get_string().get(source) != simdjson::SUCCESS || source.empty()) {
    return ManifestError(location, fmt::format("\"tied_to\" is {}; expected the name of another "
                                               "tensor in this manifest",
                                               DescribeValue(value)));
  }
  tensor.tied_to = std::string(source);
  return Status::Ok();
}

// --- Sharding ---------------------------------------------------------------
// "shard", "replicate" and "slice" are parsed for tensor entries and for
// "sharding" rules alike: any target with an optional `sharding` member.

Result<uint32_t> ParseUint32(element value, const Location& location, std::string_view what) {
  std::optional<uint64_t> number = internal::NonNegativeInteger(value);
  if (!number || *number > UINT32_MAX) {
    return ManifestError(location, fmt::format("{} is {}; expected an integer from 0 to {}", what,
                                               DescribeValue(value), UINT32_MAX));
  }
  return static_cast<uint32_t>(*number);
}

template <typename Target>
Status SetSharding(Sharding sharding, std::string_view key, const Location& location,
                   Target& target) {
  if (target.sharding) {
    return ManifestError(location, fmt::format("\"{}\" and another of \"shard\", \"replicate\", "
                                               "\"slice\" are both given; keep one",
                                               key));
  }
  target.sharding = std::move(sharding);
  return Status::Ok();
}

template <typename Target>
Status ParseShardField(element value, const Location& location, Target& target) {
  simdjson::dom::object object;
  element dim;
  if (value.get_object().get(object) != simdjson::SUCCESS || object.size() != 1 ||
      object.at_key("dim").get(dim) != simdjson::SUCCESS) {
    return ManifestError(location, fmt::format("\"shard\" is {}; expected {{\"dim\": D}}, the "
                                               "dimension split across ranks",
                                               DescribeValue(value)));
  }
  SAFECKPT_ASSIGN_OR_RETURN(uint32_t dimension, ParseUint32(dim, location, "\"shard\" \"dim\""));
  return SetSharding(Sharding::Shard(dimension), "shard", location, target);
}

template <typename Target>
Status ParseReplicateField(element value, const Location& location, Target& target) {
  bool replicate = false;
  if (value.get_bool().get(replicate) != simdjson::SUCCESS || !replicate) {
    return ManifestError(location,
                         fmt::format("\"replicate\" is {}; expected true (leave the key out "
                                     "otherwise)",
                                     DescribeValue(value)));
  }
  return SetSharding(Sharding::Replicate(), "replicate", location, target);
}

Result<IndexRange> ParseIndexRange(element value, size_t dim, const Location& location) {
  simdjson::dom::array pair;
  std::optional<uint64_t> start;
  std::optional<uint64_t> stop;
  if (value.get_array().get(pair) == simdjson::SUCCESS && pair.size() == 2) {
    start = internal::NonNegativeInteger(pair.at(0).value_unsafe());
    stop = internal::NonNegativeInteger(pair.at(1).value_unsafe());
  }
  if (!start || !stop || *start > *stop) {
    return ManifestError(location, fmt::format("\"slice\" dimension {} is {}; expected [START, "
                                               "STOP] with 0 <= START <= STOP",
                                               dim, DescribeValue(value)));
  }
  return IndexRange{*start, *stop};
}

template <typename Target>
Status ParseSliceField(element value, const Location& location, Target& target) {
  simdjson::dom::array ranges;
  if (value.get_array().get(ranges) != simdjson::SUCCESS) {
    return ManifestError(location, fmt::format("\"slice\" is {}; expected one [START, STOP] "
                                               "range per dimension, such as [[0, 2048], [0, 4096]]",
                                               DescribeValue(value)));
  }
  Hyperslab slab;
  for (element range : ranges) {
    SAFECKPT_ASSIGN_OR_RETURN(IndexRange parsed,
                              ParseIndexRange(range, slab.ranges.size(), location));
    slab.ranges.push_back(parsed);
  }
  return SetSharding(Sharding::Slice(std::move(slab)), "slice", location, target);
}

constexpr Field<TensorEntry> kTensorFields[] = {
    {"dtype", true, ParseDtype},
    {"shape", true, ParseShape},
    {"role", false, ParseRoleField},
    {"tied_to", false, ParseTiedTo},
    {"shard", false, ParseShardField<TensorEntry>},
    {"replicate", false, ParseReplicateField<TensorEntry>},
    {"slice", false, ParseSliceField<TensorEntry>},
};

Result<TensorEntry> ParseTensor(std::string_view name, element value, std::string_view file) {
  Location location{file, name};
  simdjson::dom::object object;
  if (value.get_object().get(object) != simdjson::SUCCESS) {
    return ManifestError(location, fmt::format("entry is {}; expected an object such as "
                                               "{{\"dtype\": \"BF16\", \"shape\": [4096]}}",
                                               DescribeValue(value)));
  }

  TensorEntry entry;
  entry.tensor.name = std::string(name);
  SAFECKPT_RETURN_IF_ERROR(
      ParseFields<TensorEntry>(object, kTensorFields, "the tensor entry", location, entry));
  return entry;
}

// Checks every tied_to once all tensors are known: the source must be another
// tensor of the manifest and must not be tied itself, because a load resolves
// only one level of tying.
Status CheckTiedSources(const ModelState& model, std::string_view file) {
  for (const ExpectedTensor& tensor : model.tensors()) {
    if (tensor.tied_to.empty()) continue;
    Location location{file, tensor.name};
    const ExpectedTensor* source = model.Find(tensor.tied_to);
    if (source == nullptr) {
      return ManifestError(location, fmt::format("\"tied_to\" names '{}', which is not a tensor "
                                                 "in this manifest",
                                                 tensor.tied_to));
    }
    if (source == &tensor) {
      return ManifestError(location, "\"tied_to\" names the tensor itself");
    }
    if (!source->tied_to.empty()) {
      return ManifestError(location,
                           fmt::format("\"tied_to\" names '{}', which is itself tied to '{}'; tie "
                                       "both to '{}' instead",
                                       source->name, source->tied_to, source->tied_to));
    }
  }
  return Status::Ok();
}

// --- Top level --------------------------------------------------------------

Status ParseVersion(element value, const Location& location, Manifest&) {
  std::optional<uint64_t> version = internal::NonNegativeInteger(value);
  if (version && *version == static_cast<uint64_t>(kManifestVersion)) return Status::Ok();
  return ManifestError(location,
                       fmt::format("\"safeckpt_manifest\" is {}; this safeckpt reads version {}",
                                   DescribeValue(value), kManifestVersion));
}

Result<RenameRule> ParseRename(element value, size_t position, const Location& location) {
  simdjson::dom::array pair;
  std::string_view pattern;
  std::string_view replacement;
  bool is_pair = value.get_array().get(pair) == simdjson::SUCCESS && pair.size() == 2 &&
                 pair.at(0).get_string().get(pattern) == simdjson::SUCCESS &&
                 pair.at(1).get_string().get(replacement) == simdjson::SUCCESS;
  if (!is_pair) {
    return ManifestError(location, fmt::format("renames[{}] is {}; expected [PATTERN, "
                                               "REPLACEMENT], two strings",
                                               position, DescribeValue(value)));
  }

  RenameRule rule{std::string(pattern), std::string(replacement)};
  KeyRules rules;
  rules.renames = {rule};
  Status compiled = CompiledKeyRules::Compile(rules).status();
  if (!compiled.ok()) {
    return ManifestError(location, fmt::format("renames[{}]: {}", position, compiled.message()));
  }
  return rule;
}

Status ParseRenames(element value, const Location& location, Manifest& manifest) {
  simdjson::dom::array renames;
  if (value.get_array().get(renames) != simdjson::SUCCESS) {
    return ManifestError(location, fmt::format("\"renames\" is {}; expected an array of "
                                               "[PATTERN, REPLACEMENT] pairs",
                                               DescribeValue(value)));
  }
  size_t position = 0;
  for (element rename : renames) {
    SAFECKPT_ASSIGN_OR_RETURN(RenameRule rule, ParseRename(rename, position, location));
    manifest.renames.push_back(std::move(rule));
    ++position;
  }
  return Status::Ok();
}

Status ParseTensors(element value, const Location& location, Manifest& manifest) {
  simdjson::dom::object tensors;
  if (value.get_object().get(tensors) != simdjson::SUCCESS) {
    return ManifestError(location, fmt::format("\"tensors\" is {}; expected an object from tensor "
                                               "name to {{\"dtype\", \"shape\"}}",
                                               DescribeValue(value)));
  }
  for (simdjson::dom::key_value_pair member : tensors) {
    SAFECKPT_ASSIGN_OR_RETURN(TensorEntry entry,
                              ParseTensor(member.key, member.value, location.file));
    if (entry.sharding) {
      manifest.sharding.by_name.emplace(entry.tensor.name, std::move(*entry.sharding));
    }
    SAFECKPT_RETURN_IF_ERROR(manifest.model.Add(std::move(entry.tensor)).WithContext(location.file));
  }
  return CheckTiedSources(manifest.model, location.file);
}

// One element of "sharding": a pattern and what it does.
struct RuleEntry {
  std::string pattern;
  std::optional<Sharding> sharding;
};

Status ParseRulePattern(element value, const Location& location, RuleEntry& rule) {
  std::string_view pattern;
  if (value.get_string().get(pattern) != simdjson::SUCCESS || pattern.empty()) {
    return ManifestError(location, fmt::format("\"pattern\" is {}; expected an RE2 pattern such "
                                               "as \"\\\\.experts\\\\.\"",
                                               DescribeValue(value)));
  }
  rule.pattern = std::string(pattern);
  return Status::Ok();
}

constexpr Field<RuleEntry> kRuleFields[] = {
    {"pattern", true, ParseRulePattern},
    {"shard", false, ParseShardField<RuleEntry>},
    {"replicate", false, ParseReplicateField<RuleEntry>},
    {"slice", false, ParseSliceField<RuleEntry>},
};

Status ParseShardingRules(element value, const Location& location, Manifest& manifest) {
  simdjson::dom::array rules;
  if (value.get_array().get(rules) != simdjson::SUCCESS) {
    return ManifestError(location, fmt::format("\"sharding\" is {}; expected an array of rules "
                                               "such as {{\"pattern\": \"mlp\", \"shard\": "
                                               "{{\"dim\": 0}}}}",
                                               DescribeValue(value)));
  }
  for (element rule_value : rules) {
    const std::string where = fmt::format("sharding[{}]", manifest.sharding.rules.size());
    simdjson::dom::object object;
    if (rule_value.get_object().get(object) != simdjson::SUCCESS) {
      return ManifestError(location, fmt::format("{} is {}; expected an object with \"pattern\" "
                                                 "and one of \"shard\", \"replicate\", \"slice\"",
                                                 where, DescribeValue(rule_value)));
    }
    RuleEntry rule;
    SAFECKPT_RETURN_IF_ERROR(ParseFields<RuleEntry>(object, kRuleFields, where, location, rule));
    if (!rule.sharding) {
      return ManifestError(location, fmt::format("{} has no \"shard\", \"replicate\" or "
                                                 "\"slice\"; give one",
                                                 where));
    }
    manifest.sharding.rules.push_back({std::move(rule.pattern), std::move(*rule.sharding)});
  }
  return Status::Ok();
}

Status ParseRank(element value, const Location& location, Manifest& manifest) {
  SAFECKPT_ASSIGN_OR_RETURN(manifest.sharding.rank, ParseUint32(value, location, "\"rank\""));
  return Status::Ok();
}

Status ParseWorldSize(element value, const Location& location, Manifest& manifest) {
  SAFECKPT_ASSIGN_OR_RETURN(uint32_t world_size,
                            ParseUint32(value, location, "\"world_size\""));
  if (world_size == 0) {
    return ManifestError(location, "\"world_size\" is 0; expected the number of ranks, at least 1");
  }
  manifest.sharding.world_size = world_size;
  return Status::Ok();
}

Status ParseAdapterName(element value, const Location& location, Manifest& manifest) {
  std::string_view name;
  if (value.get_string().get(name) != simdjson::SUCCESS || name.empty()) {
    return ManifestError(location, fmt::format("\"adapter\" is {}; expected an adapter name "
                                               "such as \"mixtral\" (safeckpt adapters lists them)",
                                               DescribeValue(value)));
  }
  manifest.adapter = std::string(name);
  return Status::Ok();
}

constexpr Field<Manifest> kManifestFields[] = {
    {"safeckpt_manifest", true, ParseVersion},
    {"renames", false, ParseRenames},
    {"tensors", true, ParseTensors},
    {"rank", false, ParseRank},
    {"world_size", false, ParseWorldSize},
    {"sharding", false, ParseShardingRules},
    {"adapter", false, ParseAdapterName},
};

// --- Formatting -------------------------------------------------------------

// Writes the "shard", "replicate" or "slice" key of a sharding.
void WriteSharding(internal::JsonWriter& writer, const Sharding& sharding) {
  switch (sharding.kind) {
    case Sharding::Kind::kReplicate:
      writer.Key("replicate");
      writer.Bool(true);
      return;
    case Sharding::Kind::kShard:
      writer.Key("shard");
      writer.BeginObject(/*inline_container=*/true);
      writer.Key("dim");
      writer.Uint(sharding.dim);
      writer.EndObject();
      return;
    case Sharding::Kind::kSlice:
      writer.Key("slice");
      writer.BeginArray(/*inline_container=*/true);
      for (const IndexRange& range : sharding.slice.ranges) {
        writer.BeginArray(/*inline_container=*/true);
        writer.Uint(range.start);
        writer.Uint(range.stop);
        writer.EndArray();
      }
      writer.EndArray();
      return;
  }
}

void WriteShardingLayout(internal::JsonWriter& writer, const ShardingLayout& layout) {
  if (layout.rank != 0 || layout.world_size != 1) {
    writer.Key("rank");
    writer.Uint(layout.rank);
    writer.Key("world_size");
    writer.Uint(layout.world_size);
  }
  if (layout.rules.empty()) return;
  writer.Key("sharding");
  writer.BeginArray();
  for (const ShardingRule& rule : layout.rules) {
    writer.BeginObject(/*inline_container=*/true);
    writer.Key("pattern");
    writer.String(rule.pattern);
    WriteSharding(writer, rule.sharding);
    writer.EndObject();
  }
  writer.EndArray();
}

void WriteTensor(internal::JsonWriter& writer, const ExpectedTensor& tensor,
                 const ShardingLayout& layout) {
  writer.Key(tensor.name);
  writer.BeginObject(/*inline_container=*/true);
  writer.Key("dtype");
  writer.String(DTypeName(tensor.dtype));
  writer.Key("shape");
  writer.BeginArray();
  for (uint64_t dimension : tensor.shape) writer.Uint(dimension);
  writer.EndArray();
  if (tensor.role != TensorRole::kParameter) {
    writer.Key("role");
    writer.String(TensorRoleName(tensor.role));
  }
  if (!tensor.tied_to.empty()) {
    writer.Key("tied_to");
    writer.String(tensor.tied_to);
  }
  auto sharding = layout.by_name.find(tensor.name);
  if (sharding != layout.by_name.end()) WriteSharding(writer, sharding->second);
  writer.EndObject();
}

void WriteRenames(internal::JsonWriter& writer, const std::vector<RenameRule>& renames) {
  writer.Key("renames");
  writer.BeginArray();
  for (const RenameRule& rule : renames) {
    writer.BeginArray(/*inline_container=*/true);
    writer.String(rule.pattern);
    writer.String(rule.replacement);
    writer.EndArray();
  }
  writer.EndArray();
}

bool IsExtraState(std::string_view name) {
  constexpr std::string_view kLastComponent = "_extra_state";
  return name == kLastComponent ||
         (name.size() > kLastComponent.size() && name.ends_with(kLastComponent) &&
          name[name.size() - kLastComponent.size() - 1] == '.');
}

}  // namespace

Result<Manifest> ParseManifest(std::string_view text, std::string_view display_name) {
  Location location{display_name, {}};
  internal::JsonNesting nesting = internal::ScanJsonNesting(text, kMaxManifestDepth);
  if (nesting.too_deep_at) {
    return ManifestError(location, fmt::format("JSON nests deeper than the limit of {} levels (at "
                                               "offset {})",
                                               kMaxManifestDepth, *nesting.too_deep_at));
  }
  simdjson::dom::parser parser;
  simdjson::padded_string padded(text);
  element root;
  simdjson::error_code error = parser.allocate(text.size(), kMaxManifestDepth + 1);
  if (error == simdjson::SUCCESS) error = parser.parse(padded).get(root);
  if (error != simdjson::SUCCESS) {
    return ManifestError(location, fmt::format("not valid JSON: {}", simdjson::error_message(error)));
  }

  simdjson::dom::object object;
  if (root.get_object().get(object) != simdjson::SUCCESS) {
    return ManifestError(location, fmt::format("top level is {}; expected an object with "
                                               "\"safeckpt_manifest\": {} and \"tensors\"",
                                               DescribeValue(root), kManifestVersion));
  }

  // A newer manifest fails on its version, not on the first key it added.
  Manifest manifest;
  element version;
  if (object.at_key("safeckpt_manifest").get(version) == simdjson::SUCCESS) {
    SAFECKPT_RETURN_IF_ERROR(ParseVersion(version, location, manifest));
  }
  SAFECKPT_RETURN_IF_ERROR(
      ParseFields<Manifest>(object, kManifestFields, "the manifest", location, manifest));
  SAFECKPT_RETURN_IF_ERROR(ApplySharding(manifest.sharding, manifest.model).WithContext(display_name));
  return manifest;
}

Result<Manifest> ReadManifest(const std::string& path) {
  SAFECKPT_ASSIGN_OR_RETURN(std::string text, internal::ReadWholeFile(path, kMaxManifestBytes));
  return ParseManifest(text, path);
}

std::string FormatManifest(const Manifest& manifest) {
  internal::JsonWriter writer(/*indent=*/2);
  writer.BeginObject();
  writer.Key("safeckpt_manifest");
  writer.Uint(kManifestVersion);
  if (!manifest.renames.empty()) WriteRenames(writer, manifest.renames);
  if (!manifest.adapter.empty()) {
    writer.Key("adapter");
    writer.String(manifest.adapter);
  }
  WriteShardingLayout(writer, manifest.sharding);

  writer.Key("tensors");
  writer.BeginObject();
  for (const ExpectedTensor& tensor : manifest.model.tensors()) {
    WriteTensor(writer, tensor, manifest.sharding);
  }
  writer.EndObject();

  writer.EndObject();
  std::string text = writer.Take();
  text += '\n';
  return text;
}

Manifest ManifestFromCheckpoint(const Checkpoint& checkpoint) {
  Manifest manifest;
  for (const CheckpointTensor& source : checkpoint.tensors()) {
    ExpectedTensor tensor;
    tensor.name = source.name;
    tensor.dtype = source.dtype;
    tensor.shape = source.shape;
    tensor.role = IsExtraState(source.name) ? TensorRole::kBookkeeping : TensorRole::kParameter;

    // Checkpoint::Open rejects duplicate names and sizes that overflow, so
    // Add fails only for a tensor with an empty name.
    // NOTE: such a tensor is left out, because a manifest cannot name it.
    Status added = manifest.model.Add(std::move(tensor));
    (void)added;
  }
  return manifest;
}

}  // namespace safeckpt
