// Property tests of the whole read path. Random valid checkpoints are
// written, opened and loaded, and must come back byte for byte. Random byte
// mutations of them must either open and load exactly the bytes their
// headers describe or fail with an error Status.
//
// Cases are drawn from a seeded generator. A failure names the base seed and
// the case number; set SAFECKPT_PROPERTY_SEED to the base seed to replay it.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "safeckpt/checkpoint.h"
#include "safeckpt/loader.h"
#include "safeckpt/writer.h"
#include "support/test_support.h"

namespace safeckpt {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

// A piece of a generated name or metadata string, and the ways a JSON
// string may spell it. The first spelling is the plain one.
struct TextPiece {
  std::string text;
  std::vector<std::string> spellings;
};

const std::vector<TextPiece>& TextPieces() {
  static const std::vector<TextPiece> kPieces = {
      {"model", {"model"}},
      {"layers", {"layers"}},
      {"weight", {"weight"}},
      {"experts", {"experts"}},
      {".", {"."}},
      {"_", {"_"}},
      {"0", {"0"}},
      {"7", {"7"}},
      {"12", {"12"}},
      {"a", {"a", "\\u0061"}},
      {"/", {"/", "\\/"}},
      {" ", {" "}},
      {"\"", {"\\\"", "\\u0022"}},
      {"\\", {"\\\\", "\\u005c"}},
      {"\n", {"\\n", "\\u000a"}},
      {"\t", {"\\t", "\\u0009"}},
      {"\x01", {"\\u0001"}},
      {"\x7f", {"\x7f", "\\u007f"}},
      {"\xc3\xa9", {"\xc3\xa9", "\\u00e9"}},                    // é, two bytes
      {"\xe4\xb8\xad", {"\xe4\xb8\xad", "\\u4e2d"}},            // 中, three bytes
      {"\xf0\x9f\x99\x82", {"\xf0\x9f\x99\x82", "\\ud83d\\ude42"}},  // 🙂, four bytes
  };
  return kPieces;
}

// A string built from pieces, kept as piece indices so that a raw header
// can spell each piece in any of its JSON spellings.
struct GeneratedText {
  std::vector<size_t> pieces;

  std::string Text() const {
    std::string text;
    for (size_t piece : pieces) text += TextPieces()[piece].text;
    return text;
  }
};

struct GeneratedTensor {
  GeneratedText name;
  DType dtype = DType::kU8;
  Shape shape;
  std::string bytes;
};

struct GeneratedCheckpoint {
  std::vector<GeneratedTensor> tensors;
  bool has_metadata = false;
  std::vector<std::pair<GeneratedText, GeneratedText>> metadata;

  Metadata MetadataText() const {
    Metadata result;
    for (const auto& [key, value] : metadata) result.emplace_back(key.Text(), value.Text());
    return result;
  }
};

// How a generated checkpoint is written.
enum class Layout {
  kWriterFile,          // the writer's header and data, padded or not
  kWriterSharded,       // SaveCheckpoint with a small shard size, with an index
  kRawFile,             // hand-built bytes: unpadded, random order and spelling
  kRawSharded,          // hand-built shards and index
};

// Returns the layout of a case. SaveCheckpoint syncs every file and
// directory it writes, which is slow on a disk, so one case in eight uses it.
Layout LayoutOf(uint64_t case_number) {
  static constexpr Layout kCycle[] = {Layout::kWriterFile, Layout::kRawFile,
                                      Layout::kRawSharded, Layout::kWriterFile,
                                      Layout::kRawFile,    Layout::kRawSharded,
                                      Layout::kWriterSharded, Layout::kRawFile};
  return kCycle[case_number % std::size(kCycle)];
}

std::string_view LayoutName(Layout layout) {
  switch (layout) {
    case Layout::kWriterFile: return "writer, one file";
    case Layout::kWriterSharded: return "writer, sharded";
    case Layout::kRawFile: return "raw bytes, one file";
    case Layout::kRawSharded: return "raw bytes, sharded";
  }
  return "?";
}

uint64_t BaseSeed() {
  const char* text = std::getenv("SAFECKPT_PROPERTY_SEED");
  if (text != nullptr && *text != '\0') return std::strtoull(text, nullptr, 10);
  return 20240611;
}

// Random choices for one case.
class Random {
 public:
  explicit Random(uint64_t seed) : engine_(seed) {}

  // Returns a uniformly chosen integer in [low, high].
  uint64_t Between(uint64_t low, uint64_t high) {
    return std::uniform_int_distribution<uint64_t>(low, high)(engine_);
  }

  // Returns true with probability `percent` / 100.
  bool Percent(uint64_t percent) { return Between(1, 100) <= percent; }

  template <typename T>
  const T& Pick(const std::vector<T>& values) {
    return values[Between(0, values.size() - 1)];
  }

  std::string Bytes(uint64_t count) {
    std::string bytes(count, '\0');
    for (char& byte : bytes) byte = static_cast<char>(Between(0, 255));
    return bytes;
  }

  std::mt19937_64& engine() { return engine_; }

 private:
  std::mt19937_64 engine_;
};

GeneratedText RandomText(Random& random, uint64_t min_pieces, uint64_t max_pieces) {
  GeneratedText text;
  uint64_t count = random.Between(min_pieces, max_pieces);
  for (uint64_t i = 0; i < count; ++i) text.pieces.push_back(random.Between(0, TextPieces().size() - 1));
  return text;
}

// Returns a shape with a whole byte size for `dtype`: up to four dimensions,
// zeros and scalars included.
Shape RandomShape(Random& random, DType dtype) {
  for (int attempt = 0; attempt < 32; ++attempt) {
    Shape shape(random.Between(0, random.Percent(10) ? 4 : 3));
    for (uint64_t& dimension : shape) dimension = random.Percent(8) ? 0 : random.Between(1, 6);
    if (ByteSize(dtype, shape).has_value()) return shape;
  }
  return {8};  // eight elements are whole bytes for every dtype
}

GeneratedCheckpoint RandomCheckpoint(Random& random, uint64_t min_tensors) {
  GeneratedCheckpoint checkpoint;
  std::set<std::string> names;
  uint64_t count = random.Between(min_tensors, 10);
  while (checkpoint.tensors.size() < count) {
    GeneratedTensor tensor;
    tensor.name = RandomText(random, 1, 5);
    std::string name = tensor.name.Text();
    if (name == "__metadata__" || !names.insert(name).second) continue;
    tensor.dtype = static_cast<DType>(random.Between(0, kDTypeCount - 1));
    tensor.shape = RandomShape(random, tensor.dtype);
    tensor.bytes = random.Bytes(*ByteSize(tensor.dtype, tensor.shape));
    checkpoint.tensors.push_back(std::move(tensor));
  }

  checkpoint.has_metadata = random.Percent(60);
  if (checkpoint.has_metadata) {
    std::set<std::string> keys;
    uint64_t entries = random.Between(0, 3);
    for (uint64_t i = 0; i < entries; ++i) {
      GeneratedText key = RandomText(random, 1, 3);
      if (!keys.insert(key.Text()).second) continue;
      checkpoint.metadata.emplace_back(key, RandomText(random, 0, 4));
    }
  }
  return checkpoint;
}

// Spells `text` as a JSON string, each piece in a random spelling.
std::string JsonString(Random& random, const GeneratedText& text) {
  std::string json = "\"";
  for (size_t piece : text.pieces) json += random.Pick(TextPieces()[piece].spellings);
  return json + "\"";
}

// Returns JSON whitespace: usually none or a space, sometimes more.
std::string Whitespace(Random& random) {
  static const std::vector<std::string> kSpaces = {"", "", "", " ", "\n", "\t", " \r\n  "};
  return random.Pick(kSpaces);
}

std::string ShapeJson(Random& random, const Shape& shape) {
  std::string json = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    json += (i > 0 ? "," : "") + Whitespace(random) + std::to_string(shape[i]);
  }
  return json + Whitespace(random) + "]";
}

// Builds a safetensors file by hand: entries and their fields in random
// order, data in another random order, __metadata__ anywhere, names spelled
// with escapes at random, and the header unpadded unless whitespace happens
// to follow it.
std::string RawFile(Random& random, const GeneratedCheckpoint& checkpoint,
                    const std::vector<size_t>& members) {
  std::vector<size_t> data_order = members;
  std::shuffle(data_order.begin(), data_order.end(), random.engine());
  std::map<size_t, std::pair<uint64_t, uint64_t>> offsets;
  std::string data;
  for (size_t index : data_order) {
    offsets[index] = {data.size(), data.size() + checkpoint.tensors[index].bytes.size()};
    data += checkpoint.tensors[index].bytes;
  }

  std::vector<std::string> members_json;
  for (size_t index : members) {
    const GeneratedTensor& tensor = checkpoint.tensors[index];
    std::vector<std::string> fields = {
        "\"dtype\":" + Whitespace(random) + "\"" + std::string(DTypeName(tensor.dtype)) + "\"",
        "\"shape\":" + Whitespace(random) + ShapeJson(random, tensor.shape),
        "\"data_offsets\":" + Whitespace(random) + "[" + std::to_string(offsets[index].first) +
            "," + Whitespace(random) + std::to_string(offsets[index].second) + "]"};
    std::shuffle(fields.begin(), fields.end(), random.engine());
    std::string entry = "{";
    for (size_t i = 0; i < fields.size(); ++i) entry += (i > 0 ? "," : "") + Whitespace(random) + fields[i];
    members_json.push_back(JsonString(random, tensor.name) + ":" + Whitespace(random) + entry + "}");
  }
  if (checkpoint.has_metadata) {
    std::string object = "{";
    for (size_t i = 0; i < checkpoint.metadata.size(); ++i) {
      object += (i > 0 ? "," : "") + Whitespace(random) + JsonString(random, checkpoint.metadata[i].first) +
                ":" + Whitespace(random) + JsonString(random, checkpoint.metadata[i].second);
    }
    members_json.insert(members_json.begin() + random.Between(0, members_json.size()),
                        "\"__metadata__\":" + Whitespace(random) + object + "}");
  }
  std::shuffle(members_json.begin(), members_json.end(), random.engine());

  std::string json = Whitespace(random) + "{";
  for (size_t i = 0; i < members_json.size(); ++i) {
    json += (i > 0 ? "," : "") + Whitespace(random) + members_json[i];
  }
  json += Whitespace(random) + "}" + Whitespace(random);
  return testing::FileBytes(json, data);
}

std::vector<size_t> AllIndices(const GeneratedCheckpoint& checkpoint) {
  std::vector<size_t> indices(checkpoint.tensors.size());
  for (size_t i = 0; i < indices.size(); ++i) indices[i] = i;
  return indices;
}

std::vector<TensorToWrite> ToWrite(const GeneratedCheckpoint& checkpoint) {
  std::vector<TensorToWrite> tensors;
  for (const GeneratedTensor& tensor : checkpoint.tensors) {
    tensors.push_back({tensor.name.Text(), tensor.dtype, tensor.shape, tensor.bytes.data()});
  }
  return tensors;
}

// Writes hand-built shards and an index for them into `directory`.
void WriteRawSharded(Random& random, const GeneratedCheckpoint& checkpoint,
                     const std::string& directory) {
  uint64_t file_count = random.Between(1, 3);
  std::vector<std::vector<size_t>> members(file_count);
  for (size_t index = 0; index < checkpoint.tensors.size(); ++index) {
    members[random.Between(0, file_count - 1)].push_back(index);
  }

  std::string weight_map;
  uint64_t total_size = 0;
  for (uint64_t file = 0; file < file_count; ++file) {
    std::string name = "model-0000" + std::to_string(file + 1) + "-of-0000" +
                       std::to_string(file_count) + ".safetensors";
    testing::WriteFileBytes(directory + "/" + name, RawFile(random, checkpoint, members[file]));
    for (size_t index : members[file]) {
      weight_map += (weight_map.empty() ? "" : ", ") + JsonString(random, checkpoint.tensors[index].name) +
                    ": \"" + name + "\"";
      total_size += checkpoint.tensors[index].bytes.size();
    }
  }
  testing::WriteFileBytes(directory + "/" + std::string(kIndexFileName),
                          "{\"metadata\": {\"total_size\": " + std::to_string(total_size) +
                              "}, \"weight_map\": {" + weight_map + "}}");
}

// Writes `checkpoint` under `dir` and returns the path to open.
std::string WriteCheckpoint(Random& random, const GeneratedCheckpoint& checkpoint, Layout layout,
                            const TempDir& dir) {
  std::string directory = dir.Join("checkpoint");
  std::string file = dir.Join("model.safetensors");
  switch (layout) {
    case Layout::kWriterFile: {
      WriteOptions options;
      options.metadata = checkpoint.MetadataText();
      options.pad_header = random.Percent(50);
      // WriteSafetensors syncs the file and its directory, which takes
      // milliseconds, so most cases write the writer's header and the data
      // without syncing.
      if (random.Percent(25)) {
        Status written = WriteSafetensors(file, ToWrite(checkpoint), options);
        EXPECT_TRUE(written.ok()) << written.ToString();
        return file;
      }
      std::string bytes = BuildSafetensorsHeader(ToWrite(checkpoint), options);
      for (const GeneratedTensor& tensor : checkpoint.tensors) bytes += tensor.bytes;
      testing::WriteFileBytes(file, bytes);
      return file;
    }
    case Layout::kWriterSharded: {
      SaveOptions options;
      options.metadata = checkpoint.MetadataText();
      options.sharding.max_shard_bytes = random.Between(16, 256);
      options.threads = 1;
      Result<SaveSummary> saved = SaveCheckpoint(directory, ToWrite(checkpoint), options);
      EXPECT_TRUE(saved.ok()) << saved.status().ToString();
      return directory;
    }
    case Layout::kRawFile:
      testing::WriteFileBytes(file, RawFile(random, checkpoint, AllIndices(checkpoint)));
      return file;
    case Layout::kRawSharded:
      fs::create_directories(directory);
      WriteRawSharded(random, checkpoint, directory);
      return directory;
  }
  return file;
}

// Loads every tensor of `checkpoint` in its own dtype and returns the bytes
// by name, or the load's error.
Result<std::map<std::string, std::string>> LoadAll(const Checkpoint& checkpoint) {
  ModelState model;
  std::map<std::string, std::string> loaded;
  for (const CheckpointTensor& tensor : checkpoint.tensors()) {
    std::string& storage = loaded[tensor.name];
    storage.assign(tensor.nbytes, '\xee');
    ExpectedTensor expected;
    expected.name = tensor.name;
    expected.dtype = tensor.dtype;
    expected.shape = tensor.shape;
    expected.data = storage.data();
    expected.data_bytes = storage.size();
    // ModelState rejects names a checkpoint may have (the empty name); such
    // tensors are not loaded.
    if (!model.Add(std::move(expected)).ok()) loaded.erase(tensor.name);
  }

  LoadOptions options;
  options.threads = 1;
  Result<LoadReport> report = LoadCheckpoint(checkpoint, model, options);
  if (!report.ok()) return report.status();
  EXPECT_EQ(report->loaded.size(), loaded.size());
  return loaded;
}

// Checks that `checkpoint` has exactly the generated tensors and metadata
// and that loading returns every tensor's bytes.
void ExpectSameCheckpoint(const GeneratedCheckpoint& generated, Layout layout,
                          const Checkpoint& checkpoint) {
  ASSERT_EQ(checkpoint.tensors().size(), generated.tensors.size());
  for (const GeneratedTensor& tensor : generated.tensors) {
    const CheckpointTensor* found = checkpoint.Find(tensor.name.Text());
    ASSERT_NE(found, nullptr) << "missing tensor '" << tensor.name.Text() << "'";
    EXPECT_EQ(found->dtype, tensor.dtype) << tensor.name.Text();
    EXPECT_EQ(found->shape, tensor.shape) << tensor.name.Text();
    EXPECT_EQ(found->nbytes, tensor.bytes.size()) << tensor.name.Text();
  }

  Metadata expected_metadata = generated.MetadataText();
  if (layout == Layout::kRawFile) {
    EXPECT_EQ(checkpoint.files()[0].metadata, expected_metadata);
  } else if (layout == Layout::kWriterFile) {
    // The writer adds "format": "pt" when the metadata has no "format".
    Metadata found = checkpoint.files()[0].metadata;
    std::erase(found, std::pair<std::string, std::string>{"format", "pt"});
    std::erase(expected_metadata, std::pair<std::string, std::string>{"format", "pt"});
    EXPECT_EQ(found, expected_metadata);
  }

  Result<std::map<std::string, std::string>> loaded = LoadAll(checkpoint);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ASSERT_EQ(loaded->size(), generated.tensors.size());
  for (const GeneratedTensor& tensor : generated.tensors) {
    EXPECT_TRUE(loaded->at(tensor.name.Text()) == tensor.bytes)
        << "loaded bytes differ for tensor '" << tensor.name.Text() << "'";
  }
}

// Stops a test's loop after a wall-clock budget, so that slow builds
// (sanitizers, a loaded machine) run fewer cases instead of timing out.
class Budget {
 public:
  explicit Budget(std::chrono::milliseconds duration)
      : end_(std::chrono::steady_clock::now() + duration) {}
  bool Exhausted() const { return std::chrono::steady_clock::now() > end_; }

 private:
  std::chrono::steady_clock::time_point end_;
};

std::string CaseTrace(uint64_t base_seed, uint64_t case_number, Layout layout) {
  return "SAFECKPT_PROPERTY_SEED=" + std::to_string(base_seed) + ", case " +
         std::to_string(case_number) + " (" + std::string(LayoutName(layout)) + ")";
}

TEST(PropertyTest, RandomCheckpointsRoundTrip) {
  const uint64_t base_seed = BaseSeed();
  std::cout << "base seed " << base_seed << " (set SAFECKPT_PROPERTY_SEED to replay)\n";
  Budget budget(std::chrono::seconds(4));
  uint64_t cases = 0;
  for (uint64_t case_number = 0; case_number < 120 && !budget.Exhausted(); ++case_number) {
    Random random(base_seed * 1'000'003 + case_number);
    Layout layout = LayoutOf(case_number);
    SCOPED_TRACE(CaseTrace(base_seed, case_number, layout));
    bool sharded = layout == Layout::kWriterSharded || layout == Layout::kRawSharded;
    GeneratedCheckpoint generated = RandomCheckpoint(random, sharded ? 1 : 0);

    TempDir dir;
    std::string path = WriteCheckpoint(random, generated, layout, dir);
    Result<Checkpoint> checkpoint = Checkpoint::Open(path);
    ASSERT_TRUE(checkpoint.ok()) << checkpoint.status().ToString();
    EXPECT_TRUE(checkpoint->warnings().empty());
    EXPECT_EQ(checkpoint->has_index(), sharded && (layout == Layout::kRawSharded ||
                                                   checkpoint->files().size() > 1));
    ExpectSameCheckpoint(generated, layout, *checkpoint);
    if (::testing::Test::HasFatalFailure()) return;
    ++cases;
  }
  std::cout << cases << " checkpoints written, opened and loaded\n";
  EXPECT_GE(cases, 20u);
}

// One random change of a file's bytes.
std::string Mutate(Random& random, std::string bytes, bool safetensors) {
  static const std::string kJsonText = "{}[]\",:-0123456789e.\x80\xff \\u";
  static const std::vector<char> kInteresting(kJsonText.begin(), kJsonText.end());
  uint64_t kind = random.Between(0, safetensors ? 7 : 5);
  if (bytes.empty()) return random.Bytes(random.Between(1, 16));
  size_t position = random.Between(0, bytes.size() - 1);
  switch (kind) {
    case 0:  // flip bits
      for (uint64_t i = random.Between(1, 4); i > 0; --i) {
        bytes[random.Between(0, bytes.size() - 1)] ^= static_cast<char>(1u << random.Between(0, 7));
      }
      return bytes;
    case 1:  // set bytes to characters that matter to JSON
      for (uint64_t i = random.Between(1, 3); i > 0; --i) {
        bytes[random.Between(0, bytes.size() - 1)] = random.Pick(kInteresting);
      }
      return bytes;
    case 2:  // truncate
      bytes.resize(position);
      return bytes;
    case 3:  // insert bytes
      bytes.insert(position, random.Bytes(random.Between(1, 16)));
      return bytes;
    case 4:  // delete a range
      bytes.erase(position, random.Between(1, 16));
      return bytes;
    case 5: {  // change one digit, which may move an offset or resize a shape
      std::vector<size_t> digits;
      for (size_t i = 0; i < bytes.size(); ++i) {
        if (bytes[i] >= '0' && bytes[i] <= '9') digits.push_back(i);
      }
      if (digits.empty()) return bytes;
      bytes[random.Pick(digits)] = static_cast<char>('0' + random.Between(0, 9));
      return bytes;
    }
    default: {  // edit the 8-byte header length
      if (bytes.size() < 8) return bytes;
      uint64_t length = 0;
      std::memcpy(&length, bytes.data(), 8);
      static const std::vector<int64_t> kDeltas = {-9, -8, -2, -1, 1, 2, 8, 9};
      switch (random.Between(0, 3)) {
        case 0: length += random.Pick(kDeltas); break;
        case 1: length = bytes.size() - 8; break;
        case 2: length = random.Between(0, bytes.size()); break;
        default: length = random.engine()(); break;
      }
      std::memcpy(bytes.data(), &length, 8);
      return bytes;
    }
  }
}

// Checks a mutated checkpoint that opened: every tensor loads, and its
// bytes are those its header names in its file.
void ExpectLoadsWhatHeadersSay(const Checkpoint& checkpoint) {
  Result<std::map<std::string, std::string>> loaded = LoadAll(checkpoint);
  ASSERT_TRUE(loaded.ok()) << "opened but failed to load: " << loaded.status().ToString();
  std::map<uint32_t, std::string> file_bytes;
  for (const auto& [name, bytes] : *loaded) {
    const CheckpointTensor* tensor = checkpoint.Find(name);
    ASSERT_NE(tensor, nullptr);
    if (!file_bytes.contains(tensor->file)) {
      file_bytes[tensor->file] = testing::ReadFileBytes(checkpoint.files()[tensor->file].path);
    }
    const std::string& file = file_bytes[tensor->file];
    ASSERT_LE(tensor->offset + tensor->nbytes, file.size()) << name;
    EXPECT_TRUE(bytes == file.substr(tensor->offset, tensor->nbytes))
        << "tensor '" << name << "' loaded other bytes than its header names";
  }
}

// Replaces a file's contents with a new file. Truncating and rewriting a
// file instead makes ext4 flush it on close (its auto_da_alloc heuristic),
// which made this test three times slower.
void Replace(const std::string& path, std::string_view bytes) {
  fs::remove(path);
  testing::WriteFileBytes(path, bytes);
}

TEST(PropertyTest, MutatedCheckpointsLoadOrFail) {
  const uint64_t base_seed = BaseSeed();
  Budget budget(std::chrono::seconds(5));
  uint64_t mutants = 0;
  uint64_t opened = 0;
  uint64_t unchanged_tensors = 0;
  for (uint64_t case_number = 0; case_number < 120 && !budget.Exhausted(); ++case_number) {
    Random random(base_seed * 1'000'003 + 500'000 + case_number);
    Layout layout = LayoutOf(case_number);
    SCOPED_TRACE(CaseTrace(base_seed, case_number, layout));
    bool sharded = layout == Layout::kWriterSharded || layout == Layout::kRawSharded;
    GeneratedCheckpoint generated = RandomCheckpoint(random, 1);
    TempDir dir;
    std::string path = WriteCheckpoint(random, generated, layout, dir);

    // The files of the checkpoint, by path, and their original bytes.
    std::vector<std::pair<std::string, std::string>> files;
    if (sharded) {
      for (const fs::directory_entry& entry : fs::directory_iterator(path)) {
        files.emplace_back(entry.path().string(), testing::ReadFileBytes(entry.path().string()));
      }
    } else {
      files.emplace_back(path, testing::ReadFileBytes(path));
    }
    std::map<std::string, std::string> original;
    for (const GeneratedTensor& tensor : generated.tensors) original[tensor.name.Text()] = tensor.bytes;

    for (int round = 0; round < 40; ++round) {
      const auto& [file, bytes] = files[random.Between(0, files.size() - 1)];
      bool is_shard = file.ends_with(".safetensors");
      std::string mutated = Mutate(random, bytes, is_shard);
      if (random.Percent(20)) mutated = Mutate(random, mutated, is_shard);
      Replace(file, mutated);
      ++mutants;

      Result<Checkpoint> checkpoint = Checkpoint::Open(path);
      if (checkpoint.ok()) {
        ++opened;
        SCOPED_TRACE("mutation round " + std::to_string(round) + " of " + file);
        ExpectLoadsWhatHeadersSay(*checkpoint);
        if (::testing::Test::HasFatalFailure()) return;
        for (const CheckpointTensor& tensor : checkpoint->tensors()) {
          auto source = original.find(tensor.name);
          unchanged_tensors += source != original.end() && source->second.size() == tensor.nbytes;
        }
      } else {
        EXPECT_NE(checkpoint.status().id(), ErrorId::kNone);
        EXPECT_NE(checkpoint.status().id(), ErrorId::kInternal) << checkpoint.status().ToString();
        EXPECT_FALSE(checkpoint.status().message().empty());
      }
      Replace(file, bytes);
    }
  }
  std::cout << mutants << " mutants, " << opened << " opened, " << unchanged_tensors
            << " tensors kept their name and size\n";
  EXPECT_GE(mutants, 400u);
  EXPECT_GT(opened, 0u);
}

}  // namespace
}  // namespace safeckpt
