// Opens the real files in the corpus: files written by other projects'
// tools must open, the known-bad ones must fail with their specific error,
// and real indexes must parse.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "safeckpt/checkpoint.h"
#include "safeckpt/writer.h"
#include "support/test_support.h"

namespace safeckpt {
namespace {

namespace fs = std::filesystem;

// Returns the paths of the *.safetensors files directly in `directory`,
// sorted.
std::vector<std::string> SafetensorsFilesIn(const fs::path& directory) {
  std::vector<std::string> paths;
  for (const fs::directory_entry& entry : fs::directory_iterator(directory)) {
    if (entry.is_regular_file() && entry.path().extension() == ".safetensors") {
      paths.push_back(entry.path().string());
    }
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

std::vector<std::string> IndexFolders(const fs::path& corpus) {
  std::vector<std::string> folders;
  for (const fs::directory_entry& entry : fs::directory_iterator(corpus / "index")) {
    if (entry.is_directory()) folders.push_back(entry.path().filename().string());
  }
  std::sort(folders.begin(), folders.end());
  return folders;
}

Result<CheckpointIndex> ParseIndexIn(const fs::path& folder) {
  std::string path = (folder / kIndexFileName).string();
  return ParseCheckpointIndex(testing::ReadFileBytes(path), path);
}

TEST(CorpusReaderTest, EveryFileOpens) {
  SAFECKPT_REQUIRE_CORPUS(corpus);
  std::vector<std::string> paths = SafetensorsFilesIn(fs::path(corpus) / "files");
  ASSERT_GE(paths.size(), 20u);

  for (const std::string& path : paths) {
    Result<Checkpoint> checkpoint = Checkpoint::Open(path);
    ASSERT_TRUE(checkpoint.ok()) << checkpoint.status().ToString();
    EXPECT_FALSE(checkpoint->tensors().empty()) << path;
    EXPECT_EQ(checkpoint->files()[0].size, fs::file_size(path)) << path;
    for (const CheckpointTensor& tensor : checkpoint->tensors()) {
      EXPECT_LE(tensor.shape.size(), 4u) << path << ": " << tensor.name;
      EXPECT_EQ(ByteSize(tensor.dtype, tensor.shape), tensor.nbytes) << path << ": " << tensor.name;
      EXPECT_LE(tensor.offset + tensor.nbytes, checkpoint->files()[0].size) << path;
      EXPECT_GE(tensor.offset, checkpoint->files()[0].data_start) << path;
    }
  }
}

struct KnownTensor {
  std::string file;
  size_t tensor_count;
  std::string name;
  DType dtype;
  Shape shape;
};

TEST(CorpusReaderTest, KnownTensorsMatch) {
  SAFECKPT_REQUIRE_CORPUS(corpus);
  const std::vector<KnownTensor> known = {
      {"AliBayatMokhtari__mnist-tinygrad__model.safetensors",
       2,
       "l1.weight",
       DType::kF32,
       {128, 784}},
      {"FluxML__SafeTensors.jl__non_sharded_model.safetensors",
       36,
       "int64_35",
       DType::kI64,
       {3, 5}},
      {"Tashu014__lora-imdb-distilbert__adapter_model.safetensors",
       28,
       "base_model.model.classifier.weight",
       DType::kF32,
       {2, 768}},
      {"huggingface__candle__examples_encodec_jfk-codes.safetensors",
       1,
       "codes",
       DType::kI64,
       {1, 2, 828}},
      {"huggingface__candle__examples_whisper_mel_filters.safetensors",
       1,
       "mel_80",
       DType::kF32,
       {80, 201}},
      {"huggingface__safetensors__samples_e.safetensors", 1, "e", DType::kF16, {6}},
      {"tracel-ai__burn__safetensors-tests_batch_norm2d.safetensors",
       5,
       "norm1.num_batches_tracked",
       DType::kI64,
       {}},
      {"tracel-ai__burn__safetensors-tests_boolean.safetensors", 1, "buffer", DType::kBool, {3}},
  };

  for (const KnownTensor& expected : known) {
    std::string path = (fs::path(corpus) / "files" / expected.file).string();
    Result<Checkpoint> checkpoint = Checkpoint::Open(path);
    ASSERT_TRUE(checkpoint.ok()) << checkpoint.status().ToString();
    EXPECT_EQ(checkpoint->tensors().size(), expected.tensor_count) << expected.file;
    const CheckpointTensor* tensor = checkpoint->Find(expected.name);
    ASSERT_NE(tensor, nullptr) << expected.file << ": " << expected.name;
    EXPECT_EQ(tensor->dtype, expected.dtype) << expected.file;
    EXPECT_EQ(tensor->shape, expected.shape) << expected.file;
  }
}

TEST(CorpusReaderTest, UnpaddedSampleStartsDataAtOddOffset) {
  SAFECKPT_REQUIRE_CORPUS(corpus);
  std::string path =
      (fs::path(corpus) / "files" / "huggingface__safetensors__samples_B.safetensors").string();
  Result<SafetensorsHeader> header = ReadSafetensorsHeader(path);
  ASSERT_TRUE(header.ok()) << header.status().ToString();
  EXPECT_EQ(header->data_start() % 2, 1u);
  EXPECT_EQ(header->metadata, (Metadata{{"test", "a"}}));
}

TEST(CorpusReaderTest, NegativeFilesAreRejected) {
  SAFECKPT_REQUIRE_CORPUS(corpus);
  const std::map<std::string, ErrorId> expected = {
      {"syoyo__safetensors-cpp__test_safetensors_abuse_attempt_1.safetensors",
       ErrorId::kHeaderPastEnd},
      {"by321__safetensors_util__test_duplicate_keys_in_header.safetensors",
       ErrorId::kDuplicateName},
      {"by321__safetensors_util__test_header_size_too_big.safetensors", ErrorId::kHeaderPastEnd},
  };

  std::vector<std::string> paths = SafetensorsFilesIn(fs::path(corpus) / "files" / "negative");
  ASSERT_EQ(paths.size(), expected.size());
  for (const std::string& path : paths) {
    std::string name = fs::path(path).filename().string();
    ASSERT_TRUE(expected.count(name)) << "no expected error for " << name;
    EXPECT_ERROR(Checkpoint::Open(path), expected.at(name), path);
  }
}

TEST(CorpusReaderTest, EveryIndexParses) {
  SAFECKPT_REQUIRE_CORPUS(corpus);
  std::vector<std::string> folders = IndexFolders(fs::path(corpus));
  ASSERT_GE(folders.size(), 8u);

  for (const std::string& folder : folders) {
    Result<CheckpointIndex> index = ParseIndexIn(fs::path(corpus) / "index" / folder);
    ASSERT_TRUE(index.ok()) << index.status().ToString();
    EXPECT_GE(index->weight_map.size(), 36u) << folder;
    EXPECT_TRUE(index->total_size.has_value()) << folder;
    EXPECT_TRUE(index->warnings.empty()) << folder;
  }
}

TEST(CorpusReaderTest, KnownIndexSizes) {
  SAFECKPT_REQUIRE_CORPUS(corpus);
  const std::map<std::string, std::pair<size_t, uint64_t>> expected = {
      {"Alikhan13r__falcon-180B-chat__root", {644, 359045130240}},
      {"FluxML__SafeTensors.jl__test_sharded", {36, 4305}},
      {"MiMiGame-1__Reflection-Llama-3.1-70B__root", {723, 282215219200}},
      {"YouriLalain__3PRYMMAL-PHI3-3B-SLERP__root", {195, 7642159104}},
      {"sarcascoder__nvidia-reason2__root", {750, 0}},
      {"tbressers__WizardLM-2-8x22B__root", {1739, 281241268224}},
  };
  for (const auto& [folder, sizes] : expected) {
    Result<CheckpointIndex> index = ParseIndexIn(fs::path(corpus) / "index" / folder);
    ASSERT_TRUE(index.ok()) << index.status().ToString();
    EXPECT_EQ(index->weight_map.size(), sizes.first) << folder;
    EXPECT_EQ(index->total_size, sizes.second) << folder;
  }
}

TEST(CorpusReaderTest, OpenListsEveryAbsentShard) {
  SAFECKPT_REQUIRE_CORPUS(corpus);
  for (const std::string& folder : IndexFolders(fs::path(corpus))) {
    if (folder == "FluxML__SafeTensors.jl__test_sharded") continue;
    fs::path directory = fs::path(corpus) / "index" / folder;
    Result<CheckpointIndex> index = ParseIndexIn(directory);
    ASSERT_TRUE(index.ok()) << index.status().ToString();
    std::set<std::string> shards;
    for (const auto& [tensor, file] : index->weight_map) shards.insert(file);

    Result<Checkpoint> checkpoint = Checkpoint::Open(directory.string());
    EXPECT_ERROR(checkpoint, ErrorId::kIndexShardMissing,
                 std::to_string(shards.size()) + " of the " + std::to_string(shards.size()) +
                     " shard files");
    // The message names the first 100 missing shards in sorted order and
    // counts the rest.
    size_t listed = 0;
    for (const std::string& shard : shards) {
      if (listed++ == 100) break;
      EXPECT_NE(checkpoint.status().message().find("'" + shard + "'"), std::string::npos)
          << folder << ": " << shard;
    }
    if (shards.size() > 100) {
      EXPECT_ERROR(checkpoint, ErrorId::kIndexShardMissing,
                   "... and " + std::to_string(shards.size() - 100) + " more");
    }
  }
}

TEST(CorpusReaderTest, ShardedCheckpointOpensCompletely) {
  SAFECKPT_REQUIRE_CORPUS(corpus);
  testing::CapturingLogger logger;
  OpenOptions options;
  options.logger = &logger;
  fs::path directory = fs::path(corpus) / "index" / "FluxML__SafeTensors.jl__test_sharded";

  Result<Checkpoint> checkpoint = Checkpoint::Open(directory.string(), options);
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status().ToString();
  EXPECT_TRUE(checkpoint->has_index());
  EXPECT_EQ(checkpoint->tensors().size(), 36u);
  EXPECT_EQ(checkpoint->files().size(), 6u);
  EXPECT_TRUE(checkpoint->stale_copies().empty());
  EXPECT_EQ(checkpoint->declared_total_size(), 4305u);
  EXPECT_EQ(checkpoint->tensor_bytes(), 4305u);
  EXPECT_TRUE(logger.Messages().empty());
  ASSERT_NE(checkpoint->Find("float16_3"), nullptr);
  EXPECT_EQ(checkpoint->Find("float16_3")->dtype, DType::kF16);
  EXPECT_EQ(checkpoint->files()[checkpoint->Find("float16_3")->file].name,
            "model-00001-of-00006.safetensors");
}

// The reason2 index declares total_size 0 for 17.5 GB of shards. Tiny
// shards with its real tensor names and file layout show that Open warns
// and still opens.
TEST(CorpusReaderTest, ZeroTotalSizeWarnsWithSyntheticShards) {
  SAFECKPT_REQUIRE_CORPUS(corpus);
  fs::path source = fs::path(corpus) / "index" / "sarcascoder__nvidia-reason2__root";
  Result<CheckpointIndex> index = ParseIndexIn(source);
  ASSERT_TRUE(index.ok()) << index.status().ToString();

  testing::TempDir dir;
  std::map<std::string, std::vector<TensorToWrite>> shards;
  static const uint8_t kByte = 0;
  for (const auto& [tensor, file] : index->weight_map) {
    shards[file].push_back({tensor, DType::kU8, {1}, &kByte});
  }
  for (const auto& [file, tensors] : shards) {
    ASSERT_TRUE(WriteSafetensors(dir.Join(file), tensors).ok()) << file;
  }
  fs::copy_file(source / kIndexFileName, dir.Join(std::string(kIndexFileName)));

  testing::CapturingLogger logger;
  OpenOptions options;
  options.logger = &logger;
  Result<Checkpoint> checkpoint = Checkpoint::Open(dir.path(), options);
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status().ToString();
  EXPECT_EQ(checkpoint->tensors().size(), 750u);
  EXPECT_EQ(checkpoint->files().size(), 4u);
  EXPECT_EQ(checkpoint->declared_total_size(), 0u);
  EXPECT_TRUE(logger.Contains("metadata.total_size is 0 bytes"));
  EXPECT_TRUE(logger.Contains("take 750 bytes"));
  EXPECT_EQ(checkpoint->warnings().size(), 1u);
}

}  // namespace
}  // namespace safeckpt
