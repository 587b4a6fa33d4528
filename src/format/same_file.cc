#include "format/same_file.h"

#include <string>

namespace safeckpt::internal {
namespace {

// Returns the kFileChanged error "<path><change> after the checkpoint was
// opened<detail>; <what to do>".
Status FileChanged(const std::string& path, const std::string& change, const std::string& detail) {
  return FailedPrecondition(ErrorId::kFileChanged,
                            "'" + path + "'" + change + " after the checkpoint was opened" +
                                detail +
                                "; the offsets read from its header no longer apply, so open "
                                "the checkpoint again");
}

}  // namespace

Status CheckSameFile(const File& file, const CheckpointFile& expected) {
  SAFECKPT_ASSIGN_OR_RETURN(FileIdentity now, file.Identity());

  if (now.device != expected.device || now.inode != expected.inode) {
    return FileChanged(expected.path, " was replaced",
                       " (device " + std::to_string(expected.device) + ", inode " +
                           std::to_string(expected.inode) + " then; device " +
                           std::to_string(now.device) + ", inode " + std::to_string(now.inode) +
                           " now)");
  }
  if (now.size != expected.size) {
    return FileChanged(expected.path,
                       ": size changed from " + std::to_string(expected.size) + " to " +
                           std::to_string(now.size) + " bytes",
                       "");
  }
  if (now.modification_time_ns != expected.modification_time_ns) {
    return FileChanged(expected.path, " was modified",
                       " (modification time " + std::to_string(expected.modification_time_ns) +
                           " ns then, " + std::to_string(now.modification_time_ns) +
                           " ns now, since the Unix epoch)");
  }
  return Status::Ok();
}

}  // namespace safeckpt::internal
