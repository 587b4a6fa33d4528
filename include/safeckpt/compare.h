// Comparing two checkpoints tensor by tensor: names, dtypes, shapes and
// values, exactly or within a tolerance.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "safeckpt/checkpoint.h"
#include "safeckpt/dtype.h"
#include "safeckpt/key_rules.h"
#include "safeckpt/status.h"

namespace safeckpt {

struct CompareOptions {
  // Renames applied to the names of A (the first checkpoint), so A can be
  // compared with a checkpoint of another layout written by a converter
  // with the same rules.
  std::vector<RenameRule> renames;

  // Names to skip on both sides (RE2, partial match; A's names before the
  // renames).
  std::vector<std::string> exclude_patterns;

  // Tolerance. With both 0 (the default) values must be identical: bit for
  // bit when the dtypes match, and as numbers (F64) when they differ. With
  // either above 0, a pair of elements is equal when
  // |a - b| <= atol + rtol * |b|, as numpy.isclose, after converting both to
  // F64. NaN equals NaN, and an infinity equals only the same infinity.
  double rtol = 0;
  double atol = 0;

  // A dtype difference makes the checkpoints differ, as torch.testing's
  // check_dtype does; values are still compared. False compares values only.
  bool check_dtype = true;

  // Largest element differences kept per tensor.
  uint32_t max_differences = 5;

  uint32_t threads = 0;                 // 0: one per core
  uint64_t buffer_bytes = 32ull << 20;  // read buffers, shared by all workers
};

// One pair of elements that differ.
struct ElementDifference {
  // Position in the tensor. For C64, values compare as real and imaginary
  // parts, and the position has one more index: 0 real, 1 imaginary.
  std::vector<uint64_t> position;
  // NOTE: I64 and U64 values beyond 2^53 are shown rounded to a double. The
  // comparison and abs_difference use the exact integers.
  double a = 0;
  double b = 0;
  double abs_difference = 0;  // |a - b|; infinite when one side is NaN or infinite
};

// A tensor present on both sides whose values differ.
struct TensorDifference {
  std::string name;    // B's name (A's after renames)
  std::string name_a;  // A's name before renames
  DType dtype_a = DType::kU8;
  DType dtype_b = DType::kU8;
  Shape shape;
  uint64_t elements = 0;    // values compared (bytes when compared_bytes)
  uint64_t mismatched = 0;  // values that differ (bytes when compared_bytes)
  double max_abs_difference = 0;
  double max_relative_difference = 0;  // |a - b| / |b| over the mismatched values
  // Largest differences first, at most CompareOptions::max_differences.
  std::vector<ElementDifference> largest;
  // True for dtypes without a numeric decoding (F8_E8M0, the FNUZ, F6 and
  // F4 types): their bytes were compared, so counts are in bytes.
  bool compared_bytes = false;
};

struct DTypeDifference {
  std::string name;  // B's name
  DType a = DType::kU8;
  DType b = DType::kU8;
};

struct ShapeDifference {
  std::string name;  // B's name
  Shape a;
  Shape b;
};

struct CompareReport {
  std::string a;  // paths as opened
  std::string b;
  double rtol = 0;
  double atol = 0;
  bool check_dtype = true;

  uint64_t tensors_a = 0;       // tensors on each side after exclusions
  uint64_t tensors_b = 0;
  uint64_t values_compared = 0; // tensors whose values were compared
  uint64_t bytes_compared = 0;  // bytes read from both sides together
  uint64_t excluded = 0;        // names skipped on both sides together
  // Largest |a - b| over every value compared, including differences
  // within the tolerance.
  double max_abs_difference = 0;

  std::vector<std::string> only_in_a;  // A's names after renames, sorted
  std::vector<std::string> only_in_b;
  std::vector<DTypeDifference> dtype_differences;
  std::vector<ShapeDifference> shape_differences;
  std::vector<TensorDifference> value_differences;  // sorted by name
  // Tensors whose dtypes differ and have no common numeric form (one has no
  // numeric decoding, or only one is complex), so their values could not be
  // compared; B's names, sorted.
  std::vector<std::string> values_not_compared;

  // True when nothing above differs (dtype differences count only with
  // check_dtype).
  bool equal() const;
};

// Compares every tensor of `a` with the tensor of the same name (after
// renames) in `b`, reading both in chunks on a thread pool so memory stays
// within buffer_bytes. Fails on an invalid pattern (kRuleInvalid), two names
// of A renamed to one (kDuplicateName), and read errors.
Result<CompareReport> CompareCheckpoints(const Checkpoint& a, const Checkpoint& b,
                                         const CompareOptions& options = {});

// Formats a report for people: the verdict, counts, names on one side only
// (grouped), dtype and shape differences, and the largest value differences
// of each tensor.
std::string FormatCompareText(const CompareReport& report);

// Formats a report as one JSON object with every list in full. Non-finite
// numbers are written as the strings "NaN", "Infinity" and "-Infinity".
std::string FormatCompareJson(const CompareReport& report);

}  // namespace safeckpt
