#include "load/executor.h"

#include <gtest/gtest.h>

#include <limits.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "load/convert.h"
#include "support/test_support.h"

namespace safeckpt::internal {
namespace {

using testing::TempDir;
using testing::WriteFileBytes;

std::string RandomBytes(std::mt19937& random, size_t length) {
  std::string bytes(length, '\0');
  for (char& byte : bytes) byte = static_cast<char>(random() & 0xff);
  return bytes;
}

// A tensor placed in a generated file, with the memory it loads into.
struct PlacedTensor {
  CopyRequest request;
  std::vector<std::byte> destination;
};

// Runs plan-and-execute for `tensors` with the given sizes and returns the
// stats, or the error.
Result<ExecutionStats> Load(std::vector<PlacedTensor>& tensors, const std::vector<std::string>& files,
                            uint32_t threads, uint64_t staging_bytes, uint64_t max_read_bytes) {
  std::vector<CopyRequest> requests;
  for (PlacedTensor& tensor : tensors) {
    std::fill(tensor.destination.begin(), tensor.destination.end(), std::byte{0xee});
    tensor.request.destination = tensor.destination.data();
    requests.push_back(tensor.request);
  }

  PlanOptions options;
  options.workers = threads;
  options.staging_bytes = staging_bytes;
  options.max_read_bytes = max_read_bytes;
  SAFECKPT_ASSIGN_OR_RETURN(LoadPlan plan, PlanLoad(requests, options));
  ThreadPool pool(threads);
  return ExecutePlan(plan, files, pool);
}

PlacedTensor Place(std::string name, uint32_t file, uint64_t offset, DType from, DType to,
                   uint64_t count) {
  PlacedTensor tensor;
  tensor.request.tensor = std::move(name);
  tensor.request.file = file;
  tensor.request.offset = offset;
  tensor.request.count = count;
  tensor.request.source_dtype = from;
  tensor.request.destination_dtype = to;
  tensor.request.nbytes = count * DTypeBits(from) / 8;
  tensor.destination.resize(count * DTypeBits(to) / 8);
  return tensor;
}

// The bytes `tensor` should hold after loading from `file_bytes`: the file
// bytes themselves, or those bytes through the conversion kernel in one go.
std::vector<std::byte> ExpectedBytes(const PlacedTensor& tensor, const std::string& file_bytes) {
  const CopyRequest& request = tensor.request;
  std::vector<std::byte> expected(tensor.destination.size());
  FindConvertKernel(request.source_dtype, request.destination_dtype)(
      file_bytes.data() + request.offset, expected.data(), request.count);
  return expected;
}

TEST(ExecutorTest, DirectReadsAtOddOffsets) {
  TempDir dir;
  std::mt19937 random(7);
  const std::string bytes = RandomBytes(random, 1001);
  const std::string path = dir.Join("odd.bin");
  WriteFileBytes(path, bytes);

  std::vector<PlacedTensor> tensors = {Place("a", 0, 7, DType::kU8, DType::kU8, 13),
                                       Place("b", 0, 20, DType::kF32, DType::kF32, 5),
                                       Place("c", 0, 333, DType::kBF16, DType::kBF16, 99)};
  Result<ExecutionStats> stats = Load(tensors, {path}, 2, 1 << 20, 1 << 20);

  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  for (const PlacedTensor& tensor : tensors) {
    EXPECT_EQ(std::memcmp(tensor.destination.data(), bytes.data() + tensor.request.offset,
                          tensor.destination.size()),
              0)
        << tensor.request.tensor;
  }
  EXPECT_EQ(stats->bytes_read, 13u + 20u + 198u);
}

TEST(ExecutorTest, ConversionAtOddOffset) {
  TempDir dir;
  // BF16 1.0 and -2.5 at offset 3.
  const std::string bytes = std::string("xyz") + std::string("\x80\x3f\x20\xc0", 4);
  const std::string path = dir.Join("bf16.bin");
  WriteFileBytes(path, bytes);

  std::vector<PlacedTensor> tensors = {Place("w", 0, 3, DType::kBF16, DType::kF32, 2)};
  Result<ExecutionStats> stats = Load(tensors, {path}, 1, 1 << 20, 1 << 20);

  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  float values[2];
  std::memcpy(values, tensors[0].destination.data(), sizeof values);
  EXPECT_EQ(values[0], 1.0f);
  EXPECT_EQ(values[1], -2.5f);
  EXPECT_EQ(stats->converted_bytes, 4u);
}

// Many tensors of mixed dtypes over two files, loaded with small reads and
// little staging so that reads coalesce, split and convert in many chunks.
class ManyTensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::mt19937 random(12345);
    const DType pairs[][2] = {{DType::kU8, DType::kU8},     {DType::kBF16, DType::kF32},
                              {DType::kF16, DType::kF32},   {DType::kF32, DType::kF32},
                              {DType::kF8_E4M3, DType::kF32}, {DType::kI16, DType::kI64},
                              {DType::kF32, DType::kBF16},  {DType::kBF16, DType::kBF16}};
    for (uint32_t file = 0; file < 2; ++file) {
      uint64_t offset = 5 + file;  // odd start, like an unpadded header
      for (int i = 0; i < 150; ++i) {
        const auto& pair = pairs[random() % 8];
        const uint64_t count = random() % 700;
        tensors_.push_back(Place("t" + std::to_string(file) + "." + std::to_string(i), file,
                                 offset, pair[0], pair[1], count));
        offset += count * DTypeBits(pair[0]) / 8;
        // Leave a gap now and then so not every range is adjacent.
        if (random() % 4 == 0) offset += random() % 9;
      }
      contents_.push_back(RandomBytes(random, offset));
      paths_.push_back(dir_.Join("file" + std::to_string(file) + ".bin"));
      WriteFileBytes(paths_.back(), contents_.back());
    }
  }

  std::vector<std::vector<std::byte>> LoadWith(uint32_t threads) {
    Result<ExecutionStats> stats = Load(tensors_, paths_, threads, 512 * threads, 256);
    EXPECT_TRUE(stats.ok()) << stats.status().ToString();
    std::vector<std::vector<std::byte>> loaded;
    for (const PlacedTensor& tensor : tensors_) loaded.push_back(tensor.destination);
    return loaded;
  }

  TempDir dir_;
  std::vector<std::string> paths_;
  std::vector<std::string> contents_;
  std::vector<PlacedTensor> tensors_;
};

TEST_F(ManyTensorsTest, OneAndFourThreadsGiveIdenticalBytes) {
  const std::vector<std::vector<std::byte>> one = LoadWith(1);
  const std::vector<std::vector<std::byte>> four = LoadWith(4);

  ASSERT_EQ(one.size(), four.size());
  for (size_t i = 0; i < one.size(); ++i) {
    EXPECT_EQ(one[i], four[i]) << tensors_[i].request.tensor;
  }
}

TEST_F(ManyTensorsTest, LoadedBytesMatchFileContents) {
  LoadWith(4);

  for (const PlacedTensor& tensor : tensors_) {
    const std::string& file_bytes = contents_[tensor.request.file];
    EXPECT_EQ(tensor.destination, ExpectedBytes(tensor, file_bytes)) << tensor.request.tensor;
  }
}

TEST_F(ManyTensorsTest, CountsBytesPerFile) {
  uint64_t expected[2] = {0, 0};
  for (const PlacedTensor& tensor : tensors_) expected[tensor.request.file] += tensor.request.nbytes;

  Result<ExecutionStats> stats = Load(tensors_, paths_, 3, 3 * 512, 256);

  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  ASSERT_EQ(stats->bytes_read_per_file.size(), 2u);
  EXPECT_EQ(stats->bytes_read_per_file[0], expected[0]);
  EXPECT_EQ(stats->bytes_read_per_file[1], expected[1]);
  EXPECT_EQ(stats->bytes_read, expected[0] + expected[1]);
  EXPECT_GE(stats->wall_seconds, 0.0);
  EXPECT_GE(stats->convert_seconds, 0.0);
}

TEST(ExecutorTest, TruncatedFileNamesFileAndTensor) {
  TempDir dir;
  const std::string path = dir.Join("short.safetensors");
  WriteFileBytes(path, std::string(100, 'x'));

  std::vector<PlacedTensor> tensors = {Place("ok", 0, 0, DType::kU8, DType::kU8, 50),
                                       Place("model.norm.weight", 0, 50, DType::kU8, DType::kU8, 80)};
  Result<ExecutionStats> stats = Load(tensors, {path}, 1, 1 << 20, 1 << 20);

  EXPECT_ERROR(stats, ErrorId::kShortRead, path);
  EXPECT_ERROR(stats, ErrorId::kShortRead, "tensor 'model.norm.weight'");
  EXPECT_ERROR(stats, ErrorId::kShortRead, "file ended at byte 100");
}

TEST(ExecutorTest, TruncatedFileFailsConversionToo) {
  TempDir dir;
  const std::string path = dir.Join("short.safetensors");
  WriteFileBytes(path, std::string(10, 'x'));

  std::vector<PlacedTensor> tensors = {Place("w", 0, 4, DType::kBF16, DType::kF32, 8)};
  Result<ExecutionStats> stats = Load(tensors, {path}, 2, 1 << 20, 1 << 20);

  EXPECT_ERROR(stats, ErrorId::kShortRead, "tensor 'w'");
  EXPECT_ERROR(stats, ErrorId::kShortRead, "16 bytes at offset 4");
}

TEST(ExecutorTest, MissingFileNamesPath) {
  TempDir dir;
  const std::string path = dir.Join("gone.safetensors");

  std::vector<PlacedTensor> tensors = {Place("w", 0, 0, DType::kU8, DType::kU8, 4)};
  Result<ExecutionStats> stats = Load(tensors, {path}, 1, 1 << 20, 1 << 20);

  EXPECT_ERROR(stats, ErrorId::kReadFailed, path);
  EXPECT_EQ(stats.status().code(), StatusCode::kNotFound);
}

// PlanLoad never puts more than IOV_MAX pieces in one read, but the read
// loop must still continue after a preadv that filled only some of them.
TEST(ExecutorTest, ReadLoopContinuesAfterPartialTransfer) {
  TempDir dir;
  std::mt19937 random(3);
  const size_t pieces = IOV_MAX + 300;
  const std::string bytes = RandomBytes(random, 3 * pieces + 1);
  const std::string path = dir.Join("pieces.bin");
  WriteFileBytes(path, bytes);

  std::vector<std::byte> destination(3 * pieces);
  LoadPlan plan;
  plan.tensors = {"pieces"};
  ReadTask task;
  task.offset = 1;
  task.length = destination.size();
  for (size_t i = 0; i < pieces; ++i) task.targets.push_back({destination.data() + 3 * i, 3, 0});
  plan.tasks.push_back(task);
  ThreadPool pool(1);

  Result<ExecutionStats> stats = ExecutePlan(plan, {path}, pool);

  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(std::memcmp(destination.data(), bytes.data() + 1, destination.size()), 0);
  EXPECT_EQ(stats->bytes_read, destination.size());
}

TEST(ExecutorTest, PoolSizeMustMatchPlan) {
  LoadPlan plan;
  plan.workers = 2;
  ThreadPool pool(3);

  EXPECT_ERROR(ExecutePlan(plan, {}, pool), ErrorId::kInternal, "made for 2 workers");
}

}  // namespace
}  // namespace safeckpt::internal
