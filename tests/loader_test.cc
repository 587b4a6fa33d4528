#include "safeckpt/loader.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cstdio>

#include <cmath>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "load/sha256.h"
#include "safeckpt/writer.h"
#include "support/test_support.h"

namespace safeckpt {
namespace {

using testing::TempDir;

// Destinations are pre-filled with this byte so untouched memory shows.
constexpr std::byte kUntouched{0xee};

std::vector<std::byte> Bytes(const void* data, size_t length) {
  std::vector<std::byte> bytes(length);
  std::memcpy(bytes.data(), data, length);
  return bytes;
}

// Values written to the checkpoint, in file byte order.
struct Source {
  std::string name;
  DType dtype;
  Shape shape;
  std::vector<std::byte> bytes;
};

std::vector<Source> DefaultSources() {
  const uint16_t embed[6] = {0x3f80, 0xc000, 0x3f00, 0x4040, 0x8000, 0x7f80};  // BF16
  const float norm[3] = {0.5f, -1.25f, 3.0f};
  const uint16_t mlp[4] = {0x3c00, 0x0001, 0xfc00, 0x7bff};  // F16
  const int32_t step[1] = {-7};
  const uint8_t extra[5] = {1, 2, 3, 4, 5};
  const uint8_t scale[4] = {0x38, 0x7e, 0x01, 0xb8};  // F8_E4M3: 1, 448, 2^-9, -1
  return {
      {"model.embed_tokens.weight", DType::kBF16, {2, 3}, Bytes(embed, sizeof embed)},
      {"model.norm.weight", DType::kF32, {3}, Bytes(norm, sizeof norm)},
      {"model.layers.0.mlp.weight", DType::kF16, {2, 2}, Bytes(mlp, sizeof mlp)},
      {"model.step", DType::kI32, {1}, Bytes(step, sizeof step)},
      {"model.layers.0.attn._extra_state", DType::kU8, {5}, Bytes(extra, sizeof extra)},
      {"model.scale", DType::kF8_E4M3, {4}, Bytes(scale, sizeof scale)},
  };
}

class LoaderTest : public ::testing::Test {
 protected:
  void SetUp() override { sources_ = DefaultSources(); }

  // Writes the sources into one file and opens it.
  Checkpoint WriteAndOpen() {
    std::vector<TensorToWrite> tensors;
    for (const Source& source : sources_) {
      tensors.push_back({source.name, source.dtype, source.shape, source.bytes.data()});
    }
    path_ = dir_.Join("model.safetensors");
    Status written = WriteSafetensors(path_, tensors);
    EXPECT_TRUE(written.ok()) << written.ToString();
    Result<Checkpoint> checkpoint = Checkpoint::Open(path_);
    EXPECT_TRUE(checkpoint.ok()) << checkpoint.status().ToString();
    return std::move(checkpoint).value();
  }

  const Source& SourceNamed(const std::string& name) const {
    for (const Source& source : sources_) {
      if (source.name == name) return source;
    }
    ADD_FAILURE() << "no source " << name;
    return sources_.front();
  }

  // Adds an expected tensor with destination memory owned by the test.
  void Expect(const std::string& name, DType dtype, Shape shape,
              TensorRole role = TensorRole::kParameter, std::string tied_to = "") {
    std::vector<std::byte>& storage = storage_[name];
    storage.assign(ByteSize(dtype, shape).value_or(0), kUntouched);

    ExpectedTensor tensor;
    tensor.name = name;
    tensor.dtype = dtype;
    tensor.shape = std::move(shape);
    tensor.role = role;
    tensor.tied_to = std::move(tied_to);
    tensor.data = storage.data();
    tensor.data_bytes = storage.size();
    Status added = model_.Add(std::move(tensor));
    ASSERT_TRUE(added.ok()) << added.ToString();
  }

  // Expects every source tensor in its own dtype.
  void ExpectAllSources() {
    for (const Source& source : sources_) {
      const TensorRole role = source.name.ends_with("_extra_state") ? TensorRole::kBookkeeping
                                                                    : TensorRole::kParameter;
      Expect(source.name, source.dtype, source.shape, role);
    }
  }

  template <typename T>
  std::vector<T> Loaded(const std::string& name) const {
    const std::vector<std::byte>& storage = storage_.at(name);
    std::vector<T> values(storage.size() / sizeof(T));
    std::memcpy(values.data(), storage.data(), values.size() * sizeof(T));
    return values;
  }

  Result<LoadReport> Load(LoadOptions options = {}) {
    if (options.threads == 0) options.threads = 2;
    return LoadCheckpoint(checkpoint_, model_, options);
  }

  TempDir dir_;
  std::string path_;
  std::vector<Source> sources_;
  Checkpoint checkpoint_;
  ModelState model_;
  std::map<std::string, std::vector<std::byte>> storage_;
};

TEST_F(LoaderTest, LoadsEveryTensorInItsOwnDType) {
  checkpoint_ = WriteAndOpen();
  ExpectAllSources();

  Result<LoadReport> report = Load();

  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->data_read);
  EXPECT_FALSE(report->rejected);
  for (const Source& source : sources_) {
    EXPECT_EQ(storage_[source.name], source.bytes) << source.name;
  }
}

TEST_F(LoaderTest, ReportsBytesAndThreads) {
  checkpoint_ = WriteAndOpen();
  ExpectAllSources();
  uint64_t total = 0;
  for (const Source& source : sources_) total += source.bytes.size();

  LoadOptions options;
  options.threads = 3;
  Result<LoadReport> report = Load(options);

  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->read.bytes, total);
  EXPECT_EQ(report->plan.bytes, total);
  EXPECT_EQ(report->convert.bytes, 0u);
  EXPECT_EQ(report->threads, 3u);
  EXPECT_GE(report->read.seconds, 0.0);
}

TEST_F(LoaderTest, ConvertsToWiderDTypes) {
  checkpoint_ = WriteAndOpen();
  Expect("model.embed_tokens.weight", DType::kF32, {2, 3});
  Expect("model.layers.0.mlp.weight", DType::kF64, {2, 2});
  Expect("model.scale", DType::kF32, {4});
  Expect("model.step", DType::kI64, {1});

  Result<LoadReport> report = Load();

  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(Loaded<float>("model.embed_tokens.weight"),
            (std::vector<float>{1.0f, -2.0f, 0.5f, 3.0f, -0.0f, INFINITY}));
  EXPECT_TRUE(std::signbit(Loaded<float>("model.embed_tokens.weight")[4]));
  EXPECT_EQ(Loaded<double>("model.layers.0.mlp.weight"),
            (std::vector<double>{1.0, std::ldexp(1.0, -24), -INFINITY, 65504.0}));
  EXPECT_EQ(Loaded<float>("model.scale"),
            (std::vector<float>{1.0f, 448.0f, std::ldexp(1.0f, -9), -1.0f}));
  EXPECT_EQ(Loaded<int64_t>("model.step"), (std::vector<int64_t>{-7}));
  EXPECT_EQ(report->convert.bytes, 12u + 8u + 4u + 4u);
  EXPECT_EQ(report->conversions.size(), 4u);
}

TEST_F(LoaderTest, NarrowsF32ToBF16) {
  checkpoint_ = WriteAndOpen();
  Expect("model.norm.weight", DType::kBF16, {3});

  Result<LoadReport> report = Load();

  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(Loaded<uint16_t>("model.norm.weight"), (std::vector<uint16_t>{0x3f00, 0xbfa0, 0x4040}));
}

TEST_F(LoaderTest, TiedTensorReadsItsSource) {
  checkpoint_ = WriteAndOpen();
  Expect("model.embed_tokens.weight", DType::kBF16, {2, 3});
  Expect("lm_head.weight", DType::kF32, {2, 3}, TensorRole::kParameter,
         "model.embed_tokens.weight");

  Result<LoadReport> report = Load();

  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(Loaded<float>("lm_head.weight"),
            (std::vector<float>{1.0f, -2.0f, 0.5f, 3.0f, -0.0f, INFINITY}));
  EXPECT_EQ(storage_["model.embed_tokens.weight"], SourceNamed("model.embed_tokens.weight").bytes);
  ASSERT_EQ(report->tied.size(), 1u);
  EXPECT_EQ(report->tied[0].name, "lm_head.weight");
}

TEST_F(LoaderTest, BookkeepingCopiedAsRawBytes) {
  checkpoint_ = WriteAndOpen();
  // I8 from U8 is no supported conversion, but bookkeeping bytes are copied
  // as they are.
  Expect("model.layers.0.attn._extra_state", DType::kI8, {5}, TensorRole::kBookkeeping);

  Result<LoadReport> report = Load();

  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(storage_["model.layers.0.attn._extra_state"],
            SourceNamed("model.layers.0.attn._extra_state").bytes);
  EXPECT_EQ(report->bookkeeping_loaded, (std::vector<std::string>{"model.layers.0.attn._extra_state"}));
}

TEST_F(LoaderTest, PolicyRejectionReadsNothing) {
  checkpoint_ = WriteAndOpen();
  Expect("model.norm.weight", DType::kF32, {3});
  Expect("model.absent.weight", DType::kF32, {3});

  LoadOptions options;
  options.policy = Policy::kStrict;
  Result<LoadReport> report = Load(options);

  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->rejected);
  EXPECT_FALSE(report->data_read);
  EXPECT_EQ(report->read.bytes, 0u);
  EXPECT_EQ(storage_["model.norm.weight"], std::vector<std::byte>(12, kUntouched));
}

TEST_F(LoaderTest, CheckWithoutDataReadsNothing) {
  checkpoint_ = WriteAndOpen();
  Expect("model.norm.weight", DType::kF32, {3});
  model_.mutable_tensors()[0].data = nullptr;
  model_.mutable_tensors()[0].data_bytes = 0;

  LoadOptions options;
  options.read_data = false;
  Result<LoadReport> report = Load(options);

  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_FALSE(report->data_read);
  EXPECT_EQ(report->loaded, (std::vector<std::string>{"model.norm.weight"}));
  EXPECT_EQ(report->read.bytes, 0u);
}

TEST_F(LoaderTest, UnsupportedConversionFails) {
  checkpoint_ = WriteAndOpen();
  Expect("model.step", DType::kF32, {1});

  Result<LoadReport> report = Load();

  EXPECT_ERROR(report, ErrorId::kUnsupportedConversion, path_);
  EXPECT_ERROR(report, ErrorId::kUnsupportedConversion, "tensor 'model.step'");
  EXPECT_ERROR(report, ErrorId::kUnsupportedConversion, "cannot convert I32 to F32");
  EXPECT_EQ(storage_["model.step"], std::vector<std::byte>(4, kUntouched));
}

TEST_F(LoaderTest, UnsupportedConversionFailsCheckToo) {
  checkpoint_ = WriteAndOpen();
  Expect("model.scale", DType::kF8_E5M2, {4});

  LoadOptions options;
  options.read_data = false;
  Result<LoadReport> report = Load(options);

  EXPECT_ERROR(report, ErrorId::kUnsupportedConversion, "cannot convert F8_E4M3 to F8_E5M2");
}

TEST_F(LoaderTest, WrongDestinationSizeFails) {
  checkpoint_ = WriteAndOpen();
  Expect("model.norm.weight", DType::kF32, {3});
  model_.mutable_tensors()[0].data_bytes = 8;

  Result<LoadReport> report = Load();

  EXPECT_ERROR(report, ErrorId::kDestinationInvalid, "tensor 'model.norm.weight'");
  EXPECT_ERROR(report, ErrorId::kDestinationInvalid, "destination has 8 bytes");
  EXPECT_ERROR(report, ErrorId::kDestinationInvalid, "needs 12 bytes");
}

TEST_F(LoaderTest, NullDestinationFails) {
  checkpoint_ = WriteAndOpen();
  Expect("model.norm.weight", DType::kF32, {3});
  model_.mutable_tensors()[0].data = nullptr;

  Result<LoadReport> report = Load();

  EXPECT_ERROR(report, ErrorId::kDestinationInvalid, "destination memory is null");
}

TEST_F(LoaderTest, ChecksumsMatchExpectedBytes) {
  checkpoint_ = WriteAndOpen();
  Expect("model.norm.weight", DType::kF32, {3});
  Expect("model.embed_tokens.weight", DType::kF32, {2, 3});

  LoadOptions options;
  options.checksums = true;
  Result<LoadReport> report = Load(options);

  ASSERT_TRUE(report.ok()) << report.status().ToString();
  const std::vector<std::byte>& norm = SourceNamed("model.norm.weight").bytes;
  const float embed[6] = {1.0f, -2.0f, 0.5f, 3.0f, -0.0f, INFINITY};
  ASSERT_EQ(report->checksums.size(), 2u);
  EXPECT_EQ(report->checksums["model.norm.weight"],
            internal::Sha256Hex(norm.data(), norm.size()).value());
  EXPECT_EQ(report->checksums["model.embed_tokens.weight"],
            internal::Sha256Hex(embed, sizeof embed).value());
}

TEST_F(LoaderTest, ZeroThreadsUsesEveryCore) {
  checkpoint_ = WriteAndOpen();
  Expect("model.norm.weight", DType::kF32, {3});

  LoadOptions options;
  Result<LoadReport> report = LoadCheckpoint(checkpoint_, model_, options);

  ASSERT_TRUE(report.ok()) << report.status().ToString();
  const unsigned cores = std::thread::hardware_concurrency();
  EXPECT_EQ(report->threads, cores > 0 ? cores : 1u);
}

TEST_F(LoaderTest, TruncatedAfterOpenFails) {
  checkpoint_ = WriteAndOpen();
  ExpectAllSources();
  const std::string bytes = testing::ReadFileBytes(path_);
  testing::WriteFileBytes(path_, bytes.substr(0, bytes.size() - 3));

  Result<LoadReport> report = Load();

  EXPECT_ERROR(report, ErrorId::kFileChanged, path_);
  EXPECT_ERROR(report, ErrorId::kFileChanged, "size changed");
}

TEST_F(LoaderTest, FileReplacedAfterOpenFails) {
  checkpoint_ = WriteAndOpen();
  ExpectAllSources();
  // Same size, other inode: what an editor's save or a new download does.
  const std::string bytes = testing::ReadFileBytes(path_);
  const std::string replacement = path_ + ".new";
  testing::WriteFileBytes(replacement, bytes);
  ASSERT_EQ(std::rename(replacement.c_str(), path_.c_str()), 0);

  Result<LoadReport> report = Load();

  EXPECT_ERROR(report, ErrorId::kFileChanged, path_);
  EXPECT_ERROR(report, ErrorId::kFileChanged, "open the checkpoint again");
}

// A write in place keeps the inode and the size, so only the modification
// time changes. The toucher starts once the load is under way and keeps
// bumping the time, so the change lands while the 256 MiB are being read.
TEST_F(LoaderTest, ModifiedWhileReadingFails) {
  constexpr uint64_t kBytes = 256ull << 20;
  sources_ = {{"big", DType::kU8, {kBytes}, std::vector<std::byte>(kBytes)}};
  checkpoint_ = WriteAndOpen();
  ExpectAllSources();

  std::atomic<bool> done{false};
  std::thread toucher([&] {
    for (int64_t second = 1; !done; ++second) {
      const struct timespec times[2] = {{0, UTIME_OMIT}, {second, 0}};
      ::utimensat(AT_FDCWD, path_.c_str(), times, 0);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  LoadOptions options;
  options.threads = 1;
  Result<LoadReport> report = Load(options);
  done = true;
  toucher.join();

  EXPECT_ERROR(report, ErrorId::kFileChanged, "was modified");
}

TEST_F(LoaderTest, ShardedCheckpointLoads) {
  const std::vector<Source>& sources = sources_;
  std::vector<TensorToWrite> first = {{sources[0].name, sources[0].dtype, sources[0].shape, sources[0].bytes.data()},
                                      {sources[1].name, sources[1].dtype, sources[1].shape, sources[1].bytes.data()}};
  std::vector<TensorToWrite> second = {{sources[2].name, sources[2].dtype, sources[2].shape, sources[2].bytes.data()}};
  ASSERT_TRUE(WriteSafetensors(dir_.Join("model-00001-of-00002.safetensors"), first).ok());
  ASSERT_TRUE(WriteSafetensors(dir_.Join("model-00002-of-00002.safetensors"), second).ok());
  testing::WriteFileBytes(
      dir_.Join("model.safetensors.index.json"),
      R"({"metadata": {"total_size": 32}, "weight_map": {
           "model.embed_tokens.weight": "model-00001-of-00002.safetensors",
           "model.norm.weight": "model-00001-of-00002.safetensors",
           "model.layers.0.mlp.weight": "model-00002-of-00002.safetensors"}})");
  Result<Checkpoint> opened = Checkpoint::Open(dir_.path());
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  checkpoint_ = std::move(opened).value();
  Expect("model.embed_tokens.weight", DType::kF32, {2, 3});
  Expect("model.norm.weight", DType::kF32, {3});
  Expect("model.layers.0.mlp.weight", DType::kF16, {2, 2});

  Result<LoadReport> report = Load();

  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(Loaded<float>("model.embed_tokens.weight")[3], 3.0f);
  EXPECT_EQ(storage_["model.norm.weight"], sources[1].bytes);
  EXPECT_EQ(storage_["model.layers.0.mlp.weight"], sources[2].bytes);
}

}  // namespace
}  // namespace safeckpt
