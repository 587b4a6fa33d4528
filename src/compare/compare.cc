// CompareCheckpoints: pairs tensors by name, then compares their values in
// chunks on a thread pool.
#include "safeckpt/compare.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <thread>
#include <unordered_map>

#include "compare/element_values.h"
#include "format/quote.h"
#include "io/file.h"
#include "io/thread_pool.h"
#include "save/name_patterns.h"

namespace safeckpt {
namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();

// Elements decoded at a time; two blocks of doubles live on the stack.
constexpr uint64_t kBlockElements = 512;

// The comparison method for one pair of tensors.
enum class Method {
  kBytes,         // bit for bit; counts in bytes (no numeric decoding)
  kBitwiseValues, // bit for bit per element, decoded to report differences
  kValues,        // as F64 numbers, exactly or within the tolerance
};

// Two tensors with the same name (after renames) and the same shape.
struct Pair {
  std::string name;
  const CheckpointTensor* a = nullptr;
  const CheckpointTensor* b = nullptr;
  Method method = Method::kBytes;
  uint64_t units = 0;   // elements, or bytes for kBytes
  uint64_t unit_a = 1;  // bytes per unit on each side
  uint64_t unit_b = 1;
};

// A candidate for the largest differences: the flat index of a value.
struct Candidate {
  uint64_t index = 0;
  double a = 0;
  double b = 0;
  double abs_difference = 0;
};

// Orders larger differences first, then lower indices.
bool LargerDifference(const Candidate& x, const Candidate& y) {
  if (x.abs_difference != y.abs_difference) return x.abs_difference > y.abs_difference;
  return x.index < y.index;
}

struct ChunkResult {
  uint64_t mismatched = 0;
  double max_abs = 0;
  double max_relative = 0;
  std::vector<Candidate> largest;  // at most max_differences, unordered
};

struct Chunk {
  size_t pair = 0;
  uint64_t first = 0;  // in units
  uint64_t count = 0;
};

// |a - b| with NaN equal to NaN and an infinity equal to itself.
double AbsDifference(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b) ? 0 : kInfinity;
  if (a == b) return 0;
  return std::fabs(a - b);
}

double RelativeDifference(double abs_difference, double b) {
  if (abs_difference == 0) return 0;
  if (b == 0 || std::isnan(b)) return kInfinity;
  return abs_difference / std::fabs(b);
}

// Keeps the `limit` largest candidates seen.
void Offer(std::vector<Candidate>& largest, const Candidate& candidate, uint32_t limit) {
  if (limit == 0) return;
  if (largest.size() < limit) {
    largest.push_back(candidate);
    return;
  }
  auto smallest = std::min_element(largest.begin(), largest.end(),
                                   [](const Candidate& x, const Candidate& y) { return LargerDifference(y, x); });
  if (LargerDifference(candidate, *smallest)) *smallest = candidate;
}

class Comparer {
 public:
  Comparer(const std::vector<Pair>& pairs, const std::vector<internal::File>& files_a,
           const std::vector<internal::File>& files_b, const CompareOptions& options, uint32_t workers)
      : pairs_(pairs), files_a_(files_a), files_b_(files_b), options_(options), buffers_(workers) {
    tolerance_ = options.rtol > 0 || options.atol > 0;
  }

  Status Run(const Chunk& chunk, uint32_t worker, ChunkResult& result) {
    const Pair& pair = pairs_[chunk.pair];
    Buffers& buffers = buffers_[worker];
    uint64_t bytes_a = chunk.count * pair.unit_a;
    uint64_t bytes_b = chunk.count * pair.unit_b;
    if (buffers.a.size() < bytes_a) buffers.a.resize(bytes_a);
    if (buffers.b.size() < bytes_b) buffers.b.resize(bytes_b);
    SAFECKPT_RETURN_IF_ERROR(files_a_[pair.a->file].ReadAt(pair.a->offset + chunk.first * pair.unit_a,
                                                            buffers.a.data(), bytes_a));
    SAFECKPT_RETURN_IF_ERROR(files_b_[pair.b->file].ReadAt(pair.b->offset + chunk.first * pair.unit_b,
                                                            buffers.b.data(), bytes_b));

    if (pair.method == Method::kBytes) {
      for (uint64_t i = 0; i < bytes_a; ++i) result.mismatched += buffers.a[i] != buffers.b[i];
      return Status::Ok();
    }
    // Identical bytes of the same dtype are equal values; skip decoding.
    if (pair.method == Method::kBitwiseValues &&
        std::memcmp(buffers.a.data(), buffers.b.data(), bytes_a) == 0) {
      return Status::Ok();
    }
    for (uint64_t done = 0; done < chunk.count; done += kBlockElements) {
      uint64_t count = std::min(kBlockElements, chunk.count - done);
      CompareBlock(pair, buffers, done, chunk.first + done, count, result);
    }
    return Status::Ok();
  }

 private:
  struct Buffers {
    std::vector<unsigned char> a;
    std::vector<unsigned char> b;
  };

  // Compares `count` elements starting `offset` elements into the buffers;
  // `first` is the index of the first of them in the tensor.
  void CompareBlock(const Pair& pair, const Buffers& buffers, uint64_t offset, uint64_t first,
                    uint64_t count, ChunkResult& result) const {
    double a[2 * kBlockElements];
    double b[2 * kBlockElements];
    const unsigned char* bytes_a = buffers.a.data() + offset * pair.unit_a;
    const unsigned char* bytes_b = buffers.b.data() + offset * pair.unit_b;
    internal::DecodeToDouble(pair.a->dtype, bytes_a, count, a);
    internal::DecodeToDouble(pair.b->dtype, bytes_b, count, b);

    uint32_t per_element = internal::ValuesPerElement(pair.a->dtype);
    uint64_t value_bytes = pair.unit_a / per_element;
    const bool wide = internal::IsWideInteger(pair.a->dtype) || internal::IsWideInteger(pair.b->dtype);
    for (uint64_t i = 0; i < count * per_element; ++i) {
      double difference = AbsDifference(a[i], b[i]);
      // Doubles round 64-bit integers beyond 2^53, so equal doubles may
      // stand for different integers; the exact difference decides.
      if (difference == 0 && wide) {
        difference = static_cast<double>(
            std::fabs(internal::ExactValue(pair.a->dtype, bytes_a, i, a[i]) -
                      internal::ExactValue(pair.b->dtype, bytes_b, i, b[i])));
      }
      result.max_abs = std::max(result.max_abs, difference);
      bool equal = pair.method == Method::kBitwiseValues
                       ? std::memcmp(bytes_a + i * value_bytes, bytes_b + i * value_bytes, value_bytes) == 0
                       : WithinTolerance(b[i], difference);
      if (equal) continue;
      ++result.mismatched;
      result.max_relative = std::max(result.max_relative, RelativeDifference(difference, b[i]));
      Offer(result.largest, {first * per_element + i, a[i], b[i], difference}, options_.max_differences);
    }
  }

  bool WithinTolerance(double b, double difference) const {
    if (difference == 0) return true;
    if (!tolerance_ || std::isinf(difference)) return false;
    return difference <= options_.atol + options_.rtol * std::fabs(b);
  }

  const std::vector<Pair>& pairs_;
  const std::vector<internal::File>& files_a_;
  const std::vector<internal::File>& files_b_;
  const CompareOptions& options_;
  std::vector<Buffers> buffers_;
  bool tolerance_ = false;
};

Result<std::vector<internal::File>> OpenFiles(const Checkpoint& checkpoint) {
  std::vector<internal::File> files;
  for (const CheckpointFile& file : checkpoint.files()) {
    SAFECKPT_ASSIGN_OR_RETURN(internal::File opened, internal::File::OpenForRead(file.path));
    files.push_back(std::move(opened));
  }
  return files;
}

// A's tensors by their name after renames, without excluded names.
Result<std::map<std::string, const CheckpointTensor*>> RenamedTensorsOfA(
    const Checkpoint& a, const CompiledKeyRules& rules, const internal::PatternList& exclude,
    CompareReport& report) {
  std::map<std::string, const CheckpointTensor*> renamed;
  for (const CheckpointTensor& tensor : a.tensors()) {
    if (exclude.FirstMatch(tensor.name) >= 0) {
      ++report.excluded;
      continue;
    }
    std::string name = rules.Rename(tensor.name);
    auto [it, inserted] = renamed.emplace(name, &tensor);
    if (!inserted) {
      return InvalidArgument(ErrorId::kDuplicateName,
                             "tensors " + internal::Quote(it->second->name) + " and " +
                                 internal::Quote(tensor.name) + " of '" + a.path() +
                                 "' are both renamed to " + internal::Quote(name) +
                                 "; change the --rename rules");
    }
  }
  report.tensors_a = renamed.size();
  return renamed;
}

Method ChooseMethod(DType a, DType b, bool tolerance) {
  bool numeric = internal::HasNumericValues(a) && internal::HasNumericValues(b);
  if (a == b && !numeric) return Method::kBytes;
  if (a == b && !tolerance) return Method::kBitwiseValues;
  return Method::kValues;
}

Pair MakePair(std::string name, const CheckpointTensor* a, const CheckpointTensor* b, bool tolerance) {
  Pair pair{std::move(name), a, b, ChooseMethod(a->dtype, b->dtype, tolerance), 0, 1, 1};
  if (pair.method == Method::kBytes) {
    pair.units = a->nbytes;
  } else {
    pair.units = ElementCount(a->shape).value_or(0);
    pair.unit_a = DTypeBits(a->dtype) / 8;
    pair.unit_b = DTypeBits(b->dtype) / 8;
  }
  return pair;
}

// Sorts tensors into the report's name, dtype and shape lists and returns
// the pairs whose values are to be compared.
std::vector<Pair> MatchTensors(const std::map<std::string, const CheckpointTensor*>& renamed_a,
                               const Checkpoint& b, const internal::PatternList& exclude,
                               bool tolerance, CompareReport& report) {
  std::vector<Pair> pairs;
  std::map<std::string_view, const CheckpointTensor*> tensors_b;
  for (const CheckpointTensor& tensor : b.tensors()) {
    if (exclude.FirstMatch(tensor.name) >= 0) {
      ++report.excluded;
      continue;
    }
    tensors_b.emplace(tensor.name, &tensor);
  }
  report.tensors_b = tensors_b.size();

  for (const auto& [name, a] : renamed_a) {
    auto found = tensors_b.find(name);
    if (found == tensors_b.end()) {
      report.only_in_a.push_back(name);
      continue;
    }
    const CheckpointTensor* tensor_b = found->second;
    if (a->dtype != tensor_b->dtype) report.dtype_differences.push_back({name, a->dtype, tensor_b->dtype});
    if (a->shape != tensor_b->shape) {
      report.shape_differences.push_back({name, a->shape, tensor_b->shape});
      continue;
    }
    bool comparable = a->dtype == tensor_b->dtype ||
                      (internal::HasNumericValues(a->dtype) && internal::HasNumericValues(tensor_b->dtype) &&
                       internal::ValuesPerElement(a->dtype) == internal::ValuesPerElement(tensor_b->dtype));
    if (!comparable) {
      report.values_not_compared.push_back(name);
      continue;
    }
    pairs.push_back(MakePair(name, a, tensor_b, tolerance));
  }
  for (const auto& [name, tensor] : tensors_b) {
    if (renamed_a.count(std::string(name)) == 0) report.only_in_b.emplace_back(name);
  }
  return pairs;
}

std::vector<Chunk> SplitIntoChunks(const std::vector<Pair>& pairs, uint64_t worker_bytes) {
  std::vector<Chunk> chunks;
  for (size_t i = 0; i < pairs.size(); ++i) {
    const Pair& pair = pairs[i];
    uint64_t per_chunk = std::max<uint64_t>(1, worker_bytes / (pair.unit_a + pair.unit_b));
    for (uint64_t first = 0; first < pair.units; first += per_chunk) {
      chunks.push_back({i, first, std::min(per_chunk, pair.units - first)});
    }
  }
  return chunks;
}

std::vector<uint64_t> Position(uint64_t index, const Pair& pair) {
  uint32_t per_element = pair.method == Method::kBytes ? 1 : internal::ValuesPerElement(pair.a->dtype);
  uint64_t element = index / per_element;
  const Shape& shape = pair.a->shape;
  std::vector<uint64_t> position(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    position[d] = shape[d] == 0 ? 0 : element % shape[d];
    element = shape[d] == 0 ? 0 : element / shape[d];
  }
  if (per_element > 1) position.push_back(index % per_element);
  return position;
}

// Merges the chunk results of each pair into the report.
void Collect(const std::vector<Pair>& pairs, const std::vector<Chunk>& chunks,
             const std::vector<ChunkResult>& results, const CompareOptions& options,
             CompareReport& report) {
  std::vector<TensorDifference> differences(pairs.size());
  std::vector<std::vector<Candidate>> candidates(pairs.size());
  for (size_t c = 0; c < chunks.size(); ++c) {
    const ChunkResult& result = results[c];
    TensorDifference& difference = differences[chunks[c].pair];
    difference.mismatched += result.mismatched;
    difference.max_abs_difference = std::max(difference.max_abs_difference, result.max_abs);
    difference.max_relative_difference = std::max(difference.max_relative_difference, result.max_relative);
    for (const Candidate& candidate : result.largest) {
      Offer(candidates[chunks[c].pair], candidate, options.max_differences);
    }
  }

  for (size_t p = 0; p < pairs.size(); ++p) {
    const Pair& pair = pairs[p];
    TensorDifference& difference = differences[p];
    report.max_abs_difference = std::max(report.max_abs_difference, difference.max_abs_difference);
    report.bytes_compared += pair.a->nbytes + pair.b->nbytes;
    if (difference.mismatched == 0) continue;

    difference.name = pair.name;
    difference.name_a = pair.a->name;
    difference.dtype_a = pair.a->dtype;
    difference.dtype_b = pair.b->dtype;
    difference.shape = pair.a->shape;
    difference.compared_bytes = pair.method == Method::kBytes;
    difference.elements = pair.units * (difference.compared_bytes ? 1 : internal::ValuesPerElement(pair.a->dtype));
    std::sort(candidates[p].begin(), candidates[p].end(), LargerDifference);
    for (const Candidate& candidate : candidates[p]) {
      difference.largest.push_back({Position(candidate.index, pair), candidate.a, candidate.b,
                                    candidate.abs_difference});
    }
    report.value_differences.push_back(std::move(difference));
  }
}

uint32_t ThreadCount(uint32_t requested) {
  if (requested > 0) return requested;
  return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace

bool CompareReport::equal() const {
  return only_in_a.empty() && only_in_b.empty() && shape_differences.empty() &&
         value_differences.empty() && values_not_compared.empty() &&
         (!check_dtype || dtype_differences.empty());
}

Result<CompareReport> CompareCheckpoints(const Checkpoint& a, const Checkpoint& b,
                                         const CompareOptions& options) {
  KeyRules key_rules;
  key_rules.renames = options.renames;
  SAFECKPT_ASSIGN_OR_RETURN(CompiledKeyRules rules, CompiledKeyRules::Compile(key_rules));
  SAFECKPT_ASSIGN_OR_RETURN(internal::PatternList exclude,
                            internal::PatternList::Compile(options.exclude_patterns, "--exclude"));
  SAFECKPT_ASSIGN_OR_RETURN(std::vector<internal::File> files_a, OpenFiles(a));
  SAFECKPT_ASSIGN_OR_RETURN(std::vector<internal::File> files_b, OpenFiles(b));

  CompareReport report;
  report.a = a.path();
  report.b = b.path();
  report.rtol = options.rtol;
  report.atol = options.atol;
  report.check_dtype = options.check_dtype;
  SAFECKPT_ASSIGN_OR_RETURN(auto renamed_a, RenamedTensorsOfA(a, rules, exclude, report));
  bool tolerance = options.rtol > 0 || options.atol > 0;
  std::vector<Pair> pairs = MatchTensors(renamed_a, b, exclude, tolerance, report);
  report.values_compared = pairs.size();

  internal::ThreadPool pool(ThreadCount(options.threads));
  uint64_t worker_bytes = std::max<uint64_t>(1, options.buffer_bytes / pool.size());
  std::vector<Chunk> chunks = SplitIntoChunks(pairs, worker_bytes);
  std::vector<ChunkResult> results(chunks.size());
  Comparer comparer(pairs, files_a, files_b, options, pool.size());
  SAFECKPT_RETURN_IF_ERROR(pool.Run(chunks.size(), [&](size_t task, uint32_t worker) {
    return comparer.Run(chunks[task], worker, results[task]);
  }));

  Collect(pairs, chunks, results, options, report);
  return report;
}

}  // namespace safeckpt
