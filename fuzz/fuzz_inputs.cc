#include "fuzz_inputs.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <vector>

#include "checkpoint_framing.h"
#include "safeckpt/checkpoint.h"
#include "safeckpt/dtype.h"
#include "safeckpt/load_report.h"
#include "safeckpt/loader.h"
#include "safeckpt/manifest.h"
#include "safeckpt/safetensors.h"

namespace safeckpt::fuzz {
namespace {

// Reports a broken invariant and stops, so that libFuzzer saves the input.
[[noreturn]] void Fail(const std::string& message) {
  std::fprintf(stderr, "safeckpt fuzz: invariant broken: %s\n", message.c_str());
  std::abort();
}

// The format rules an accepted header must satisfy (docs/format.md): data
// inside the file, ranges in order and back to back, each range as long as
// its dtype and shape need.
void CheckAcceptedHeader(const SafetensorsHeader& header, uint64_t file_size) {
  if (header.file_size != file_size || header.data_start() > file_size) {
    Fail("accepted a header whose length " + std::to_string(header.header_length) +
         " does not fit a file of " + std::to_string(file_size) + " bytes");
  }
  uint64_t expected_begin = 0;
  for (const TensorInfo& tensor : header.tensors) {
    if (tensor.data_begin != expected_begin || tensor.data_end < tensor.data_begin) {
      Fail("accepted tensor '" + tensor.name + "' at [" + std::to_string(tensor.data_begin) +
           ", " + std::to_string(tensor.data_end) + ") where the data should start at " +
           std::to_string(expected_begin));
    }
    std::optional<uint64_t> size = ByteSize(tensor.dtype, tensor.shape);
    if (!size || *size != tensor.nbytes()) {
      Fail("accepted tensor '" + tensor.name + "' whose range of " +
           std::to_string(tensor.nbytes()) + " bytes does not match its dtype and shape");
    }
    expected_begin = tensor.data_end;
  }
  if (header.data_start() + expected_begin != file_size) {
    Fail("accepted a header whose data ends at " + std::to_string(expected_begin) +
         " in a data section of " + std::to_string(file_size - header.data_start()) + " bytes");
  }
}

// Formats `manifest` and parses it again; both must keep every tensor.
void CheckManifestRoundTrip(const Manifest& manifest) {
  std::string text = FormatManifest(manifest);
  Result<Manifest> reparsed = ParseManifest(text, "formatted manifest");
  if (!reparsed.ok()) {
    Fail("a formatted manifest does not parse: " + reparsed.status().message() + "\n" + text);
  }
  if (reparsed->model.size() != manifest.model.size()) {
    Fail("a formatted manifest of " + std::to_string(manifest.model.size()) +
         " tensors parses to " + std::to_string(reparsed->model.size()));
  }
}

// Writes `bytes` to `path`, replacing it. A failure here is the harness's,
// not the library's, so it stops the run.
void WriteFileOrDie(const std::string& path, std::string_view bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) Fail("cannot create " + path + ": " + std::strerror(errno));
  while (!bytes.empty()) {
    ssize_t written = ::write(fd, bytes.data(), bytes.size());
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) Fail("cannot write " + path + ": " + std::strerror(errno));
    bytes.remove_prefix(static_cast<size_t>(written));
  }
  ::close(fd);
}

void RemoveFileOrDie(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    Fail("cannot remove " + path + ": " + std::strerror(errno));
  }
}

// Replaces the previous input's files in `directory` with this input's.
void WriteFramedCheckpoint(const FramedCheckpoint& framed, const std::string& directory) {
  std::string index_path = directory + "/" + std::string(kIndexFileName);
  RemoveFileOrDie(index_path);
  for (size_t i = 0; i < kMaxShards; ++i) {
    RemoveFileOrDie(directory + "/" + std::string(kShardNames[i]));
  }

  if (framed.Has(kWriteIndex)) WriteFileOrDie(index_path, framed.index_text);
  for (size_t i = 0; i < framed.shards.size(); ++i) {
    WriteFileOrDie(directory + "/" + std::string(kShardNames[i]), framed.shards[i]);
  }
}

// The input bytes of the checkpoint file named `name`.
std::string_view ShardBytes(const FramedCheckpoint& framed, std::string_view name) {
  for (size_t i = 0; i < framed.shards.size(); ++i) {
    if (name == kShardNames[i] || name.ends_with("/" + std::string(kShardNames[i]))) {
      return framed.shards[i];
    }
  }
  Fail("the checkpoint lists file '" + std::string(name) + "', which the input did not write");
}

// With the checkpoint's own manifest every tensor with a name matches: none
// missing, no shape differs, and only unnamed tensors (which a manifest
// cannot list) are unexpected.
void CheckExactMatch(const LoadReport& report) {
  if (!report.missing.empty()) Fail("the exact manifest has missing tensors: " + report.missing[0]);
  if (!report.shape_mismatches.empty()) {
    Fail("the exact manifest has a shape mismatch: " + report.shape_mismatches[0].name);
  }
  if (!report.conversions.empty()) {
    Fail("the exact manifest needs a conversion: " + report.conversions[0].name);
  }
  for (const std::string& name : report.unexpected) {
    if (!name.empty()) Fail("the exact manifest leaves tensor '" + name + "' unexpected");
  }
}

// Reconciles without reading data, as `safeckpt check` does, and formats
// both reports.
Status RunCheck(const Checkpoint& checkpoint, Manifest& manifest) {
  LoadOptions options;
  options.read_data = false;
  options.threads = 1;
  Result<LoadReport> report = LoadCheckpoint(checkpoint, manifest.model, options);
  if (!report.ok()) return report.status();

  CheckExactMatch(*report);
  std::string text = FormatReportText(*report);
  std::string json = FormatReportJson(*report);
  if (text.empty() || json.empty()) Fail("a report formatted to nothing");
  return Status::Ok();
}

// Loads every tensor into one buffer and compares it with the input's bytes.
Status RunLoad(const Checkpoint& checkpoint, Manifest& manifest, const FramedCheckpoint& framed) {
  if (checkpoint.tensor_bytes() > kMaxLoadBytes) return Status::Ok();
  std::vector<uint8_t> buffer(checkpoint.tensor_bytes());
  uint64_t offset = 0;
  for (ExpectedTensor& tensor : manifest.model.mutable_tensors()) {
    tensor.data_bytes = ByteSize(tensor.dtype, tensor.LocalShape()).value_or(0);
    tensor.data = buffer.data() + offset;
    offset += tensor.data_bytes;
  }

  LoadOptions options;
  options.threads = 1;
  Result<LoadReport> report = LoadCheckpoint(checkpoint, manifest.model, options);
  if (!report.ok()) return report.status();
  CheckExactMatch(*report);

  for (const ExpectedTensor& tensor : manifest.model.tensors()) {
    const CheckpointTensor* source = checkpoint.Find(tensor.name);
    std::string_view file = ShardBytes(framed, checkpoint.files()[source->file].name);
    if (source->offset + source->nbytes > file.size() ||
        file.compare(source->offset, source->nbytes,
                     std::string_view(static_cast<const char*>(tensor.data), tensor.data_bytes)) !=
            0) {
      Fail("tensor '" + tensor.name + "' loaded bytes that differ from its file's");
    }
  }
  return Status::Ok();
}

}  // namespace

Status RunHeaderInput(std::string_view bytes) {
  Result<SafetensorsHeader> header = ParseSafetensorsHeader(bytes, bytes.size(), "fuzz.safetensors");
  if (!header.ok()) return header.status();
  CheckAcceptedHeader(*header, bytes.size());
  return Status::Ok();
}

Status RunIndexInput(std::string_view text) {
  return ParseCheckpointIndex(text, kIndexFileName).status();
}

Status RunManifestInput(std::string_view text) {
  Result<Manifest> manifest = ParseManifest(text, "fuzz-manifest.json");
  if (!manifest.ok()) return manifest.status();
  CheckManifestRoundTrip(*manifest);
  return Status::Ok();
}

Status RunCheckpointInput(std::string_view input, const std::string& directory) {
  FramedCheckpoint framed = SplitFramedInput(input);
  WriteFramedCheckpoint(framed, directory);

  std::string path = directory;
  if (framed.Has(kOpenFile)) path += "/" + std::string(kShardNames[0]);
  OpenOptions options;
  options.strict_index = framed.Has(kStrictIndex);
  Result<Checkpoint> checkpoint = Checkpoint::Open(path, options);
  if (!checkpoint.ok()) return checkpoint.status();

  Manifest manifest = ManifestFromCheckpoint(*checkpoint);
  CheckManifestRoundTrip(manifest);
  Status checked = RunCheck(*checkpoint, manifest);
  if (!checked.ok() || !framed.Has(kLoadData)) return checked;
  return RunLoad(*checkpoint, manifest, framed);
}

}  // namespace safeckpt::fuzz
