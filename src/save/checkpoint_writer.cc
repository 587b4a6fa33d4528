#include "save/checkpoint_writer.h"

#include <chrono>
#include <limits>
#include <filesystem>
#include <memory>
#include <set>
#include <thread>
#include <utility>

#include "format/quote.h"
#include "io/thread_pool.h"
#include "load/convert.h"
#include "save/checkpoint_transaction.h"
#include "save/shard_layout.h"

namespace safeckpt::internal {
namespace {

namespace fs = std::filesystem;

Status ValidateName(const std::string& name, std::set<std::string_view>& seen) {
  if (name == "__metadata__") {
    return InvalidArgument(ErrorId::kDuplicateName,
                           "a tensor cannot be named '__metadata__': the safetensors format reserves "
                           "that key for file metadata; rename the tensor (--rename)");
  }
  if (name.empty()) return InvalidArgument(ErrorId::kNameEmpty, "a tensor has an empty name");
  if (!seen.insert(name).second) {
    return InvalidArgument(ErrorId::kDuplicateName, "tensor " + Quote(name) + " is given twice");
  }
  return Status::Ok();
}

Status ValidateTensor(const OutputTensor& tensor) {
  std::optional<uint64_t> size = ByteSize(tensor.dtype, tensor.shape);
  if (!size) {
    return InvalidArgument(ErrorId::kShapeOverflow,
                           "tensor " + Quote(tensor.name) + ": shape " + FormatShape(tensor.shape) +
                               " of " + std::string(DTypeName(tensor.dtype)) +
                               " has no whole byte size");
  }
  if (*size > 0 && tensor.source.memory == nullptr && tensor.source.file == nullptr) {
    return InvalidArgument(ErrorId::kDestinationInvalid, "tensor " + Quote(tensor.name) + " has no data");
  }
  if (tensor.source.dtype != tensor.dtype) {
    SAFECKPT_RETURN_IF_ERROR(CheckConversion(tensor.source.dtype, tensor.dtype, tensor.name));
  }
  return Status::Ok();
}

Status ValidateTensors(const std::vector<OutputTensor>& tensors) {
  std::set<std::string_view> seen;
  for (const OutputTensor& tensor : tensors) {
    SAFECKPT_RETURN_IF_ERROR(ValidateName(tensor.name, seen));
    SAFECKPT_RETURN_IF_ERROR(ValidateTensor(tensor));
  }
  return Status::Ok();
}

Result<ShardPlan> Plan(const std::string& destination, const std::vector<OutputTensor>& tensors,
                       const ShardingOptions& sharding) {
  std::vector<LayoutTensor> layout;
  layout.reserve(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const OutputTensor& tensor = tensors[i];
    layout.push_back({tensor.name, tensor.dtype, tensor.shape, *ByteSize(tensor.dtype, tensor.shape), i, 0});
  }

  std::string single_file_name;
  if (IsSingleFileDestination(destination)) {
    if (!sharding.layout.empty()) {
      return InvalidArgument(ErrorId::kRuleInvalid,
                             "destination '" + destination + "' is one .safetensors file, so it "
                             "cannot follow a layout of several files; give a directory instead");
    }
    single_file_name = fs::path(destination).filename().string();
  }
  return PlanShards(std::move(layout), sharding, single_file_name);
}

// The header of each planned file, in plan order.
std::vector<std::string> BuildHeaders(const ShardPlan& plan, const Metadata& metadata) {
  WriteOptions header_options;
  header_options.metadata = PyTorchMetadata(metadata);
  std::vector<std::string> headers;
  for (const PlannedFile& file : plan.files) {
    std::vector<TensorToWrite> entries;
    for (const LayoutTensor& tensor : file.tensors) {
      entries.push_back({tensor.name, tensor.dtype, tensor.shape, nullptr});
    }
    headers.push_back(BuildSafetensorsHeader(entries, header_options));
  }
  return headers;
}

std::vector<CopyJob> BuildJobs(const ShardPlan& plan, const std::vector<std::string>& headers,
                               const std::vector<OutputTensor>& tensors,
                               std::vector<PendingFile>& files) {
  std::vector<CopyJob> jobs;
  for (size_t f = 0; f < plan.files.size(); ++f) {
    const std::string& header = headers[f];
    PendingFile& file = files[f];
    jobs.push_back({"", {header.data(), nullptr, 0, DType::kU8}, DType::kU8, header.size(),
                    header.size(), file.fd, &file.temp_path, 0});
    for (const LayoutTensor& placed : plan.files[f].tensors) {
      if (placed.nbytes == 0) continue;
      const OutputTensor& tensor = tensors[placed.source];
      jobs.push_back({tensor.name, tensor.source, tensor.dtype, *ElementCount(tensor.shape),
                      placed.nbytes, file.fd, &file.temp_path, header.size() + placed.data_begin});
    }
  }
  return jobs;
}

SaveSummary Summarize(const std::string& destination, const ShardPlan& plan,
                      const std::vector<std::string>& headers, bool replaced) {
  SaveSummary summary;
  summary.destination = destination;
  summary.has_index = plan.write_index;
  summary.replaced_existing = replaced;
  for (size_t f = 0; f < plan.files.size(); ++f) {
    const PlannedFile& file = plan.files[f];
    uint64_t size = headers[f].size() + file.tensor_bytes;
    summary.files.push_back({file.name, size, file.tensors.size(), file.tensor_bytes});
    summary.tensor_count += file.tensors.size();
    summary.tensor_bytes += file.tensor_bytes;
    summary.bytes_written += size;
  }
  return summary;
}

// Sum of header and tensor bytes of each file, or an error when a file
// would be larger than a file offset can address.
Result<std::vector<std::pair<std::string, uint64_t>>> FileSizes(
    const ShardPlan& plan, const std::vector<std::string>& headers) {
  constexpr uint64_t kMaxFileSize = static_cast<uint64_t>(std::numeric_limits<off_t>::max());
  std::vector<std::pair<std::string, uint64_t>> sizes;
  for (size_t f = 0; f < plan.files.size(); ++f) {
    uint64_t size = 0;
    if (__builtin_add_overflow(headers[f].size(), plan.files[f].tensor_bytes, &size) ||
        size > kMaxFileSize) {
      return InvalidArgument(ErrorId::kShapeOverflow,
                             "file " + Quote(plan.files[f].name) + " would exceed " +
                                 std::to_string(kMaxFileSize) + " bytes; use a smaller shard size");
    }
    sizes.emplace_back(plan.files[f].name, size);
  }
  return sizes;
}

uint32_t ThreadCount(uint32_t requested) {
  if (requested > 0) return requested;
  return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace

Metadata PyTorchMetadata(const Metadata& metadata) {
  Metadata result = {{"format", "pt"}};
  for (const auto& entry : metadata) {
    if (entry.first != "format") result.push_back(entry);
  }
  return result;
}

bool IsSingleFileDestination(const std::string& destination) {
  std::error_code error;
  return destination.ends_with(".safetensors") && !fs::is_directory(destination, error);
}

Result<SaveSummary> WriteCheckpoint(const std::string& destination,
                                    const std::vector<OutputTensor>& tensors,
                                    const SaveOptions& options, const WriteTuning& tuning) {
  auto start = std::chrono::steady_clock::now();
  SAFECKPT_RETURN_IF_ERROR(ValidateTensors(tensors));
  SAFECKPT_ASSIGN_OR_RETURN(ShardPlan plan, Plan(destination, tensors, options.sharding));
  std::vector<std::string> headers = BuildHeaders(plan, options.metadata);
  SAFECKPT_ASSIGN_OR_RETURN(auto sizes, FileSizes(plan, headers));

  SAFECKPT_ASSIGN_OR_RETURN(
      std::unique_ptr<CheckpointTransaction> transaction,
      CheckpointTransaction::Begin(destination, IsSingleFileDestination(destination), sizes,
                                   options.overwrite, options.logger));
  SAFECKPT_RETURN_IF_ERROR(transaction->CreateFiles(tuning.reserve_space));

  ThreadPool pool(ThreadCount(options.threads));
  std::vector<CopyJob> jobs = BuildJobs(plan, headers, tensors, transaction->files());
  SAFECKPT_RETURN_IF_ERROR(RunCopyJobs(jobs, pool, options.buffer_bytes).status());
  SAFECKPT_RETURN_IF_ERROR(pool.Run(plan.files.size(), [&](size_t file, uint32_t) {
    return transaction->SyncFile(file);
  }));

  SAFECKPT_RETURN_IF_ERROR(transaction->RenameFiles());
  if (plan.write_index) SAFECKPT_RETURN_IF_ERROR(transaction->WriteIndex(BuildIndexJson(plan)));
  SAFECKPT_RETURN_IF_ERROR(transaction->Commit());

  SaveSummary summary = Summarize(destination, plan, headers, transaction->replaces_existing());
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace safeckpt::internal
