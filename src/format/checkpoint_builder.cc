#include "format/checkpoint_builder.h"

#include <algorithm>

#include "format/quote.h"

namespace safeckpt {

CheckpointBuilder::CheckpointBuilder(std::string path, bool has_index, Logger* logger)
    : logger_(logger != nullptr ? logger : NullLogger()) {
  checkpoint_.path_ = std::move(path);
  checkpoint_.has_index_ = has_index;
}

uint32_t CheckpointBuilder::AddFile(std::string name, std::string path,
                                    const internal::HeaderOfFile& read) {
  CheckpointFile file;
  file.path = std::move(path);
  file.name = std::move(name);
  file.size = read.header.file_size;
  file.data_start = read.header.data_start();
  file.metadata = read.header.metadata;
  file.device = read.identity.device;
  file.inode = read.identity.inode;
  file.modification_time_ns = read.identity.modification_time_ns;
  checkpoint_.files_.push_back(std::move(file));
  return static_cast<uint32_t>(checkpoint_.files_.size() - 1);
}

void CheckpointBuilder::AddTensor(uint32_t file, const TensorInfo& tensor) {
  CheckpointTensor entry;
  entry.name = tensor.name;
  entry.dtype = tensor.dtype;
  entry.shape = tensor.shape;
  entry.file = file;
  // Cannot overflow: the header check put data_end within the file size.
  entry.offset = checkpoint_.files_[file].data_start + tensor.data_begin;
  entry.nbytes = tensor.nbytes();
  checkpoint_.tensors_.push_back(std::move(entry));
}

void CheckpointBuilder::AddStaleCopy(StaleCopy copy) {
  Warn(checkpoint_.path_ + ": shard " + internal::Quote(copy.file) + " contains a copy of tensor " +
       internal::Quote(copy.tensor) + " that the index maps to " +
       internal::Quote(copy.index_file) + "; the copy in " + internal::Quote(copy.index_file) +
       " is used and this one is never read");
  checkpoint_.stale_copies_.push_back(std::move(copy));
}

void CheckpointBuilder::Warn(std::string message) {
  logger_->Log(LogLevel::kWarning, message);
  checkpoint_.warnings_.push_back(std::move(message));
}

void CheckpointBuilder::SetDeclaredTotalSize(std::optional<uint64_t> total_size) {
  checkpoint_.declared_total_size_ = total_size;
}

Checkpoint CheckpointBuilder::Finish() && {
  std::sort(checkpoint_.tensors_.begin(), checkpoint_.tensors_.end(),
            [](const CheckpointTensor& a, const CheckpointTensor& b) { return a.name < b.name; });
  return std::move(checkpoint_);
}

}  // namespace safeckpt
