// ConvertCheckpoint: chooses the output name and dtype of every source
// tensor, then streams them through the checkpoint writer.
#include "safeckpt/convert.h"

#include <algorithm>
#include <map>
#include <unordered_map>

#include "format/quote.h"
#include "io/file.h"
#include "load/convert.h"
#include "save/checkpoint_writer.h"
#include "save/name_patterns.h"

namespace safeckpt {
namespace {

// The floating dtypes that ConvertOptions::dtype applies to.
bool IsPlainFloat(DType dtype) {
  return dtype == DType::kF64 || dtype == DType::kF32 || dtype == DType::kF16 ||
         dtype == DType::kBF16;
}

// Compiled options.
struct Rules {
  CompiledKeyRules renames;
  internal::PatternList exclude;
  internal::PatternList dtype_patterns;
};

Result<Rules> CompileRules(const ConvertOptions& options) {
  if (options.dtype && !IsPlainFloat(*options.dtype)) {
    return InvalidArgument(ErrorId::kRuleInvalid,
                           "the target dtype " + std::string(DTypeName(*options.dtype)) +
                               " is not F64, F32, F16 or BF16; to convert particular tensors to "
                               "another dtype, name them with a dtype rule (--dtype-for)");
  }
  KeyRules key_rules;
  key_rules.renames = options.renames;
  SAFECKPT_ASSIGN_OR_RETURN(CompiledKeyRules renames, CompiledKeyRules::Compile(key_rules));
  SAFECKPT_ASSIGN_OR_RETURN(internal::PatternList exclude,
                            internal::PatternList::Compile(options.exclude_patterns, "--exclude"));
  std::vector<std::string> dtype_patterns;
  for (const DTypeRule& rule : options.dtype_rules) dtype_patterns.push_back(rule.pattern);
  SAFECKPT_ASSIGN_OR_RETURN(internal::PatternList dtype_list,
                            internal::PatternList::Compile(dtype_patterns, "--dtype-for"));
  return Rules{std::move(renames), std::move(exclude), std::move(dtype_list)};
}

DType TargetDType(const CheckpointTensor& tensor, const ConvertOptions& options, const Rules& rules) {
  int rule = rules.dtype_patterns.FirstMatch(tensor.name);
  if (rule >= 0) return options.dtype_rules[rule].dtype;
  if (options.dtype && IsPlainFloat(tensor.dtype)) return *options.dtype;
  return tensor.dtype;
}

Result<std::vector<internal::File>> OpenSourceFiles(const Checkpoint& source) {
  std::vector<internal::File> files;
  for (const CheckpointFile& file : source.files()) {
    SAFECKPT_ASSIGN_OR_RETURN(internal::File opened, internal::File::OpenForRead(file.path));
    files.push_back(std::move(opened));
  }
  return files;
}

// The metadata of the source's files merged in file order; the first value
// of a key wins.
Metadata MergeMetadata(const Checkpoint& source, Logger* logger) {
  Metadata merged;
  std::map<std::string, size_t> position;
  for (const CheckpointFile& file : source.files()) {
    for (const auto& [key, value] : file.metadata) {
      auto [it, inserted] = position.emplace(key, merged.size());
      if (inserted) {
        merged.emplace_back(key, value);
      } else if (merged[it->second].second != value && key != "format" && logger != nullptr) {
        logger->Log(LogLevel::kWarning,
                    "source files disagree on __metadata__ " + internal::Quote(key) + ": " +
                        internal::Quote(merged[it->second].second) + " and " +
                        internal::Quote(value) + " in " + internal::Quote(file.name) +
                        "; the output keeps the first");
      }
    }
  }
  return merged;
}

// Builds the output tensors and fills the report's lists.
Result<std::vector<internal::OutputTensor>> SelectTensors(
    const Checkpoint& source, const std::vector<internal::File>& files,
    const ConvertOptions& options, const Rules& rules, ConvertReport& report) {
  std::vector<internal::OutputTensor> outputs;
  std::unordered_map<std::string, std::string_view> source_of;
  for (const CheckpointTensor& tensor : source.tensors()) {
    if (rules.exclude.FirstMatch(tensor.name) >= 0) {
      report.excluded.push_back(tensor.name);
      continue;
    }

    std::string name = rules.renames.Rename(tensor.name);
    auto [previous, inserted] = source_of.emplace(name, tensor.name);
    if (!inserted) {
      return InvalidArgument(ErrorId::kDuplicateName,
                             "tensors " + internal::Quote(previous->second) + " and " +
                                 internal::Quote(tensor.name) + " are both renamed to " +
                                 internal::Quote(name) + "; change the --rename rules");
    }
    if (name != tensor.name) report.renamed.emplace_back(tensor.name, name);

    DType dtype = TargetDType(tensor, options, rules);
    if (dtype != tensor.dtype) {
      SAFECKPT_RETURN_IF_ERROR(internal::CheckConversion(tensor.dtype, dtype, tensor.name));
      report.conversions.push_back({name, tensor.dtype, dtype});
    }

    internal::ByteSource bytes{nullptr, &files[tensor.file], tensor.offset, tensor.dtype};
    outputs.push_back({std::move(name), dtype, tensor.shape, bytes});
    report.bytes_read += tensor.nbytes;
  }
  return outputs;
}

}  // namespace

Result<ConvertReport> ConvertCheckpoint(const Checkpoint& source, const std::string& destination,
                                        const ConvertOptions& options) {
  SAFECKPT_ASSIGN_OR_RETURN(Rules rules, CompileRules(options));
  SAFECKPT_ASSIGN_OR_RETURN(std::vector<internal::File> files, OpenSourceFiles(source));

  ConvertReport report;
  report.source = source.path();
  report.source_tensor_count = source.tensors().size();
  SAFECKPT_ASSIGN_OR_RETURN(std::vector<internal::OutputTensor> outputs,
                            SelectTensors(source, files, options, rules, report));
  std::sort(report.conversions.begin(), report.conversions.end(),
            [](const DTypeConversion& a, const DTypeConversion& b) { return a.name < b.name; });

  SaveOptions save;
  save.sharding = options.sharding;
  save.metadata = MergeMetadata(source, options.logger);
  save.overwrite = options.overwrite;
  save.threads = options.threads;
  save.buffer_bytes = options.buffer_bytes;
  save.logger = options.logger;
  SAFECKPT_ASSIGN_OR_RETURN(report.output, internal::WriteCheckpoint(destination, outputs, save));
  return report;
}

}  // namespace safeckpt
