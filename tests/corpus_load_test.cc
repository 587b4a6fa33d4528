// Loads the real files in the corpus and compares every loaded value with
// bytes read and decoded here, independently of the library. The test
// parses headers with simdjson and reads tensor bytes with std::ifstream at
// 8 + N + data_offsets.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "safeckpt/checkpoint.h"
#include "safeckpt/loader.h"
#include "safeckpt/manifest.h"
#include "support/test_support.h"

namespace safeckpt {
namespace {

namespace fs = std::filesystem;

// One tensor as the file's own header describes it.
struct HeaderEntry {
  std::string dtype;
  uint64_t begin = 0;  // data_offsets, relative to the data section
  uint64_t end = 0;
};

// A file's header read with std::ifstream and parsed with simdjson.
struct ReferenceFile {
  std::string path;
  uint64_t data_start = 0;  // 8 + N
  std::map<std::string, HeaderEntry> tensors;
};

uint64_t ReadLittleEndian64(const unsigned char* bytes) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | bytes[i];
  return value;
}

ReferenceFile ReadReferenceFile(const std::string& path) {
  ReferenceFile file;
  file.path = path;
  std::ifstream in(path, std::ios::binary);
  unsigned char length_bytes[8] = {};
  in.read(reinterpret_cast<char*>(length_bytes), 8);
  const uint64_t header_length = ReadLittleEndian64(length_bytes);
  std::string header(header_length, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_length));
  EXPECT_TRUE(in.good()) << path;
  file.data_start = 8 + header_length;

  simdjson::dom::parser parser;
  simdjson::dom::object object;
  EXPECT_EQ(parser.parse(header).get(object), simdjson::SUCCESS) << path;
  for (auto [key, value] : object) {
    if (key == "__metadata__") continue;
    HeaderEntry entry;
    std::string_view dtype;
    simdjson::dom::array offsets;
    EXPECT_EQ(value["dtype"].get(dtype), simdjson::SUCCESS) << key;
    EXPECT_EQ(value["data_offsets"].get(offsets), simdjson::SUCCESS) << key;
    entry.dtype = std::string(dtype);
    EXPECT_EQ(offsets.at(0).get(entry.begin), simdjson::SUCCESS) << key;
    EXPECT_EQ(offsets.at(1).get(entry.end), simdjson::SUCCESS) << key;
    file.tensors[std::string(key)] = entry;
  }
  return file;
}

std::vector<std::byte> ReadTensorBytes(const ReferenceFile& file, const HeaderEntry& entry) {
  std::ifstream in(file.path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(file.data_start + entry.begin));
  std::vector<std::byte> bytes(entry.end - entry.begin);
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  EXPECT_TRUE(in.good()) << file.path;
  return bytes;
}

// Decodes an IEEE-style float with the given field widths with ldexp.
double DecodeIeee(uint64_t bits, int exponent_bits, int mantissa_bits) {
  const bool negative = ((bits >> (exponent_bits + mantissa_bits)) & 1) != 0;
  const int exponent = static_cast<int>((bits >> mantissa_bits) & ((1u << exponent_bits) - 1));
  const uint64_t mantissa = bits & ((uint64_t{1} << mantissa_bits) - 1);
  const int bias = (1 << (exponent_bits - 1)) - 1;

  double magnitude = 0;
  if (exponent == (1 << exponent_bits) - 1) {
    magnitude = mantissa == 0 ? std::numeric_limits<double>::infinity()
                              : std::numeric_limits<double>::quiet_NaN();
  } else if (exponent == 0) {
    magnitude = std::ldexp(static_cast<double>(mantissa), 1 - bias - mantissa_bits);
  } else {
    magnitude = std::ldexp(static_cast<double>(mantissa | (uint64_t{1} << mantissa_bits)),
                           exponent - bias - mantissa_bits);
  }
  return negative ? -magnitude : magnitude;
}

// F8_E4M3 (E4M3FN): bias 7, no infinities, S.1111.111 is NaN.
double DecodeE4M3(uint8_t bits) {
  if ((bits & 0x7f) == 0x7f) return std::numeric_limits<double>::quiet_NaN();
  const int exponent = (bits >> 3) & 0xf;
  const int mantissa = bits & 0x7;
  const double magnitude = exponent == 0 ? std::ldexp(mantissa, -9)
                                         : std::ldexp(8 + mantissa, exponent - 10);
  return (bits & 0x80) != 0 ? -magnitude : magnitude;
}

uint64_t LittleEndianAt(const std::vector<std::byte>& bytes, size_t offset, size_t width) {
  uint64_t value = 0;
  for (size_t i = width; i-- > 0;) {
    value = (value << 8) | static_cast<uint64_t>(bytes[offset + i]);
  }
  return value;
}

// Decodes element `index` of a float tensor's file bytes, or returns
// nullopt for a dtype that does not load as F64.
std::optional<double> DecodeFloat(const std::string& dtype, const std::vector<std::byte>& bytes,
                                  size_t index) {
  if (dtype == "F64") return std::bit_cast<double>(LittleEndianAt(bytes, 8 * index, 8));
  if (dtype == "F32") {
    return static_cast<double>(
        std::bit_cast<float>(static_cast<uint32_t>(LittleEndianAt(bytes, 4 * index, 4))));
  }
  if (dtype == "F16") return DecodeIeee(LittleEndianAt(bytes, 2 * index, 2), 5, 10);
  if (dtype == "BF16") return DecodeIeee(LittleEndianAt(bytes, 2 * index, 2), 8, 7);
  if (dtype == "F8_E5M2") return DecodeIeee(LittleEndianAt(bytes, index, 1), 5, 2);
  if (dtype == "F8_E4M3") return DecodeE4M3(static_cast<uint8_t>(bytes[index]));
  return std::nullopt;
}

size_t FloatWidth(const std::string& dtype) {
  if (dtype == "F64") return 8;
  if (dtype == "F32") return 4;
  if (dtype == "F16" || dtype == "BF16") return 2;
  return 1;
}

bool LoadsAsF64(DType dtype) {
  return dtype == DType::kF64 || dtype == DType::kF32 || dtype == DType::kF16 ||
         dtype == DType::kBF16 || dtype == DType::kF8_E4M3 || dtype == DType::kF8_E5M2;
}

std::vector<std::string> CorpusFiles(const std::string& corpus) {
  std::vector<std::string> paths;
  for (const fs::directory_entry& entry : fs::directory_iterator(fs::path(corpus) / "files")) {
    if (entry.is_regular_file() && entry.path().extension() == ".safetensors") {
      paths.push_back(entry.path().string());
    }
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

Checkpoint OpenOrFail(const std::string& path) {
  Result<Checkpoint> checkpoint = Checkpoint::Open(path);
  EXPECT_TRUE(checkpoint.ok()) << checkpoint.status().ToString();
  return checkpoint.ok() ? std::move(checkpoint).value() : Checkpoint{};
}

// Destination memory for every tensor of a model, owned by the test.
class Destinations {
 public:
  // Allocates memory for every tensor of `model`, optionally as F64 for
  // float tensors, and points the tensors at it.
  void Attach(ModelState& model, bool floats_as_f64) {
    for (ExpectedTensor& tensor : model.mutable_tensors()) {
      if (floats_as_f64 && LoadsAsF64(tensor.dtype)) tensor.dtype = DType::kF64;
      std::vector<std::byte>& storage = storage_[tensor.name];
      storage.assign(ByteSize(tensor.dtype, tensor.shape).value_or(0), std::byte{0xee});
      tensor.data = storage.data();
      tensor.data_bytes = storage.size();
    }
  }

  const std::vector<std::byte>& operator[](const std::string& name) { return storage_[name]; }

 private:
  std::map<std::string, std::vector<std::byte>> storage_;
};

LoadOptions SmallReads() {
  LoadOptions options;
  options.threads = 3;
  options.max_read_bytes = 4096;
  options.staging_bytes = 3 * 2048;
  return options;
}

// Compares every loaded tensor with the bytes of `reference` (raw, or
// decoded to F64 where the destination is F64 and the file is not).
void ExpectLoadedMatchesFile(const ModelState& model, Destinations& destinations,
                             const std::map<std::string, const ReferenceFile*>& file_of) {
  for (const ExpectedTensor& tensor : model.tensors()) {
    SCOPED_TRACE(tensor.name);
    const ReferenceFile& file = *file_of.at(tensor.name);
    const HeaderEntry& entry = file.tensors.at(tensor.name);
    const std::vector<std::byte> file_bytes = ReadTensorBytes(file, entry);
    const std::vector<std::byte>& loaded = destinations[tensor.name];

    if (tensor.dtype != DType::kF64 || entry.dtype == "F64") {
      EXPECT_EQ(loaded, file_bytes);
      continue;
    }
    const size_t count = file_bytes.size() / FloatWidth(entry.dtype);
    ASSERT_EQ(loaded.size(), 8 * count);
    for (size_t i = 0; i < count; ++i) {
      const double expected = DecodeFloat(entry.dtype, file_bytes, i).value();
      const double actual = std::bit_cast<double>(LittleEndianAt(loaded, 8 * i, 8));
      if (std::isnan(expected)) {
        EXPECT_TRUE(std::isnan(actual)) << "element " << i;
      } else {
        EXPECT_EQ(actual, expected) << "element " << i;
        EXPECT_EQ(std::signbit(actual), std::signbit(expected)) << "element " << i;
      }
    }
  }
}

void LoadFileAndCompare(const std::string& path, bool floats_as_f64) {
  SCOPED_TRACE(path);
  const Checkpoint checkpoint = OpenOrFail(path);
  const ReferenceFile reference = ReadReferenceFile(path);
  Manifest manifest = ManifestFromCheckpoint(checkpoint);
  Destinations destinations;
  destinations.Attach(manifest.model, floats_as_f64);

  Result<LoadReport> report = LoadCheckpoint(checkpoint, manifest.model, SmallReads());

  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->data_read);
  std::map<std::string, const ReferenceFile*> file_of;
  for (const auto& [name, entry] : reference.tensors) file_of[name] = &reference;
  ExpectLoadedMatchesFile(manifest.model, destinations, file_of);
}

TEST(CorpusLoadTest, EveryFileChecksCleanly) {
  SAFECKPT_REQUIRE_CORPUS(corpus);
  for (const std::string& path : CorpusFiles(corpus)) {
    SCOPED_TRACE(path);
    const Checkpoint checkpoint = OpenOrFail(path);
    Manifest manifest = ManifestFromCheckpoint(checkpoint);

    LoadOptions options;
    options.read_data = false;
    options.policy = Policy::kStrict;
    Result<LoadReport> report = LoadCheckpoint(checkpoint, manifest.model, options);

    ASSERT_TRUE(report.ok()) << report.status().ToString();
    EXPECT_FALSE(report->rejected);
    EXPECT_FALSE(report->data_read);
    EXPECT_EQ(report->loaded.size() + report->bookkeeping_loaded.size(),
              checkpoint.tensors().size());
  }
}

TEST(CorpusLoadTest, EveryFileLoadsInItsOwnDTypes) {
  SAFECKPT_REQUIRE_CORPUS(corpus);
  for (const std::string& path : CorpusFiles(corpus)) LoadFileAndCompare(path, false);
}

TEST(CorpusLoadTest, EveryFileLoadsFloatsAsF64) {
  SAFECKPT_REQUIRE_CORPUS(corpus);
  for (const std::string& path : CorpusFiles(corpus)) LoadFileAndCompare(path, true);
}

TEST(CorpusLoadTest, FluxMLShardedCheckpointLoadsCompletely) {
  SAFECKPT_REQUIRE_CORPUS(corpus);
  const fs::path directory = fs::path(corpus) / "index" / "FluxML__SafeTensors.jl__test_sharded";

  // The index, parsed here, maps each tensor to its shard.
  const std::string index_text = testing::ReadFileBytes((directory / kIndexFileName).string());
  simdjson::dom::parser parser;
  simdjson::dom::object weight_map;
  ASSERT_EQ(parser.parse(index_text)["weight_map"].get(weight_map), simdjson::SUCCESS);
  std::map<std::string, ReferenceFile> shards;
  std::map<std::string, const ReferenceFile*> file_of;
  for (auto [name, file] : weight_map) {
    std::string_view file_name;
    ASSERT_EQ(file.get(file_name), simdjson::SUCCESS);
    auto [shard, inserted] = shards.try_emplace(std::string(file_name));
    if (inserted) shard->second = ReadReferenceFile((directory / file_name).string());
    file_of[std::string(name)] = &shard->second;
  }

  const Checkpoint checkpoint = OpenOrFail(directory.string());
  Manifest manifest = ManifestFromCheckpoint(checkpoint);
  Destinations destinations;
  destinations.Attach(manifest.model, false);
  LoadOptions options = SmallReads();
  options.policy = Policy::kStrict;
  Result<LoadReport> report = LoadCheckpoint(checkpoint, manifest.model, options);

  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_FALSE(report->rejected);
  EXPECT_EQ(report->loaded.size(), weight_map.size());
  EXPECT_EQ(manifest.model.size(), weight_map.size());
  ExpectLoadedMatchesFile(manifest.model, destinations, file_of);
}

}  // namespace
}  // namespace safeckpt
