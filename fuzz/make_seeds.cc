// Writes the seed corpora and dictionaries of the fuzz targets.
//
//   safeckpt_fuzz_seeds OUT_DIR [CORPUS_DIR]
//
// OUT_DIR receives header/, index/, manifest/ and checkpoint/ with one seed
// per file, and header.dict, index.dict, manifest.dict and checkpoint.dict
// for libFuzzer's -dict=. Every seed is made by the project's own writer
// except, when CORPUS_DIR (a copy of the real-file corpus, with files/ and
// index/) is given, the header seeds taken from its safetensors files and the
// index seeds taken from its indexes.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "checkpoint_framing.h"
#include "safeckpt/checkpoint.h"
#include "safeckpt/dtype.h"
#include "safeckpt/manifest.h"
#include "safeckpt/writer.h"

namespace safeckpt::fuzz {
namespace {

namespace fs = std::filesystem;

// A tensor and the bytes it owns; TensorToWrite only points at them.
struct SeedTensor {
  std::string name;
  DType dtype = DType::kF32;
  Shape shape;
  std::string data;
};

// Returns a tensor whose bytes count up from `seed`, or nullopt when the
// dtype has no whole byte size for `shape`.
std::optional<SeedTensor> MakeTensor(std::string name, DType dtype, Shape shape, uint8_t seed) {
  std::optional<uint64_t> size = ByteSize(dtype, shape);
  if (!size) return std::nullopt;
  SeedTensor tensor{std::move(name), dtype, std::move(shape), std::string(*size, '\0')};
  for (size_t i = 0; i < tensor.data.size(); ++i) tensor.data[i] = static_cast<char>(seed + i);
  return tensor;
}

std::vector<TensorToWrite> ToWrite(const std::vector<SeedTensor>& tensors) {
  std::vector<TensorToWrite> result;
  for (const SeedTensor& tensor : tensors) {
    result.push_back({tensor.name, tensor.dtype, tensor.shape, tensor.data.data()});
  }
  return result;
}

// The bytes of one safetensors file: header, then the data in tensor order.
std::string SafetensorsBytes(const std::vector<SeedTensor>& tensors, const WriteOptions& options) {
  std::string bytes = BuildSafetensorsHeader(ToWrite(tensors), options);
  for (const SeedTensor& tensor : tensors) bytes += tensor.data;
  return bytes;
}

void WriteSeed(const fs::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "safeckpt_fuzz_seeds: cannot write %s\n", path.c_str());
    std::exit(1);
  }
}

std::string ReadWhole(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Tensors of several dtypes and ranks, a scalar, zero-size tensors and a
// bookkeeping entry.
std::vector<SeedTensor> MixedTensors() {
  std::vector<SeedTensor> mixed;
  for (auto&& tensor : {MakeTensor("model.embed_tokens.weight", DType::kBF16, {4, 3}, 7),
                        MakeTensor("model.layers.0.mlp.experts.1.w1", DType::kF16, {2, 2, 2}, 3),
                        MakeTensor("model.norm.scale", DType::kF32, {}, 9),
                        MakeTensor("model.layers.0.self_attn._extra_state", DType::kU8, {0}, 0),
                        MakeTensor("model.empty", DType::kI64, {3, 0}, 0),
                        MakeTensor("lm_head.weight", DType::kBF16, {4, 3}, 5)}) {
    mixed.push_back(*tensor);
  }
  return mixed;
}

// Small sets of tensors: one per dtype, the mixed set and none at all.
std::vector<std::vector<SeedTensor>> TensorSets() {
  std::vector<std::vector<SeedTensor>> sets;
  for (int i = 0; i < kDTypeCount; ++i) {
    DType dtype = static_cast<DType>(i);
    std::optional<SeedTensor> tensor = MakeTensor("model.layers.0.weight", dtype, {2, 4}, 1);
    if (tensor) sets.push_back({*tensor});
  }
  sets.push_back(MixedTensors());
  sets.push_back({});
  return sets;
}

// Header seeds: every tensor set, with and without padding and metadata.
void WriteHeaderSeeds(const fs::path& dir) {
  int count = 0;
  for (const std::vector<SeedTensor>& tensors : TensorSets()) {
    for (bool pad : {true, false}) {
      WriteOptions options;
      options.pad_header = pad;
      if (!pad) options.metadata = {{"format", "pt"}, {"source", "safeckpt seeds"}};
      WriteSeed(dir / ("seed-" + std::to_string(count++)), SafetensorsBytes(tensors, options));
    }
  }
}

// Saves `tensors` with the project's writer into `dir`, in files of at most
// `max_shard_bytes` tensor bytes, and returns `dir`.
fs::path SaveSeedCheckpoint(const fs::path& dir, const std::vector<SeedTensor>& tensors,
                            uint64_t max_shard_bytes) {
  SaveOptions options;
  options.sharding.max_shard_bytes = max_shard_bytes;
  options.threads = 1;
  Result<SaveSummary> saved = SaveCheckpoint(dir.string(), ToWrite(tensors), options);
  if (!saved.ok()) {
    std::fprintf(stderr, "safeckpt_fuzz_seeds: %s\n", saved.status().message().c_str());
    std::exit(1);
  }
  return dir;
}

// The mixed set saved as one file and as two shards with an index. The
// index seeds, manifest seeds and checkpoint seeds are cut from these.
struct SavedCheckpoints {
  fs::path single;
  fs::path sharded;
};

SavedCheckpoints SaveCheckpoints(const fs::path& scratch) {
  std::vector<SeedTensor> mixed = MixedTensors();
  fs::remove_all(scratch);
  fs::create_directories(scratch);
  SavedCheckpoints saved;
  saved.single = SaveSeedCheckpoint(scratch / "single", mixed, kDefaultMaxShardBytes);
  // 48 bytes per file splits the 68 bytes of the mixed set into the two
  // files that kShardNames names.
  saved.sharded = SaveSeedCheckpoint(scratch / "sharded", mixed, 48);
  for (std::string_view name : kShardNames) {
    if (!fs::exists(saved.sharded / name)) {
      std::fprintf(stderr, "safeckpt_fuzz_seeds: the writer did not make %s\n",
                   std::string(name).c_str());
      std::exit(1);
    }
  }
  return saved;
}

void WriteIndexSeeds(const fs::path& dir, const SavedCheckpoints& saved) {
  std::string index = ReadWhole(saved.sharded / kIndexFileName);
  WriteSeed(dir / "seed-saved", index);
  WriteSeed(dir / "seed-minimal", R"({"weight_map": {"a": "model-00001-of-00002.safetensors"}})");
  WriteSeed(dir / "seed-paths",
            R"({"metadata": {"total_size": "12"}, "weight_map": {"a": "./x//model.safetensors",)"
            R"( "b": "sub/../model.safetensors"}})");
}

void WriteManifestSeeds(const fs::path& dir, const SavedCheckpoints& saved) {
  Result<Checkpoint> checkpoint = Checkpoint::Open(saved.sharded.string());
  if (checkpoint.ok()) {
    WriteSeed(dir / "seed-saved", FormatManifest(ManifestFromCheckpoint(*checkpoint)));
  }
  WriteSeed(dir / "seed-roles", R"({"safeckpt_manifest": 1,
 "renames": [["^backbone\\.", "model."]],
 "adapter": "none",
 "tensors": {
  "model.embed_tokens.weight": {"dtype": "BF16", "shape": [32, 8]},
  "model.layers.0.self_attn._extra_state": {"dtype": "U8", "shape": [0], "role": "bookkeeping"},
  "model.rotary_emb.inv_freq": {"dtype": "F32", "shape": [4], "role": "buffer"},
  "lm_head.weight": {"dtype": "BF16", "shape": [32, 8], "tied_to": "model.embed_tokens.weight"}}}
)");
  WriteSeed(dir / "seed-sharding", R"({"safeckpt_manifest": 1, "rank": 1, "world_size": 2,
 "sharding": [{"pattern": "mlp", "replicate": true}, {"pattern": "experts\\.", "shard": {"dim": 0}}],
 "tensors": {
  "model.layers.0.mlp.experts.w1": {"dtype": "F32", "shape": [4, 6]},
  "model.layers.0.mlp.gate": {"dtype": "F32", "shape": [4]},
  "a": {"dtype": "F16", "shape": [9, 2], "shard": {"dim": 1}},
  "b": {"dtype": "F16", "shape": [6, 6], "slice": [[2, 4], [0, 6]]},
  "c": {"dtype": "I8", "shape": [3], "replicate": true}}}
)");
}

// Checkpoint seeds: the saved checkpoints framed with every combination of
// the option bits.
void WriteCheckpointSeeds(const fs::path& dir, const SavedCheckpoints& saved) {
  std::string index = ReadWhole(saved.sharded / kIndexFileName);
  std::vector<std::string> shards;
  for (std::string_view name : kShardNames) shards.push_back(ReadWhole(saved.sharded / name));
  std::vector<std::string> single = {ReadWhole(saved.single / "model.safetensors")};

  for (uint8_t options = 0; options < 16; ++options) {
    std::string suffix = std::to_string(options);
    WriteSeed(dir / ("seed-sharded-" + suffix), JoinFramedInput(options, index, shards));
    WriteSeed(dir / ("seed-single-" + suffix), JoinFramedInput(options, "", single));
  }
}

// Returns `text` as a JSON string literal.
std::string JsonString(std::string_view text) {
  std::string quoted = "\"";
  for (char c : text) {
    unsigned char byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      quoted += '\\';
      quoted += c;
    } else if (byte < 0x20) {
      char escape[8];
      std::snprintf(escape, sizeof(escape), "\\u%04x", byte);
      quoted += escape;
    } else {
      quoted += c;
    }
  }
  return quoted + "\"";
}

// An index of at most kMaxIndexEntries entries: `text` itself when it is
// that small or does not parse, otherwise its first entries and total_size.
// Large real indexes would slow every execution without adding structure.
std::string ShortenIndex(const std::string& text) {
  constexpr size_t kMaxIndexEntries = 32;
  Result<CheckpointIndex> index = ParseCheckpointIndex(text, kIndexFileName);
  if (!index.ok() || index->weight_map.size() <= kMaxIndexEntries) return text;

  std::string shortened = "{\"metadata\": {\"total_size\": ";
  shortened += std::to_string(index->total_size.value_or(0)) + "},\n \"weight_map\": {";
  for (size_t i = 0; i < kMaxIndexEntries; ++i) {
    const auto& [tensor, file] = index->weight_map[i];
    shortened += (i == 0 ? "\n  " : ",\n  ") + JsonString(tensor) + ": " + JsonString(file);
  }
  return shortened + "}}\n";
}

// Seeds from the real-file corpus: every index (shortened), and of every
// safetensors file its header bytes (8 + N) and, up to kMaxWholeFile bytes,
// the whole file.
void WriteCorpusSeeds(const fs::path& corpus, const fs::path& header_dir,
                      const fs::path& index_dir) {
  constexpr uint64_t kMaxWholeFile = 16 << 10;
  int count = 0;
  std::error_code error;
  for (const fs::directory_entry& entry : fs::recursive_directory_iterator(corpus, error)) {
    const fs::path& path = entry.path();
    if (!entry.is_regular_file()) continue;
    std::string prefix = "corpus-" + std::to_string(count++) + "-";
    if (path.filename() == kIndexFileName) {
      WriteSeed(index_dir / (prefix + "index"), ShortenIndex(ReadWhole(path)));
      continue;
    }
    if (path.extension() != ".safetensors") continue;

    std::string bytes = ReadWhole(path);
    if (bytes.size() <= kMaxWholeFile) WriteSeed(header_dir / (prefix + "whole"), bytes);
    if (bytes.size() < 8) continue;
    uint64_t length = 0;
    for (int i = 7; i >= 0; --i) length = (length << 8) | static_cast<unsigned char>(bytes[i]);
    if (length <= bytes.size() - 8) {
      WriteSeed(header_dir / (prefix + "header"), bytes.substr(0, 8 + length));
    }
  }
}

// Tokens of the JSON grammar and of the formats' keys, one per line in
// libFuzzer's dictionary syntax.
void WriteDictionary(const fs::path& path, const std::vector<std::string>& extra) {
  std::vector<std::string> tokens = {"{", "}", "[", "]", ":", ",", "\\\"", "true", "false",
                                     "null", "0", "-1", "1e400", "18446744073709551616",
                                     "\\\\u0000", "\\\\ud800"};
  tokens.insert(tokens.end(), extra.begin(), extra.end());
  std::string text;
  for (const std::string& token : tokens) text += "\"" + token + "\"\n";
  WriteSeed(path, text);
}

std::vector<std::string> DTypeTokens() {
  std::vector<std::string> tokens;
  for (int i = 0; i < kDTypeCount; ++i) tokens.emplace_back(DTypeName(static_cast<DType>(i)));
  return tokens;
}

void WriteDictionaries(const fs::path& out) {
  std::vector<std::string> header = DTypeTokens();
  header.insert(header.end(), {"dtype", "shape", "data_offsets", "__metadata__", "format", "pt"});
  WriteDictionary(out / "header.dict", header);

  std::vector<std::string> index = {"weight_map", "metadata", "total_size", "./", "../", "/",
                                    "model-00001-of-00002.safetensors"};
  WriteDictionary(out / "index.dict", index);

  std::vector<std::string> manifest = DTypeTokens();
  manifest.insert(manifest.end(),
                  {"safeckpt_manifest", "tensors", "renames", "adapter", "rank", "world_size",
                   "sharding", "pattern", "shard", "dim", "replicate", "slice", "role",
                   "bookkeeping", "buffer", "parameter", "tied_to", "_extra_state", "auto"});
  WriteDictionary(out / "manifest.dict", manifest);

  std::vector<std::string> checkpoint = header;
  checkpoint.insert(checkpoint.end(), index.begin(), index.end());
  checkpoint.emplace_back("\\x0a@@safeckpt-fuzz-part@@\\x0a");
  WriteDictionary(out / "checkpoint.dict", checkpoint);
}

}  // namespace
}  // namespace safeckpt::fuzz

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  using namespace safeckpt::fuzz;
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: safeckpt_fuzz_seeds OUT_DIR [CORPUS_DIR]\n");
    return 2;
  }
  fs::path out = argv[1];
  for (const char* target : {"header", "index", "manifest", "checkpoint"}) {
    fs::create_directories(out / target);
  }

  WriteHeaderSeeds(out / "header");
  SavedCheckpoints saved = SaveCheckpoints(out / "saved");
  WriteIndexSeeds(out / "index", saved);
  WriteManifestSeeds(out / "manifest", saved);
  WriteCheckpointSeeds(out / "checkpoint", saved);
  if (argc == 3) WriteCorpusSeeds(argv[2], out / "header", out / "index");
  WriteDictionaries(out);
  fs::remove_all(out / "saved");
  return 0;
}
