// Conversions of real files from public projects: every corpus file
// converted and compared byte for byte, unaligned sources written aligned,
// and the file layouts of real indexes followed with synthetic tensors of
// their names.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "io/file.h"
#include "safeckpt/checkpoint.h"
#include "safeckpt/compare.h"
#include "safeckpt/convert.h"
#include "safeckpt/writer.h"
#include "support/test_support.h"

namespace safeckpt {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

std::vector<std::string> CorpusFiles(const std::string& corpus) {
  std::vector<std::string> paths;
  for (const auto& entry : fs::directory_iterator(fs::path(corpus) / "files")) {
    if (entry.is_regular_file() && entry.path().extension() == ".safetensors") {
      paths.push_back(entry.path().string());
    }
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

std::map<std::string, std::string> TensorBytes(const Checkpoint& checkpoint) {
  std::map<std::string, std::string> bytes;
  for (const CheckpointTensor& tensor : checkpoint.tensors()) {
    auto file = internal::File::OpenForRead(checkpoint.files()[tensor.file].path);
    EXPECT_TRUE(file.ok());
    std::string data(tensor.nbytes, '\0');
    EXPECT_TRUE(file->ReadAt(tensor.offset, data.data(), tensor.nbytes).ok());
    bytes[tensor.name] = std::move(data);
  }
  return bytes;
}

// Every tensor starts at a multiple of its element size from the start of
// the file, and the data section at a multiple of 8.
void ExpectAligned(const Checkpoint& checkpoint) {
  for (const CheckpointFile& file : checkpoint.files()) {
    EXPECT_EQ(file.data_start % 8, 0u) << file.path;
  }
  for (const CheckpointTensor& tensor : checkpoint.tensors()) {
    uint64_t element = std::max<uint64_t>(1, DTypeBits(tensor.dtype) / 8);
    EXPECT_EQ(tensor.offset % element, 0u) << tensor.name;
  }
}

TEST(CorpusConvertTest, EveryFileConvertsBitExact) {
  SAFECKPT_REQUIRE_CORPUS(corpus);
  TempDir dir;
  int unaligned_sources = 0;
  for (const std::string& path : CorpusFiles(corpus)) {
    SCOPED_TRACE(path);
    auto source = Checkpoint::Open(path);
    ASSERT_TRUE(source.ok()) << source.status().ToString();
    if (source->files()[0].data_start % 8 != 0) ++unaligned_sources;

    std::string out = dir.Join(fs::path(path).stem().string());
    ConvertOptions options;
    options.exclude_patterns.clear();
    auto report = ConvertCheckpoint(*source, out, options);
    ASSERT_TRUE(report.ok()) << report.status().ToString();

    auto converted = Checkpoint::Open(out);
    ASSERT_TRUE(converted.ok()) << converted.status().ToString();
    EXPECT_EQ(TensorBytes(*source), TensorBytes(*converted));
    ExpectAligned(*converted);
    for (const CheckpointTensor& tensor : source->tensors()) {
      const CheckpointTensor* written = converted->Find(tensor.name);
      ASSERT_NE(written, nullptr) << tensor.name;
      EXPECT_EQ(written->dtype, tensor.dtype) << tensor.name;
      EXPECT_EQ(written->shape, tensor.shape) << tensor.name;
    }
    for (const auto& entry : source->files()[0].metadata) {
      if (entry.first == "format") continue;
      const Metadata& metadata = converted->files()[0].metadata;
      EXPECT_NE(std::find(metadata.begin(), metadata.end(), entry), metadata.end()) << entry.first;
    }

    auto compared = CompareCheckpoints(*source, *converted);
    ASSERT_TRUE(compared.ok());
    EXPECT_TRUE(compared->equal());
  }
  EXPECT_GT(unaligned_sources, 0) << "the corpus has files whose data starts unaligned";
}

TEST(CorpusConvertTest, ShardedCheckpointMergesAndSplitsBack) {
  SAFECKPT_REQUIRE_CORPUS(corpus);
  std::string sharded = corpus + "/index/FluxML__SafeTensors.jl__test_sharded";
  auto source = Checkpoint::Open(sharded);
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  TempDir dir;
  ASSERT_TRUE(ConvertCheckpoint(*source, dir.Join("one.safetensors")).ok());
  auto merged = Checkpoint::Open(dir.Join("one.safetensors"));
  ASSERT_TRUE(merged.ok());

  ConvertOptions options;
  auto layout = ReadShardLayout(sharded);
  ASSERT_TRUE(layout.ok()) << layout.status().ToString();
  options.sharding.layout = *layout;
  ASSERT_TRUE(ConvertCheckpoint(*merged, dir.Join("split"), options).ok());
  auto split = Checkpoint::Open(dir.Join("split"));
  ASSERT_TRUE(split.ok()) << split.status().ToString();

  EXPECT_EQ(TensorBytes(*source), TensorBytes(*split));
  for (const CheckpointTensor& tensor : source->tensors()) {
    EXPECT_EQ(split->files()[split->Find(tensor.name)->file].name, source->files()[tensor.file].name)
        << tensor.name;
  }
}

// For every real index: a synthetic checkpoint with one small tensor per
// name in its weight_map, plus one name it lacks, written with the index's
// layout. Every tensor must land in the file the index names.
TEST(CorpusConvertTest, FollowsLayoutOfRealIndexes) {
  SAFECKPT_REQUIRE_CORPUS(corpus);
  int indexes = 0;
  for (const auto& entry : fs::directory_iterator(fs::path(corpus) / "index")) {
    std::string index_path = (entry.path() / "model.safetensors.index.json").string();
    if (!fs::exists(index_path)) continue;
    SCOPED_TRACE(index_path);
    ++indexes;
    auto layout = ReadShardLayout(index_path);
    ASSERT_TRUE(layout.ok()) << layout.status().ToString();

    std::vector<float> values = {1, 2, 3};
    std::vector<TensorToWrite> tensors;
    for (const auto& [name, file] : *layout) tensors.push_back({name, DType::kF32, {3}, values.data()});
    tensors.push_back({"synthetic.unknown.weight", DType::kF32, {3}, values.data()});
    TempDir dir;
    ASSERT_TRUE(WriteSafetensors(dir.Join("source.safetensors"), tensors).ok());
    auto source = Checkpoint::Open(dir.Join("source.safetensors"));
    ASSERT_TRUE(source.ok());

    ConvertOptions options;
    options.exclude_patterns.clear();
    options.sharding.layout = *layout;
    auto report = ConvertCheckpoint(*source, dir.Join("out"), options);
    ASSERT_TRUE(report.ok()) << report.status().ToString();

    auto written = ReadShardLayout(dir.Join("out"));
    ASSERT_TRUE(written.ok()) << written.status().ToString();
    std::map<std::string, std::string> file_of(written->begin(), written->end());
    for (const auto& [name, file] : *layout) EXPECT_EQ(file_of[name], file) << name;
    EXPECT_EQ(file_of["synthetic.unknown.weight"], "model-extra.safetensors");

    auto converted = Checkpoint::Open(dir.Join("out"));
    ASSERT_TRUE(converted.ok()) << converted.status().ToString();
    EXPECT_TRUE(converted->warnings().empty());
    auto compared = CompareCheckpoints(*source, *converted);
    ASSERT_TRUE(compared.ok());
    EXPECT_TRUE(compared->equal());
  }
  EXPECT_GE(indexes, 8);
}

}  // namespace
}  // namespace safeckpt
