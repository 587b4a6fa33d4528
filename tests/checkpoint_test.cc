#include "safeckpt/checkpoint.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <future>
#include <string>
#include <vector>

#include "format/same_file.h"
#include "io/file.h"
#include "safeckpt/writer.h"
#include "support/test_support.h"

namespace safeckpt {
namespace {

namespace fs = std::filesystem;
using testing::CapturingLogger;
using testing::TempDir;

// Writes an F32 tensor of `count` elements for each name in `names`.
void WriteShard(const std::string& path, const std::vector<std::string>& names,
                uint64_t count = 2) {
  static const std::vector<float> kValues(64, 1.5f);
  ASSERT_LE(count, kValues.size());
  std::vector<TensorToWrite> tensors;
  for (const std::string& name : names) {
    tensors.push_back({name, DType::kF32, {count}, kValues.data()});
  }
  ASSERT_TRUE(WriteSafetensors(path, tensors).ok()) << path;
}

// Returns an index file's text mapping each (tensor, file) pair.
std::string IndexJson(const std::vector<std::pair<std::string, std::string>>& weight_map,
                      const std::string& metadata = R"({"total_size": 24})") {
  std::string json = R"({"metadata": )" + metadata + R"(, "weight_map": {)";
  for (size_t i = 0; i < weight_map.size(); ++i) {
    if (i > 0) json += ", ";
    json += "\"" + weight_map[i].first + "\": \"" + weight_map[i].second + "\"";
  }
  return json + "}}";
}

std::vector<std::string> TensorNames(const Checkpoint& checkpoint) {
  std::vector<std::string> names;
  for (const CheckpointTensor& tensor : checkpoint.tensors()) names.push_back(tensor.name);
  return names;
}

// A directory with an index and two shards: a.safetensors contains x and y,
// b.safetensors contains z. Each tensor is 8 bytes.
class ShardedCheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteShard(dir_.Join("a.safetensors"), {"y", "x"});
    WriteShard(dir_.Join("b.safetensors"), {"z"});
  }

  void WriteIndex(const std::string& text) {
    testing::WriteFileBytes(dir_.Join(std::string(kIndexFileName)), text);
  }

  Result<Checkpoint> Open(bool strict_index = false) {
    OpenOptions options;
    options.logger = &logger_;
    options.strict_index = strict_index;
    return Checkpoint::Open(dir_.path(), options);
  }

  TempDir dir_;
  CapturingLogger logger_;
};

TEST(CheckpointTest, OpensSingleFile) {
  TempDir dir;
  std::string path = dir.Join("model.safetensors");
  WriteShard(path, {"b", "a"}, 3);

  Result<Checkpoint> checkpoint = Checkpoint::Open(path);
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status().ToString();
  EXPECT_FALSE(checkpoint->has_index());
  EXPECT_EQ(checkpoint->path(), path);
  ASSERT_EQ(checkpoint->files().size(), 1u);
  EXPECT_EQ(checkpoint->files()[0].name, "model.safetensors");
  EXPECT_EQ(checkpoint->files()[0].path, path);
  EXPECT_EQ(TensorNames(*checkpoint), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(checkpoint->tensor_bytes(), 24u);
  EXPECT_TRUE(checkpoint->warnings().empty());
}

TEST(CheckpointTest, TensorOffsetsAreAbsolute) {
  TempDir dir;
  std::string path = dir.Join("model.safetensors");
  WriteShard(path, {"first", "second"}, 3);

  Result<Checkpoint> checkpoint = Checkpoint::Open(path);
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status().ToString();
  const CheckpointFile& file = checkpoint->files()[0];
  const CheckpointTensor* second = checkpoint->Find("second");
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(second->dtype, DType::kF32);
  EXPECT_EQ(second->shape, (Shape{3}));
  EXPECT_EQ(second->nbytes, 12u);
  EXPECT_EQ(second->offset, file.data_start + 12);
  EXPECT_EQ(second->offset + second->nbytes, file.size);
}

TEST(CheckpointTest, FileMetadataIsKept) {
  TempDir dir;
  std::string path = dir.Join("model.safetensors");
  float value = 1;
  WriteOptions options;
  options.metadata = {{"format", "pt"}, {"source", "test"}};
  ASSERT_TRUE(WriteSafetensors(path, {{"w", DType::kF32, {1}, &value}}, options).ok());

  Result<Checkpoint> checkpoint = Checkpoint::Open(path);
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status().ToString();
  EXPECT_EQ(checkpoint->files()[0].metadata, options.metadata);
}

TEST(CheckpointTest, FindReturnsNullForUnknownName) {
  TempDir dir;
  std::string path = dir.Join("model.safetensors");
  WriteShard(path, {"a", "c"});

  Result<Checkpoint> checkpoint = Checkpoint::Open(path);
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status().ToString();
  EXPECT_EQ(checkpoint->Find("b"), nullptr);
  EXPECT_EQ(checkpoint->Find(""), nullptr);
  EXPECT_EQ(checkpoint->Find("d"), nullptr);
  ASSERT_NE(checkpoint->Find("c"), nullptr);
  EXPECT_EQ(checkpoint->Find("c")->name, "c");
}

TEST(CheckpointTest, MissingPathIsNotFound) {
  TempDir dir;
  Result<Checkpoint> checkpoint = Checkpoint::Open(dir.Join("absent"));
  EXPECT_ERROR(checkpoint, ErrorId::kReadFailed, "absent");
  EXPECT_EQ(checkpoint.status().code(), StatusCode::kNotFound);
}

TEST(CheckpointTest, HeaderErrorsNameTheFile) {
  TempDir dir;
  std::string path = dir.Join("broken.safetensors");
  testing::WriteFileBytes(path, testing::FileBytes(R"({"w": {"dtype": "F32"}})", ""));
  EXPECT_ERROR(Checkpoint::Open(path), ErrorId::kEntryMissingField, path + ": tensor 'w'");
}

TEST(CheckpointTest, OpensDirectoryWithoutIndex) {
  TempDir dir;
  WriteShard(dir.Join("part-2.safetensors"), {"c"});
  WriteShard(dir.Join("part-1.safetensors"), {"b", "a"});
  testing::WriteFileBytes(dir.Join("notes.txt"), "not a checkpoint");

  Result<Checkpoint> checkpoint = Checkpoint::Open(dir.path());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status().ToString();
  EXPECT_FALSE(checkpoint->has_index());
  ASSERT_EQ(checkpoint->files().size(), 2u);
  EXPECT_EQ(checkpoint->files()[0].name, "part-1.safetensors");
  EXPECT_EQ(checkpoint->files()[1].name, "part-2.safetensors");
  EXPECT_EQ(TensorNames(*checkpoint), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(checkpoint->Find("c")->file, 1u);
  EXPECT_EQ(checkpoint->Find("a")->file, 0u);
}

TEST(CheckpointTest, DirectoryWithoutIndexRejectsTensorInTwoFiles) {
  TempDir dir;
  WriteShard(dir.Join("one.safetensors"), {"a", "shared"});
  WriteShard(dir.Join("two.safetensors"), {"shared"});
  Result<Checkpoint> checkpoint = Checkpoint::Open(dir.path());
  EXPECT_ERROR(checkpoint, ErrorId::kTensorInTwoFiles,
               "tensor 'shared' is in both 'one.safetensors' and 'two.safetensors'");
}

TEST(CheckpointTest, EmptyDirectoryHasNoSafetensorsFiles) {
  TempDir dir;
  testing::WriteFileBytes(dir.Join("config.json"), "{}");
  Result<Checkpoint> checkpoint = Checkpoint::Open(dir.path());
  EXPECT_ERROR(checkpoint, ErrorId::kNoSafetensorsFiles, dir.path());
  EXPECT_EQ(checkpoint.status().code(), StatusCode::kNotFound);
}

TEST(CheckpointTest, IncompleteMarkerRejectsDirectory) {
  TempDir dir;
  WriteShard(dir.Join("model.safetensors"), {"a"});
  testing::WriteFileBytes(dir.Join(std::string(kIncompleteMarkerName)), "");
  Result<Checkpoint> checkpoint = Checkpoint::Open(dir.path());
  EXPECT_ERROR(checkpoint, ErrorId::kIncompleteCheckpoint, "incomplete checkpoint");
  EXPECT_EQ(checkpoint.status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(ShardedCheckpointTest, OpensDirectoryWithIndex) {
  WriteIndex(IndexJson({{"x", "a.safetensors"}, {"y", "a.safetensors"}, {"z", "b.safetensors"}}));

  Result<Checkpoint> checkpoint = Open();
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status().ToString();
  EXPECT_TRUE(checkpoint->has_index());
  EXPECT_EQ(checkpoint->path(), dir_.path());
  ASSERT_EQ(checkpoint->files().size(), 2u);
  EXPECT_EQ(checkpoint->files()[0].name, "a.safetensors");
  EXPECT_EQ(checkpoint->files()[1].path, dir_.Join("b.safetensors"));
  EXPECT_EQ(TensorNames(*checkpoint), (std::vector<std::string>{"x", "y", "z"}));
  EXPECT_EQ(checkpoint->Find("z")->file, 1u);
  EXPECT_EQ(checkpoint->declared_total_size(), 24u);
  EXPECT_TRUE(checkpoint->warnings().empty());
  EXPECT_TRUE(logger_.Messages().empty());
}

TEST_F(ShardedCheckpointTest, IndexTakesPrecedenceOverOtherFiles) {
  WriteShard(dir_.Join("unrelated.safetensors"), {"x"});
  WriteIndex(IndexJson({{"x", "a.safetensors"}, {"y", "a.safetensors"}, {"z", "b.safetensors"}}));

  Result<Checkpoint> checkpoint = Open();
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status().ToString();
  EXPECT_EQ(checkpoint->files().size(), 2u);
}

TEST_F(ShardedCheckpointTest, StaleCopyIsRecordedAndNeverUsed) {
  WriteShard(dir_.Join("b.safetensors"), {"z", "x"});
  WriteIndex(IndexJson({{"x", "a.safetensors"}, {"y", "a.safetensors"}, {"z", "b.safetensors"}}));

  Result<Checkpoint> checkpoint = Open();
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status().ToString();
  ASSERT_EQ(checkpoint->stale_copies().size(), 1u);
  EXPECT_EQ(checkpoint->stale_copies()[0].tensor, "x");
  EXPECT_EQ(checkpoint->stale_copies()[0].file, "b.safetensors");
  EXPECT_EQ(checkpoint->stale_copies()[0].index_file, "a.safetensors");
  EXPECT_EQ(checkpoint->Find("x")->file, 0u);
  EXPECT_EQ(checkpoint->tensors().size(), 3u);
  EXPECT_TRUE(logger_.Contains("'b.safetensors' contains a copy of tensor 'x'"));
  EXPECT_TRUE(logger_.Contains("maps to 'a.safetensors'"));
  ASSERT_EQ(checkpoint->warnings().size(), 1u);
  EXPECT_EQ(checkpoint->warnings()[0], logger_.Messages()[0]);
}

TEST_F(ShardedCheckpointTest, UnlistedTensorIsIgnoredWithWarning) {
  WriteShard(dir_.Join("b.safetensors"), {"z", "extra"});
  WriteIndex(IndexJson({{"x", "a.safetensors"}, {"y", "a.safetensors"}, {"z", "b.safetensors"}}));

  Result<Checkpoint> checkpoint = Open();
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status().ToString();
  EXPECT_EQ(checkpoint->Find("extra"), nullptr);
  EXPECT_TRUE(checkpoint->stale_copies().empty());
  EXPECT_TRUE(logger_.Contains("b.safetensors: contains a tensor that the index does not list"));
  EXPECT_TRUE(logger_.Contains("'extra'"));
  EXPECT_EQ(checkpoint->warnings().size(), 1u);
}

TEST_F(ShardedCheckpointTest, WrongTotalSizeIsOnlyAWarning) {
  WriteIndex(IndexJson({{"x", "a.safetensors"}, {"y", "a.safetensors"}, {"z", "b.safetensors"}},
                       R"({"total_size": 0})"));

  Result<Checkpoint> checkpoint = Open();
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status().ToString();
  EXPECT_EQ(checkpoint->declared_total_size(), 0u);
  EXPECT_TRUE(logger_.Contains("metadata.total_size is 0 bytes"));
  EXPECT_TRUE(logger_.Contains("take 24 bytes"));
  EXPECT_TRUE(logger_.Contains("harmless"));
  EXPECT_EQ(checkpoint->warnings().size(), 1u);
}

TEST_F(ShardedCheckpointTest, AbsentTotalSizeGivesNoWarning) {
  WriteIndex(
      IndexJson({{"x", "a.safetensors"}, {"y", "a.safetensors"}, {"z", "b.safetensors"}}, "{}"));

  Result<Checkpoint> checkpoint = Open();
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status().ToString();
  EXPECT_FALSE(checkpoint->declared_total_size().has_value());
  EXPECT_TRUE(checkpoint->warnings().empty());
}

TEST_F(ShardedCheckpointTest, NonNumericTotalSizeIsWarnedAbout) {
  WriteIndex(IndexJson({{"x", "a.safetensors"}, {"y", "a.safetensors"}, {"z", "b.safetensors"}},
                       R"({"total_size": "big"})"));

  Result<Checkpoint> checkpoint = Open();
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status().ToString();
  EXPECT_FALSE(checkpoint->declared_total_size().has_value());
  EXPECT_TRUE(logger_.Contains("metadata.total_size is \"big\" (a string), not a byte count"));
}

TEST_F(ShardedCheckpointTest, StrictIndexAcceptsConsistentIndex) {
  WriteIndex(IndexJson({{"x", "a.safetensors"}, {"y", "a.safetensors"}, {"z", "b.safetensors"}}));

  Result<Checkpoint> checkpoint = Open(/*strict_index=*/true);

  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status().ToString();
  EXPECT_TRUE(checkpoint->warnings().empty());
}

TEST_F(ShardedCheckpointTest, StrictIndexRejectsStaleCopy) {
  WriteShard(dir_.Join("b.safetensors"), {"z", "x"});
  WriteIndex(IndexJson({{"x", "a.safetensors"}, {"y", "a.safetensors"}, {"z", "b.safetensors"}}));

  Result<Checkpoint> checkpoint = Open(/*strict_index=*/true);

  EXPECT_ERROR(checkpoint, ErrorId::kIndexStaleCopy, "b.safetensors: contains a copy of tensor 'x'");
  EXPECT_ERROR(checkpoint, ErrorId::kIndexStaleCopy, "maps to 'a.safetensors'");
  EXPECT_ERROR(checkpoint, ErrorId::kIndexStaleCopy, "--strict-index");
}

TEST_F(ShardedCheckpointTest, StrictIndexRejectsUnlistedTensor) {
  WriteShard(dir_.Join("b.safetensors"), {"z", "extra"});
  WriteIndex(IndexJson({{"x", "a.safetensors"}, {"y", "a.safetensors"}, {"z", "b.safetensors"}}));

  Result<Checkpoint> checkpoint = Open(/*strict_index=*/true);

  EXPECT_ERROR(checkpoint, ErrorId::kIndexUnlistedTensor,
               "b.safetensors: contains a tensor that the index does not list: 'extra'");
  EXPECT_ERROR(checkpoint, ErrorId::kIndexUnlistedTensor, "add it to weight_map");
}

TEST_F(ShardedCheckpointTest, StrictIndexRejectsWrongTotalSize) {
  WriteIndex(IndexJson({{"x", "a.safetensors"}, {"y", "a.safetensors"}, {"z", "b.safetensors"}},
                       R"({"total_size": 0})"));

  Result<Checkpoint> checkpoint = Open(/*strict_index=*/true);

  EXPECT_ERROR(checkpoint, ErrorId::kIndexTotalSize, "metadata.total_size is 0 bytes");
  EXPECT_ERROR(checkpoint, ErrorId::kIndexTotalSize, "take 24 bytes");
}

TEST_F(ShardedCheckpointTest, StrictIndexRejectsNonNumericTotalSize) {
  WriteIndex(IndexJson({{"x", "a.safetensors"}, {"y", "a.safetensors"}, {"z", "b.safetensors"}},
                       R"({"total_size": "big"})"));

  Result<Checkpoint> checkpoint = Open(/*strict_index=*/true);

  EXPECT_ERROR(checkpoint, ErrorId::kIndexTotalSize, "not a byte count");
  EXPECT_EQ(checkpoint.status().message().find("ignored"), std::string::npos)
      << checkpoint.status().message();
}

TEST_F(ShardedCheckpointTest, MissingShardsAreListedTogether) {
  WriteIndex(IndexJson({{"x", "a.safetensors"},
                        {"y", "gone-1.safetensors"},
                        {"z", "gone-2.safetensors"},
                        {"w", "gone-1.safetensors"}}));

  Result<Checkpoint> checkpoint = Open();
  EXPECT_ERROR(checkpoint, ErrorId::kIndexShardMissing, "2 of the 3 shard files");
  EXPECT_ERROR(checkpoint, ErrorId::kIndexShardMissing,
               "'gone-1.safetensors', 'gone-2.safetensors'");
  EXPECT_EQ(checkpoint.status().code(), StatusCode::kNotFound);
}

TEST_F(ShardedCheckpointTest, IndexedTensorMissingFromShard) {
  WriteIndex(IndexJson({{"x", "a.safetensors"}, {"y", "b.safetensors"}, {"z", "b.safetensors"}}));
  EXPECT_ERROR(Open(), ErrorId::kIndexTensorNotInShard,
               "maps tensor 'y' to 'b.safetensors', but that shard's header has no such tensor");
}

TEST_F(ShardedCheckpointTest, PathOutsideDirectoryIsRejected) {
  WriteIndex(IndexJson({{"x", "../a.safetensors"}}));
  EXPECT_ERROR(Open(), ErrorId::kIndexPathOutside, "'../a.safetensors'");
}

TEST_F(ShardedCheckpointTest, ShardErrorNamesTheShard) {
  testing::WriteFileBytes(dir_.Join("b.safetensors"), "");
  WriteIndex(IndexJson({{"x", "a.safetensors"}, {"y", "a.safetensors"}, {"z", "b.safetensors"}}));
  EXPECT_ERROR(Open(), ErrorId::kFileEmpty, dir_.Join("b.safetensors") + ": ");
}

TEST_F(ShardedCheckpointTest, DanglingIndexSymlinkIsReported) {
  // What a Hugging Face cache snapshot looks like when a blob is missing.
  fs::create_symlink("../blobs/missing", dir_.Join(std::string(kIndexFileName)));

  Result<Checkpoint> checkpoint = Open();

  EXPECT_FALSE(checkpoint.ok());
  EXPECT_NE(checkpoint.status().message().find(std::string(kIndexFileName)), std::string::npos)
      << checkpoint.status().ToString();
}

TEST_F(ShardedCheckpointTest, IndexSymlinkLoopIsReported) {
  fs::create_symlink(std::string(kIndexFileName), dir_.Join(std::string(kIndexFileName)));

  Result<Checkpoint> checkpoint = Open();

  EXPECT_FALSE(checkpoint.ok());
  EXPECT_NE(checkpoint.status().message().find(std::string(kIndexFileName)), std::string::npos)
      << checkpoint.status().ToString();
}

TEST(CheckpointTest, DanglingMarkerSymlinkStillMarksIncomplete) {
  TempDir dir;
  WriteShard(dir.Join("a.safetensors"), {"x"});
  fs::create_symlink("gone", dir.Join(std::string(kIncompleteMarkerName)));

  EXPECT_ERROR(Checkpoint::Open(dir.path()), ErrorId::kIncompleteCheckpoint, "incomplete");
}

TEST(CheckpointTest, UnindexedSymlinkLoopIsReportedNotSkipped) {
  TempDir dir;
  WriteShard(dir.Join("a.safetensors"), {"x"});
  fs::create_symlink("b.safetensors", dir.Join("b.safetensors"));

  Result<Checkpoint> checkpoint = Checkpoint::Open(dir.path());

  EXPECT_FALSE(checkpoint.ok());
  EXPECT_NE(checkpoint.status().message().find("b.safetensors"), std::string::npos)
      << checkpoint.status().ToString();
}

TEST_F(ShardedCheckpointTest, BrokenIndexIsReported) {
  WriteIndex("{\"weight_map\": ");
  EXPECT_ERROR(Open(), ErrorId::kIndexNotJson, std::string(kIndexFileName));
}

TEST_F(ShardedCheckpointTest, ShardsInSubdirectoryAreFound) {
  fs::create_directory(dir_.Join("shards"));
  WriteShard(dir_.Join("shards/c.safetensors"), {"c"});
  WriteIndex(IndexJson({{"c", "./shards//c.safetensors"}, {"z", "b.safetensors"}}));

  Result<Checkpoint> checkpoint = Open();
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status().ToString();
  ASSERT_NE(checkpoint->Find("c"), nullptr);
  EXPECT_EQ(checkpoint->files()[checkpoint->Find("c")->file].name, "shards/c.safetensors");
  EXPECT_EQ(checkpoint->files().size(), 2u);
}

// The Hugging Face cache keeps files in blobs/ and links to them from
// snapshots/<commit>/, so shard names are symlinks that leave the
// directory. Only the names in the index are checked.
TEST(CheckpointTest, OpensSymlinkedShards) {
  TempDir cache;
  fs::create_directories(cache.Join("blobs"));
  fs::create_directories(cache.Join("snapshots/abc"));
  WriteShard(cache.Join("blobs/1111"), {"a"});
  WriteShard(cache.Join("blobs/2222"), {"b"});
  fs::create_symlink("../../blobs/1111", cache.Join("snapshots/abc/model-1.safetensors"));
  fs::create_symlink("../../blobs/2222", cache.Join("snapshots/abc/model-2.safetensors"));
  testing::WriteFileBytes(cache.Join("snapshots/abc/" + std::string(kIndexFileName)),
                          IndexJson({{"a", "model-1.safetensors"}, {"b", "model-2.safetensors"}},
                                    R"({"total_size": 16})"));

  Result<Checkpoint> checkpoint = Checkpoint::Open(cache.Join("snapshots/abc"));
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status().ToString();
  EXPECT_EQ(TensorNames(*checkpoint), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(checkpoint->warnings().empty());
}

TEST(CheckpointTest, BrokenSymlinkCountsAsMissingShard) {
  TempDir dir;
  WriteShard(dir.Join("a.safetensors"), {"a"});
  fs::create_symlink("nowhere", dir.Join("b.safetensors"));
  testing::WriteFileBytes(dir.Join(std::string(kIndexFileName)),
                          IndexJson({{"a", "a.safetensors"}, {"b", "b.safetensors"}}));
  Result<Checkpoint> checkpoint = Checkpoint::Open(dir.path());
  EXPECT_ERROR(checkpoint, ErrorId::kIndexShardMissing, "'b.safetensors'");
  EXPECT_ERROR(checkpoint, ErrorId::kIndexShardMissing, "1 of the 2 shard files it names does not");
}

TEST(CheckpointTest, OpensSymlinkedFilesWithoutIndex) {
  TempDir dir;
  fs::create_directories(dir.Join("blobs"));
  fs::create_directories(dir.Join("model"));
  WriteShard(dir.Join("blobs/1111"), {"a"});
  fs::create_symlink("../blobs/1111", dir.Join("model/model.safetensors"));

  Result<Checkpoint> checkpoint = Checkpoint::Open(dir.Join("model"));
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status().ToString();
  EXPECT_EQ(TensorNames(*checkpoint), (std::vector<std::string>{"a"}));
}

std::string MakeFifo(const std::string& path) {
  EXPECT_EQ(::mkfifo(path.c_str(), 0600), 0) << path << ": " << std::strerror(errno);
  return path;
}

// Opens `path` on another thread. A reader that opens files without
// O_NONBLOCK blocks on a FIFO without a writer. When Open is still blocked
// after a few seconds, the test fails and connects a writer to `fifo`, so
// that the blocked open returns.
Result<Checkpoint> OpenWithoutHanging(const std::string& path, const std::string& fifo) {
  std::future<Result<Checkpoint>> result =
      std::async(std::launch::async, [&] { return Checkpoint::Open(path); });
  if (result.wait_for(std::chrono::seconds(5)) == std::future_status::timeout) {
    ADD_FAILURE() << "Checkpoint::Open blocked on the FIFO " << fifo;
    int writer = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    Result<Checkpoint> unblocked = result.get();
    if (writer >= 0) ::close(writer);
    return unblocked;
  }
  return result.get();
}

TEST(CheckpointTest, FifoAsCheckpointIsRejected) {
  TempDir dir;
  std::string fifo = MakeFifo(dir.Join("model.safetensors"));
  EXPECT_ERROR(OpenWithoutHanging(fifo, fifo), ErrorId::kNotRegularFile,
               "'" + fifo + "' is a FIFO, not a regular file");
}

TEST(CheckpointTest, CharacterDeviceAsCheckpointIsRejected) {
  EXPECT_ERROR(Checkpoint::Open("/dev/null"), ErrorId::kNotRegularFile,
               "'/dev/null' is a character device, not a regular file");
}

TEST(CheckpointTest, FifoInDirectoryWithoutIndexIsRejected) {
  TempDir dir;
  WriteShard(dir.Join("a.safetensors"), {"a"});
  std::string fifo = MakeFifo(dir.Join("b.safetensors"));
  EXPECT_ERROR(OpenWithoutHanging(dir.path(), fifo), ErrorId::kNotRegularFile,
               "'" + fifo + "' is a FIFO");
}

TEST_F(ShardedCheckpointTest, FifoAsShardIsRejected) {
  std::string fifo = MakeFifo(dir_.Join("c.safetensors"));
  WriteIndex(IndexJson({{"x", "a.safetensors"}, {"y", "a.safetensors"}, {"c", "c.safetensors"}}));
  EXPECT_ERROR(OpenWithoutHanging(dir_.path(), fifo), ErrorId::kNotRegularFile,
               "'" + fifo + "' is a FIFO");
}

TEST(CheckpointTest, FifoAsIndexIsRejected) {
  TempDir dir;
  WriteShard(dir.Join("a.safetensors"), {"a"});
  std::string fifo = MakeFifo(dir.Join(std::string(kIndexFileName)));
  EXPECT_ERROR(OpenWithoutHanging(dir.path(), fifo), ErrorId::kNotRegularFile,
               "'" + fifo + "' is a FIFO");
}

TEST(CheckpointTest, DirectoryAsIndexIsRejected) {
  TempDir dir;
  WriteShard(dir.Join("a.safetensors"), {"a"});
  fs::create_directory(dir.Join(std::string(kIndexFileName)));
  EXPECT_ERROR(Checkpoint::Open(dir.path()), ErrorId::kNotRegularFile, "is a directory");
}

TEST_F(ShardedCheckpointTest, MissingShardListIsCappedAtHundredNames) {
  std::vector<std::pair<std::string, std::string>> weight_map = {{"x", "a.safetensors"}};
  for (int i = 0; i < 250; ++i) {
    weight_map.emplace_back("t" + std::to_string(i), "gone-" + std::to_string(1000 + i));
  }
  WriteIndex(IndexJson(weight_map));

  Result<Checkpoint> checkpoint = Open();
  EXPECT_ERROR(checkpoint, ErrorId::kIndexShardMissing, "250 of the 251 shard files");
  EXPECT_ERROR(checkpoint, ErrorId::kIndexShardMissing, "'gone-1099' ... and 150 more");
  EXPECT_EQ(checkpoint.status().message().find("gone-1100"), std::string::npos);
}

TEST_F(ShardedCheckpointTest, TensorMappedToIndexFileIsExplained) {
  WriteIndex(IndexJson({{"x", "a.safetensors"}, {"z", std::string(kIndexFileName)}}));
  EXPECT_ERROR(Open(), ErrorId::kIndexInvalid, "which is this index file, not a shard");
}

TEST(CheckpointTest, OpenRecordsFileIdentity) {
  TempDir dir;
  std::string path = dir.Join("model.safetensors");
  WriteShard(path, {"a"});
  timespec times[2] = {{0, UTIME_OMIT}, {1'600'000'000, 42}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);

  Result<Checkpoint> checkpoint = Checkpoint::Open(path);
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status().ToString();
  struct stat info;
  ASSERT_EQ(::stat(path.c_str(), &info), 0);
  const CheckpointFile& file = checkpoint->files()[0];
  EXPECT_EQ(file.device, static_cast<uint64_t>(info.st_dev));
  EXPECT_EQ(file.inode, static_cast<uint64_t>(info.st_ino));
  EXPECT_EQ(file.size, static_cast<uint64_t>(info.st_size));
  EXPECT_EQ(file.modification_time_ns, 1'600'000'000'000'000'042);
}

TEST_F(ShardedCheckpointTest, ShardsRecordFileIdentity) {
  WriteIndex(IndexJson({{"x", "a.safetensors"}, {"y", "a.safetensors"}, {"z", "b.safetensors"}}));
  Result<Checkpoint> checkpoint = Open();
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status().ToString();
  for (const CheckpointFile& file : checkpoint->files()) {
    struct stat info;
    ASSERT_EQ(::stat(file.path.c_str(), &info), 0);
    EXPECT_EQ(file.inode, static_cast<uint64_t>(info.st_ino)) << file.name;
    EXPECT_NE(file.modification_time_ns, 0) << file.name;
  }
}

// Opens a one-file checkpoint for the CheckSameFile tests and keeps the
// description of its file.
class SameFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteShard(path_, {"a"}, 4);
    Result<Checkpoint> checkpoint = Checkpoint::Open(path_);
    ASSERT_TRUE(checkpoint.ok()) << checkpoint.status().ToString();
    expected_ = checkpoint->files()[0];
  }

  Status CheckAgain() {
    Result<internal::File> file = internal::File::OpenForRead(path_);
    if (!file.ok()) return file.status();
    return internal::CheckSameFile(*file, expected_);
  }

  TempDir dir_;
  std::string path_ = dir_.Join("model.safetensors");
  CheckpointFile expected_;
};

TEST_F(SameFileTest, UnchangedFilePasses) {
  Status status = CheckAgain();
  EXPECT_TRUE(status.ok()) << status.ToString();
}

TEST_F(SameFileTest, ReplacedFileIsReported) {
  // Same layout and size but other data, so only the inode differs.
  std::string other = dir_.Join("other.safetensors");
  WriteShard(other, {"a"}, 4);
  fs::rename(other, path_);

  Status status = CheckAgain();
  EXPECT_ERROR(Result<bool>(status), ErrorId::kFileChanged, "'" + path_ + "' was replaced");
  EXPECT_ERROR(Result<bool>(status), ErrorId::kFileChanged, "open the checkpoint again");
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition);
}

TEST_F(SameFileTest, TruncatedFileIsReported) {
  ASSERT_EQ(::truncate(path_.c_str(), 8), 0);
  Status status = CheckAgain();
  EXPECT_ERROR(Result<bool>(status), ErrorId::kFileChanged,
               "size changed from " + std::to_string(expected_.size) + " to 8 bytes");
}

TEST_F(SameFileTest, ModifiedFileIsReported) {
  // A write of the same size in place, dated one second later so that the
  // file system's timestamp granularity cannot hide it.
  std::string bytes = testing::ReadFileBytes(path_);
  bytes.back() ^= 1;
  int fd = ::open(path_.c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, bytes.data(), bytes.size(), 0), static_cast<ssize_t>(bytes.size()));
  ::close(fd);
  int64_t later = expected_.modification_time_ns + 1'000'000'000;
  timespec times[2] = {{0, UTIME_OMIT}, {later / 1'000'000'000, later % 1'000'000'000}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path_.c_str(), times, 0), 0);

  Status status = CheckAgain();
  EXPECT_ERROR(Result<bool>(status), ErrorId::kFileChanged, "'" + path_ + "' was modified");
  EXPECT_ERROR(Result<bool>(status), ErrorId::kFileChanged,
               std::to_string(expected_.modification_time_ns) + " ns then");
}

}  // namespace
}  // namespace safeckpt
