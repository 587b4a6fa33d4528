// Generates a large BF16 checkpoint for the load benchmark, with two
// manifests: bf16.json (same dtype, direct reads) and f32.json (BF16 to F32
// conversion). Tensors are written one at a time from one reused buffer, so
// generating a checkpoint of many GiB needs little memory.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "core/json_writer.h"
#include "io/file.h"
#include "safeckpt/manifest.h"
#include "safeckpt/writer.h"

namespace {

namespace fs = std::filesystem;

safeckpt::Status WriteText(const fs::path& path, const std::string& text) {
  SAFECKPT_ASSIGN_OR_RETURN(safeckpt::internal::AtomicFileWriter writer,
                            safeckpt::internal::AtomicFileWriter::Create(path.string()));
  SAFECKPT_RETURN_IF_ERROR(writer.Append(text.data(), text.size()));
  return writer.Commit();
}

std::string ShardName(uint64_t shard, uint64_t shards) {
  return fmt::format("model-{:05d}-of-{:05d}.safetensors", shard + 1, shards);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Generate a BF16 checkpoint of a given size for benchmarks."};
  std::string output;
  double gib = 2.0;
  uint64_t shards = 4;
  uint64_t tensor_mib = 32;
  app.add_option("output_dir", output, "Directory to create")->required();
  app.add_option("--gib", gib, "Total tensor data in GiB (default 2)");
  app.add_option("--shards", shards, "Number of shard files (default 4)")->check(CLI::Range(1, 1000));
  app.add_option("--tensor-mib", tensor_mib, "Size of each tensor in MiB (default 32)")
      ->check(CLI::Range(1, 4096));
  CLI11_PARSE(app, argc, argv);

  const uint64_t hidden = 4096;
  const uint64_t rows = tensor_mib * (1ull << 20) / (hidden * 2);
  const uint64_t tensor_bytes = rows * hidden * 2;
  const uint64_t total = static_cast<uint64_t>(gib * (1ull << 30));
  const uint64_t tensor_count = (total + tensor_bytes - 1) / tensor_bytes;
  const uint64_t per_shard = (tensor_count + shards - 1) / shards;

  std::vector<uint16_t> buffer(rows * hidden);
  for (size_t i = 0; i < buffer.size(); ++i) {
    buffer[i] = static_cast<uint16_t>(0x3c00 + (i * 2654435761u) % 0x0400);  // values in [0.0078, 0.0156)
  }

  std::error_code error;
  fs::create_directories(output, error);
  fs::path dir = fs::path(output) / "checkpoint";
  fs::create_directories(dir, error);

  safeckpt::Manifest bf16;
  safeckpt::Manifest f32;
  safeckpt::internal::JsonWriter index(2);
  index.BeginObject();
  index.Key("metadata");
  index.BeginObject();
  index.Key("total_size");
  index.Uint(tensor_count * tensor_bytes);
  index.EndObject();
  index.Key("weight_map");
  index.BeginObject();

  for (uint64_t shard = 0; shard < shards; ++shard) {
    std::vector<safeckpt::TensorToWrite> tensors;
    for (uint64_t t = shard * per_shard; t < std::min(tensor_count, (shard + 1) * per_shard); ++t) {
      std::string name = fmt::format("model.layers.{}.mlp.weight", t);
      tensors.push_back({name, safeckpt::DType::kBF16, {rows, hidden}, buffer.data()});
      index.Key(name);
      index.String(ShardName(shard, shards));
      safeckpt::ExpectedTensor expected;
      expected.name = name;
      expected.shape = {rows, hidden};
      expected.dtype = safeckpt::DType::kBF16;
      (void)bf16.model.Add(expected);
      expected.dtype = safeckpt::DType::kF32;
      (void)f32.model.Add(expected);
    }
    safeckpt::Status status =
        safeckpt::WriteSafetensors((dir / ShardName(shard, shards)).string(), tensors);
    if (!status.ok()) {
      std::fprintf(stderr, "safeckpt-make-bench: error: %s\n", status.message().c_str());
      return 1;
    }
  }
  index.EndObject();
  index.EndObject();

  safeckpt::Status status = WriteText(dir / "model.safetensors.index.json", index.Take() + "\n");
  if (status.ok()) status = WriteText(fs::path(output) / "bf16.json", safeckpt::FormatManifest(bf16));
  if (status.ok()) status = WriteText(fs::path(output) / "f32.json", safeckpt::FormatManifest(f32));
  if (!status.ok()) {
    std::fprintf(stderr, "safeckpt-make-bench: error: %s\n", status.message().c_str());
    return 1;
  }
  std::printf("wrote %llu tensors (%.2f GiB) in %llu shards to %s\n",
              static_cast<unsigned long long>(tensor_count),
              static_cast<double>(tensor_count * tensor_bytes) / (1ull << 30),
              static_cast<unsigned long long>(shards), dir.c_str());
  return 0;
}
