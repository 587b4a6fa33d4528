// Concurrent loads of one checkpoint: eight `safeckpt load` processes at
// once, and sixteen threads of one process calling LoadCheckpoint on one
// shared Checkpoint. Every load must match a single load exactly.
#include <gtest/gtest.h>

#include <latch>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "safeckpt/checkpoint.h"
#include "safeckpt/loader.h"
#include "safeckpt/manifest.h"
#include "safeckpt/writer.h"
#include "support/test_support.h"

namespace safeckpt {
namespace {

using testing::CommandResult;
using testing::ShellQuote;
using testing::TempDir;

constexpr int kProcesses = 8;
constexpr int kThreads = 16;

// A tensor to write, with its bytes.
struct SourceTensor {
  std::string name;
  DType dtype;
  Shape shape;
  std::vector<char> bytes;
};

// About 3 MiB in 24 tensors of five dtypes, random bytes from a fixed seed.
std::vector<SourceTensor> SourceTensors() {
  std::mt19937_64 random(42);
  const DType dtypes[] = {DType::kBF16, DType::kF32, DType::kF16, DType::kI64, DType::kU8};
  std::vector<SourceTensor> tensors;
  for (int layer = 0; layer < 24; ++layer) {
    DType dtype = dtypes[layer % std::size(dtypes)];
    Shape shape = {static_cast<uint64_t>(64 + layer), 512};
    std::vector<char> bytes(*ByteSize(dtype, shape));
    for (char& byte : bytes) byte = static_cast<char>(random());
    tensors.push_back({"model.layers." + std::to_string(layer) + ".weight", dtype, shape,
                       std::move(bytes)});
  }
  return tensors;
}

// Writes the source tensors as a checkpoint of several shards with an index.
std::string WriteShardedCheckpoint(const TempDir& dir) {
  std::vector<SourceTensor> sources = SourceTensors();
  std::vector<TensorToWrite> tensors;
  for (const SourceTensor& source : sources) {
    tensors.push_back({source.name, source.dtype, source.shape, source.bytes.data()});
  }
  SaveOptions options;
  options.sharding.max_shard_bytes = 1 << 20;
  std::string path = dir.Join("checkpoint");
  Result<SaveSummary> saved = SaveCheckpoint(path, tensors, options);
  EXPECT_TRUE(saved.ok()) << saved.status().ToString();
  EXPECT_GE(saved.ok() ? saved->files.size() : 0, 3u);
  return path;
}

// The manifest matching `checkpoint`, except that BF16 tensors are expected
// as F32, so loads also run dtype conversions.
Manifest ConvertingManifest(const Checkpoint& checkpoint) {
  Manifest manifest = ManifestFromCheckpoint(checkpoint);
  for (ExpectedTensor& tensor : manifest.model.mutable_tensors()) {
    if (tensor.dtype == DType::kBF16) tensor.dtype = DType::kF32;
  }
  return manifest;
}

// One library load into memory of its own.
struct LibraryLoad {
  Result<LoadReport> report = Status(StatusCode::kFailedPrecondition, ErrorId::kInternal, "not run");
  std::map<std::string, std::vector<char>> bytes;
};

LibraryLoad Load(const Checkpoint& checkpoint, const ModelState& expected) {
  LibraryLoad load;
  ModelState model;
  for (ExpectedTensor tensor : expected.tensors()) {
    std::vector<char>& storage = load.bytes[tensor.name];
    storage.assign(*ByteSize(tensor.dtype, tensor.shape), '\0');
    tensor.data = storage.data();
    tensor.data_bytes = storage.size();
    Status added = model.Add(std::move(tensor));
    EXPECT_TRUE(added.ok()) << added.ToString();
  }
  LoadOptions options;
  options.threads = 2;
  options.checksums = true;
  load.report = LoadCheckpoint(checkpoint, model, options);
  return load;
}

std::vector<std::string> ConversionNames(const LoadReport& report) {
  std::vector<std::string> names;
  for (const DTypeConversion& conversion : report.conversions) {
    names.push_back(conversion.name + ": " + std::string(DTypeName(conversion.from)) + " to " +
                    std::string(DTypeName(conversion.to)));
  }
  return names;
}

// Zeroes the timings of a JSON load report, because they differ between runs.
// (std::regex is avoided: GCC 12 warns inside it when building with
// sanitizers.)
std::string WithoutTimings(std::string report) {
  for (std::string_view key : {"\"seconds\": ", "\"gib_per_second\": "}) {
    for (size_t at = report.find(key); at != std::string::npos; at = report.find(key, at)) {
      size_t begin = at + key.size();
      size_t end = report.find_first_of(",}\n", begin);
      report.replace(begin, end - begin, "0");
      at = begin;
    }
  }
  return report;
}

TEST(ConcurrentLoadTest, SixteenThreadsLoadTheSameBytes) {
  TempDir dir;
  Result<Checkpoint> checkpoint = Checkpoint::Open(WriteShardedCheckpoint(dir));
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status().ToString();
  Manifest manifest = ConvertingManifest(*checkpoint);

  LibraryLoad single = Load(*checkpoint, manifest.model);
  ASSERT_TRUE(single.report.ok()) << single.report.status().ToString();
  ASSERT_EQ(single.report->loaded.size(), manifest.model.size());
  ASSERT_FALSE(single.report->conversions.empty());

  std::vector<LibraryLoad> loads(kThreads);
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (LibraryLoad& load : loads) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      load = Load(*checkpoint, manifest.model);
    });
  }
  for (std::thread& thread : threads) thread.join();

  for (int i = 0; i < kThreads; ++i) {
    SCOPED_TRACE("thread " + std::to_string(i));
    const LibraryLoad& load = loads[i];
    ASSERT_TRUE(load.report.ok()) << load.report.status().ToString();
    EXPECT_EQ(load.report->loaded, single.report->loaded);
    EXPECT_EQ(ConversionNames(*load.report), ConversionNames(*single.report));
    EXPECT_EQ(load.report->checksums, single.report->checksums);
    EXPECT_EQ(load.report->read.bytes, single.report->read.bytes);
    EXPECT_EQ(load.report->rank.bytes_read_per_file.size(),
              single.report->rank.bytes_read_per_file.size());
    EXPECT_TRUE(load.bytes == single.bytes) << "loaded bytes differ from a single load";
  }
}

TEST(ConcurrentLoadTest, EightProcessesPrintTheSameReport) {
  TempDir dir;
  std::string checkpoint_path = WriteShardedCheckpoint(dir);
  Result<Checkpoint> checkpoint = Checkpoint::Open(checkpoint_path);
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status().ToString();
  std::string manifest_path = dir.Join("manifest.json");
  testing::WriteFileBytes(manifest_path, FormatManifest(ConvertingManifest(*checkpoint)));

  std::string load = ShellQuote(testing::SafeckptBinary()) + " load " +
                     ShellQuote(checkpoint_path) + " --model " + ShellQuote(manifest_path) +
                     " --checksums --format json --threads 2";
  CommandResult single = testing::RunCommand(load);
  ASSERT_EQ(single.exit_code, 0) << single.err;
  ASSERT_NE(single.out.find("\"checksums\""), std::string::npos) << single.out;

  // Starts every process before waiting for any. Each writes its report,
  // messages and exit code to files of its own.
  std::string script;
  for (int i = 0; i < kProcesses; ++i) {
    std::string prefix = ShellQuote(dir.Join("process-" + std::to_string(i)));
    script += "(" + load + " >" + prefix + ".out 2>" + prefix + ".err; echo $? >" + prefix +
              ".code) & ";
  }
  CommandResult all = testing::RunCommand(script + "wait");
  ASSERT_EQ(all.exit_code, 0) << all.err;

  for (int i = 0; i < kProcesses; ++i) {
    SCOPED_TRACE("process " + std::to_string(i));
    std::string prefix = dir.Join("process-" + std::to_string(i));
    EXPECT_EQ(testing::ReadFileBytes(prefix + ".code"), "0\n");
    EXPECT_EQ(testing::ReadFileBytes(prefix + ".err"), "");
    EXPECT_EQ(WithoutTimings(testing::ReadFileBytes(prefix + ".out")), WithoutTimings(single.out));
  }
}

}  // namespace
}  // namespace safeckpt
