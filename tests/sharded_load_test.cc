// Sliced loads without an adapter: every rank's destinations against a naive
// reference that loads whole tensors and slices them, for world sizes 1 to 4
// and uneven splits.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <numeric>
#include <string>
#include <vector>

#include "safeckpt/checkpoint.h"
#include "safeckpt/loader.h"
#include "safeckpt/sharding.h"
#include "safeckpt/writer.h"
#include "support/test_support.h"

namespace safeckpt {
namespace {

using testing::TempDir;

constexpr std::byte kUntouched{0xee};

struct Source {
  std::string name;
  DType dtype;
  Shape shape;
};

// Tensors with odd sizes, so most splits are uneven and some ranks get
// nothing.
std::vector<Source> Sources() {
  return {{"w0", DType::kF32, {7, 5}},    {"w1", DType::kBF16, {10, 3}},
          {"w2", DType::kF16, {4, 9}},    {"w3", DType::kF32, {3, 4, 5}},
          {"b", DType::kF32, {11}},       {"tiny", DType::kI32, {2, 2}},
          {"scalar", DType::kF32, {}}};
}

// Deterministic bytes: byte i of tensor t is (7 * t + 13 * i) mod 251.
std::vector<std::byte> SourceBytes(size_t tensor, uint64_t size) {
  std::vector<std::byte> bytes(size);
  for (uint64_t i = 0; i < size; ++i) bytes[i] = std::byte((7 * tensor + 13 * i) % 251);
  // Keep F16/BF16/F32 values finite by clearing the top exponent bit of
  // every byte, which converts exactly and compares bit for bit.
  for (std::byte& byte : bytes) byte &= std::byte{0x3f};
  return bytes;
}

// Copies hyperslab `slab` of a row-major tensor of `shape` with elements of
// `element_size` bytes, one element at a time: the reference.
std::vector<std::byte> NaiveSlice(const std::vector<std::byte>& whole, const Shape& shape,
                                  const Hyperslab& slab, size_t element_size) {
  std::vector<std::byte> out;
  const Shape local = slab.shape();
  const uint64_t count = std::accumulate(local.begin(), local.end(), uint64_t{1},
                                         std::multiplies<uint64_t>());
  if (count == 0) return out;
  std::vector<uint64_t> index(shape.size(), 0);
  for (uint64_t element = 0; element < count; ++element) {
    uint64_t rest = element;
    for (size_t dim = shape.size(); dim-- > 0;) {
      index[dim] = slab.ranges[dim].start + rest % local[dim];
      rest /= local[dim];
    }
    uint64_t offset = 0;
    for (size_t dim = 0; dim < shape.size(); ++dim) offset = offset * shape[dim] + index[dim];
    out.insert(out.end(), whole.begin() + offset * element_size,
               whole.begin() + (offset + 1) * element_size);
  }
  return out;
}

class ShardedLoadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<std::vector<std::byte>> bytes;
    std::vector<TensorToWrite> tensors;
    const std::vector<Source> sources = Sources();
    for (size_t t = 0; t < sources.size(); ++t) {
      bytes.push_back(SourceBytes(t, ByteSize(sources[t].dtype, sources[t].shape).value()));
    }
    for (size_t t = 0; t < sources.size(); ++t) {
      tensors.push_back({sources[t].name, sources[t].dtype, sources[t].shape, bytes[t].data()});
    }
    // Two shards, so reads span files.
    const std::string first = dir_.Join("model-00001-of-00002.safetensors");
    const std::string second = dir_.Join("model-00002-of-00002.safetensors");
    ASSERT_TRUE(WriteSafetensors(first, {tensors.begin(), tensors.begin() + 3}).ok());
    ASSERT_TRUE(WriteSafetensors(second, {tensors.begin() + 3, tensors.end()}).ok());
    std::string index = R"({"metadata": {}, "weight_map": {)";
    for (size_t t = 0; t < sources.size(); ++t) {
      if (t > 0) index += ", ";
      index += "\"" + sources[t].name + "\": \"" +
               (t < 3 ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors") +
               "\"";
    }
    index += "}}";
    testing::WriteFileBytes(dir_.Join("model.safetensors.index.json"), index);

    Result<Checkpoint> checkpoint = Checkpoint::Open(dir_.path());
    ASSERT_TRUE(checkpoint.ok()) << checkpoint.status().ToString();
    checkpoint_ = std::move(checkpoint).value();
    for (size_t t = 0; t < sources.size(); ++t) whole_[sources[t].name] = bytes[t];
  }

  // The model of every source, in `dtype_for(name)`, sharded by `layout`,
  // with destinations owned by `storage`.
  ModelState ShardedModel(const ShardingLayout& layout,
                          std::map<std::string, std::vector<std::byte>>& storage,
                          const std::map<std::string, DType>& dtypes = {}) {
    ModelState model;
    for (const Source& source : Sources()) {
      ExpectedTensor tensor;
      tensor.name = source.name;
      auto dtype = dtypes.find(source.name);
      tensor.dtype = dtype != dtypes.end() ? dtype->second : source.dtype;
      tensor.shape = source.shape;
      EXPECT_TRUE(model.Add(std::move(tensor)).ok());
    }
    Status sharded = ApplySharding(layout, model);
    EXPECT_TRUE(sharded.ok()) << sharded.ToString();
    for (ExpectedTensor& tensor : model.mutable_tensors()) {
      std::vector<std::byte>& memory = storage[tensor.name];
      memory.assign(ByteSize(tensor.dtype, tensor.LocalShape()).value(), kUntouched);
      tensor.data = memory.data();
      tensor.data_bytes = memory.size();
    }
    return model;
  }

  Result<LoadReport> Load(ModelState& model, const ShardingLayout& layout,
                          uint64_t max_gap_bytes = 4096) {
    LoadOptions options;
    options.threads = 2;
    options.rank = layout.rank;
    options.world_size = layout.world_size;
    options.max_gap_bytes = max_gap_bytes;
    return LoadCheckpoint(checkpoint_, model, options);
  }

  TempDir dir_;
  Checkpoint checkpoint_;
  std::map<std::string, std::vector<std::byte>> whole_;
};

// Shards every tensor with at least `dim + 1` dimensions along `dim`.
ShardingLayout ShardAlong(uint32_t dim, uint32_t rank, uint32_t world_size) {
  ShardingLayout layout;
  layout.rank = rank;
  layout.world_size = world_size;
  for (const Source& source : Sources()) {
    if (source.shape.size() > dim) layout.by_name.emplace(source.name, Sharding::Shard(dim));
  }
  return layout;
}

TEST_F(ShardedLoadTest, EveryRankMatchesNaiveSlice) {
  for (uint32_t dim : {0u, 1u, 2u}) {
    for (uint32_t world = 1; world <= 4; ++world) {
      for (uint32_t rank = 0; rank < world; ++rank) {
        SCOPED_TRACE("dim " + std::to_string(dim) + " rank " + std::to_string(rank) + " of " +
                     std::to_string(world));
        const ShardingLayout layout = ShardAlong(dim, rank, world);
        std::map<std::string, std::vector<std::byte>> storage;
        ModelState model = ShardedModel(layout, storage);

        Result<LoadReport> report = Load(model, layout);

        ASSERT_TRUE(report.ok()) << report.status().ToString();
        EXPECT_EQ(report->loaded.size(), Sources().size());
        EXPECT_TRUE(report->missing.empty());
        EXPECT_EQ(report->rank.rank, rank);
        EXPECT_EQ(report->rank.world_size, world);
        for (const ExpectedTensor& tensor : model.tensors()) {
          const Hyperslab slab = tensor.slice.value_or(Hyperslab::Whole(tensor.shape));
          EXPECT_EQ(storage[tensor.name],
                    NaiveSlice(whole_[tensor.name], tensor.shape, slab,
                               DTypeBits(tensor.dtype) / 8))
              << tensor.name << " slice " << FormatHyperslab(slab);
        }
      }
    }
  }
}

TEST_F(ShardedLoadTest, ConvertedSliceMatchesConvertedWhole) {
  const std::map<std::string, DType> to_f32 = {{"w1", DType::kF32}, {"w2", DType::kF32}};
  const ShardingLayout single;
  std::map<std::string, std::vector<std::byte>> whole_storage;
  ModelState whole_model = ShardedModel(single, whole_storage, to_f32);
  ASSERT_TRUE(Load(whole_model, single).ok());

  for (uint32_t dim : {0u, 1u}) {
    for (uint32_t rank = 0; rank < 3; ++rank) {
      const ShardingLayout layout = ShardAlong(dim, rank, 3);
      std::map<std::string, std::vector<std::byte>> storage;
      ModelState model = ShardedModel(layout, storage, to_f32);

      Result<LoadReport> report = Load(model, layout);

      ASSERT_TRUE(report.ok()) << report.status().ToString();
      for (const char* name : {"w1", "w2"}) {
        const ExpectedTensor* tensor = model.Find(name);
        EXPECT_EQ(storage[name], NaiveSlice(whole_storage[name], tensor->shape,
                                            *tensor->slice, 4))
            << name << " dim " << dim << " rank " << rank;
      }
    }
  }
}

TEST_F(ShardedLoadTest, UnionOfRanksEqualsSingleRankLoad) {
  const ShardingLayout single;
  std::map<std::string, std::vector<std::byte>> reference;
  ModelState whole_model = ShardedModel(single, reference);
  ASSERT_TRUE(Load(whole_model, single).ok());

  std::map<std::string, std::vector<std::byte>> joined;
  for (uint32_t rank = 0; rank < 4; ++rank) {
    const ShardingLayout layout = ShardAlong(0, rank, 4);
    std::map<std::string, std::vector<std::byte>> storage;
    ModelState model = ShardedModel(layout, storage);
    ASSERT_TRUE(Load(model, layout).ok());
    for (const ExpectedTensor& tensor : model.tensors()) {
      std::vector<std::byte>& out = joined[tensor.name];
      if (!tensor.slice) {
        if (rank == 0) out = storage[tensor.name];
        continue;
      }
      out.insert(out.end(), storage[tensor.name].begin(), storage[tensor.name].end());
    }
  }

  EXPECT_EQ(joined, reference);
}

TEST_F(ShardedLoadTest, RowShardReadsOnlyItsRows) {
  for (uint32_t rank = 0; rank < 4; ++rank) {
    const ShardingLayout layout = ShardAlong(0, rank, 4);
    std::map<std::string, std::vector<std::byte>> storage;
    ModelState model = ShardedModel(layout, storage);

    Result<LoadReport> report = Load(model, layout);

    ASSERT_TRUE(report.ok()) << report.status().ToString();
    uint64_t share = 0;
    for (const auto& [name, memory] : storage) share += memory.size();
    EXPECT_EQ(report->read.bytes, share) << "rank " << rank;
    EXPECT_EQ(report->rank.destination_bytes, share) << "rank " << rank;
    uint64_t per_file = 0;
    for (const FileBytes& file : report->rank.bytes_read_per_file) per_file += file.bytes;
    EXPECT_EQ(per_file, report->read.bytes);
  }
}

TEST_F(ShardedLoadTest, InnerSliceReadsAcrossSmallGapsOnly) {
  const ShardingLayout layout = ShardAlong(1, 1, 2);
  std::map<std::string, std::vector<std::byte>> coalesced_storage;
  ModelState coalesced = ShardedModel(layout, coalesced_storage);
  std::map<std::string, std::vector<std::byte>> exact_storage;
  ModelState exact = ShardedModel(layout, exact_storage);

  Result<LoadReport> with_gaps = Load(coalesced, layout, 4096);
  Result<LoadReport> without_gaps = Load(exact, layout, 0);

  ASSERT_TRUE(with_gaps.ok()) << with_gaps.status().ToString();
  ASSERT_TRUE(without_gaps.ok()) << without_gaps.status().ToString();
  EXPECT_EQ(coalesced_storage, exact_storage);
  uint64_t share = 0;
  for (const auto& [name, memory] : exact_storage) share += memory.size();
  EXPECT_EQ(without_gaps->read.bytes, share);
  EXPECT_GT(with_gaps->read.bytes, share);
  EXPECT_LT(with_gaps->read.bytes, checkpoint_.tensor_bytes());
}

TEST_F(ShardedLoadTest, EmptyTrailingRankLoadsNothing) {
  ShardingLayout layout;
  layout.rank = 3;
  layout.world_size = 4;
  layout.by_name.emplace("tiny", Sharding::Shard(0));
  std::map<std::string, std::vector<std::byte>> storage;
  ModelState model = ShardedModel(layout, storage);

  Result<LoadReport> report = Load(model, layout);

  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(storage["tiny"].empty());
  EXPECT_NE(std::find(report->loaded.begin(), report->loaded.end(), "tiny"), report->loaded.end());
  EXPECT_EQ(report->rank.empty, 1u);
  EXPECT_EQ(report->rank.sliced, 1u);
}

TEST_F(ShardedLoadTest, ReportNamesRankInTextAndJson) {
  const ShardingLayout layout = ShardAlong(0, 2, 3);
  std::map<std::string, std::vector<std::byte>> storage;
  ModelState model = ShardedModel(layout, storage);

  Result<LoadReport> report = Load(model, layout);

  ASSERT_TRUE(report.ok()) << report.status().ToString();
  const std::string text = FormatReportText(*report);
  EXPECT_NE(text.find("rank 2 of 3: 6 of 7 loaded tensors sliced"), std::string::npos) << text;
  EXPECT_NE(text.find("bytes read per file:"), std::string::npos) << text;
  const std::string json = FormatReportJson(*report);
  EXPECT_NE(json.find("\"world_size\": 3"), std::string::npos) << json;
  EXPECT_NE(json.find("\"model-00002-of-00002.safetensors\":"), std::string::npos) << json;
}

TEST_F(ShardedLoadTest, WholeLoadReportHasNoRankText) {
  const ShardingLayout single;
  std::map<std::string, std::vector<std::byte>> storage;
  ModelState model = ShardedModel(single, storage);

  Result<LoadReport> report = Load(model, single);

  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(FormatReportText(*report).find("rank "), std::string::npos);
}

}  // namespace
}  // namespace safeckpt
