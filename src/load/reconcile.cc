#include "load/reconcile.h"

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>

#include "load/wrapper_prefix.h"

namespace safeckpt::internal {
namespace {

constexpr std::string_view kCheckpointSide = "checkpoint";
constexpr std::string_view kModelSide = "model";

std::string CountOf(uint64_t count, std::string_view singular, std::string_view plural) {
  return fmt::format("{} {}", count, count == 1 ? singular : plural);
}

// Describes which rename, if any, produced a checkpoint tensor's new name.
std::string DescribeRename(const CompiledKeyRules& rules, std::string_view name) {
  int rule = rules.MatchingRename(name);
  if (rule < 0) return fmt::format("'{}' (not renamed)", name);
  const RenameRule& rename = rules.rules().renames[static_cast<size_t>(rule)];
  return fmt::format("'{}' (rename {}: '{}' -> '{}')", name, rule, rename.pattern,
                     rename.replacement);
}

// Reconciles one checkpoint with one model. Each step below fills part of
// the report, and Run() calls them in order.
class Reconciler {
 public:
  Reconciler(const Checkpoint& checkpoint, const std::vector<CheckpointTensor>& sources,
             const ModelState& model, const CompiledKeyRules& rules, Policy policy)
      : checkpoint_(checkpoint),
        sources_(sources),
        model_(model),
        rules_(rules),
        policy_(policy),
        accounted_(sources.size(), false) {}

  Result<Reconciliation> Run();

 private:
  const std::vector<CheckpointTensor>& sources() const { return sources_; }
  const std::vector<ExpectedTensor>& expected() const { return model_.tensors(); }
  LoadReport& report() { return result_.report; }

  Status RenameCheckpointNames();
  void StripWrapperPrefixes();
  void ClassifyBookkeeping();
  void IndexTies();
  void MatchExpected(size_t expected);
  void MatchBookkeeping(size_t expected, size_t source);
  void MatchParameter(size_t expected, size_t source, bool tied);
  void ResolveAbsent(size_t expected);
  std::optional<size_t> FindTiedSource(size_t expected) const;
  void ReportUnusedCheckpointTensors();
  void CopyCheckpointNotes();
  void SortLists();
  void ApplyPolicy();

  // Returns the checkpoint tensor whose key equals the key of model name
  // `name`, which need not be in the model (a tied_to may name any tensor).
  std::optional<size_t> FindSourceForModelName(std::string_view name) const;

  const Checkpoint& checkpoint_;
  const std::vector<CheckpointTensor>& sources_;
  const ModelState& model_;
  const CompiledKeyRules& rules_;
  Policy policy_;

  std::vector<std::string> renamed_;         // checkpoint names after renames
  PrefixChoice strip_;
  std::unordered_map<std::string_view, size_t> source_by_key_;
  std::vector<bool> source_bookkeeping_;
  std::vector<bool> expected_bookkeeping_;
  // Model tensors that name each model tensor as their tied_to source.
  std::unordered_map<std::string_view, std::vector<size_t>> tied_by_source_;
  // Checkpoint tensors that some expected tensor used or reported on.
  std::vector<bool> accounted_;

  Reconciliation result_;
};

// Returns the length of the chain of wrapper prefixes that `name` starts
// with, e.g. 17 for "module._orig_mod.x".
size_t WrapperChainLength(std::string_view name, const std::vector<std::string>& prefixes) {
  size_t length = 0;
  bool found = true;
  while (found) {
    found = false;
    for (const std::string& prefix : prefixes) {
      if (!prefix.empty() && name.substr(length).starts_with(prefix)) {
        length += prefix.size();
        found = true;
        break;
      }
    }
  }
  return length;
}

// Applies the renames to a checkpoint name. A rule that matches the full name
// wins. Otherwise the rules are applied to the name without its wrapper
// prefixes, which are put back afterwards, so "^backbone\." also renames
// "_orig_mod.backbone.x" and wrapper stripping still finds the prefix.
std::string RenameCheckpointName(const CompiledKeyRules& rules, std::string_view name) {
  if (rules.MatchingRename(name) >= 0) return rules.Rename(name);
  size_t chain = WrapperChainLength(name, rules.rules().wrapper_prefixes);
  if (chain == 0) return std::string(name);
  return std::string(name.substr(0, chain)) + rules.Rename(name.substr(chain));
}

Status Reconciler::RenameCheckpointNames() {
  std::unordered_map<std::string, size_t> source_by_name;
  renamed_.reserve(sources().size());
  for (size_t i = 0; i < sources().size(); ++i) {
    std::string name = RenameCheckpointName(rules_, sources()[i].name);
    auto [it, inserted] = source_by_name.emplace(name, i);
    if (!inserted) {
      return InvalidArgument(
          ErrorId::kRuleInvalid,
          fmt::format("{}: renames map {} and {} to the same name '{}'; change the renames so that "
                      "each checkpoint tensor keeps its own name",
                      checkpoint_.path(), DescribeRename(rules_, sources()[it->second].name),
                      DescribeRename(rules_, sources()[i].name), name));
    }
    renamed_.push_back(std::move(name));
  }
  return Status::Ok();
}

void Reconciler::StripWrapperPrefixes() {
  std::vector<std::string_view> checkpoint_names(renamed_.begin(), renamed_.end());
  std::vector<std::string_view> model_names;
  for (const ExpectedTensor& tensor : expected()) model_names.push_back(tensor.name);

  const std::vector<std::string>& prefixes = rules_.rules().wrapper_prefixes;
  strip_ = ChooseWrapperPrefixes(checkpoint_names, model_names, prefixes);
  if (!strip_.checkpoint.empty()) {
    report().prefixes_stripped.push_back({std::string(kCheckpointSide), strip_.checkpoint});
  }
  if (!strip_.model.empty()) {
    report().prefixes_stripped.push_back({std::string(kModelSide), strip_.model});
  }

  for (std::string_view& name : checkpoint_names) name.remove_prefix(strip_.checkpoint.size());
  for (std::string_view& name : model_names) name.remove_prefix(strip_.model.size());
  for (size_t i = 0; i < checkpoint_names.size(); ++i) source_by_key_.emplace(checkpoint_names[i], i);

  for (auto [side, names] : {std::pair{kCheckpointSide, &checkpoint_names},
                             std::pair{kModelSide, &model_names}}) {
    for (PartialPrefix& partial : FindPartialPrefixes(side, *names, prefixes)) {
      report().partial_prefixes.push_back(std::move(partial));
    }
  }
}

std::optional<size_t> Reconciler::FindSourceForModelName(std::string_view name) const {
  if (name.starts_with(strip_.model)) name.remove_prefix(strip_.model.size());
  auto it = source_by_key_.find(name);
  if (it == source_by_key_.end()) return std::nullopt;
  return it->second;
}

void Reconciler::ClassifyBookkeeping() {
  source_bookkeeping_.resize(sources().size());
  for (size_t i = 0; i < sources().size(); ++i) {
    std::string_view key = std::string_view(renamed_[i]).substr(strip_.checkpoint.size());
    source_bookkeeping_[i] = rules_.IsBookkeeping(sources()[i].name) ||
                             rules_.IsBookkeeping(renamed_[i]) || rules_.IsBookkeeping(key);
  }

  expected_bookkeeping_.resize(expected().size());
  for (size_t j = 0; j < expected().size(); ++j) {
    const ExpectedTensor& tensor = expected()[j];
    std::string_view key = std::string_view(tensor.name).substr(strip_.model.size());
    expected_bookkeeping_[j] = tensor.role == TensorRole::kBookkeeping ||
                               rules_.IsBookkeeping(tensor.name) || rules_.IsBookkeeping(key);
  }
}

void Reconciler::IndexTies() {
  for (size_t j = 0; j < expected().size(); ++j) {
    const std::string& source = expected()[j].tied_to;
    if (!source.empty()) tied_by_source_[source].push_back(j);
  }
}

// Bookkeeping state is copied as raw bytes when both sides have the same
// size, because its layout is private to the module that wrote it.
void Reconciler::MatchBookkeeping(size_t expected_index, size_t source) {
  const ExpectedTensor& tensor = expected()[expected_index];
  std::optional<uint64_t> bytes = ByteSize(tensor.dtype, tensor.shape);
  if (bytes && *bytes == sources()[source].nbytes) {
    result_.matches.push_back({expected_index, source, /*bookkeeping=*/true});
    report().bookkeeping_loaded.push_back(tensor.name);
    return;
  }
  report().bookkeeping_ignored.push_back(sources()[source].name);
}

void Reconciler::MatchParameter(size_t expected_index, size_t source, bool tied) {
  const ExpectedTensor& tensor = expected()[expected_index];
  const CheckpointTensor& found = sources()[source];
  if (tensor.shape != found.shape) {
    report().shape_mismatches.push_back({tensor.name, found.name, tensor.shape, found.shape});
    return;
  }

  result_.matches.push_back({expected_index, source, /*bookkeeping=*/false});
  report().loaded.push_back(tensor.name);
  if (tensor.dtype != found.dtype) {
    report().conversions.push_back({tensor.name, found.dtype, tensor.dtype});
  }
  if (tied) report().tied.push_back({tensor.name, found.name});
}

// Finds the checkpoint tensor that an absent tensor can be loaded from
// through a tie: its own tied_to source, or else a tensor tied to it (so an
// absent embedding loads from lm_head.weight). Ties are tried in name order.
std::optional<size_t> Reconciler::FindTiedSource(size_t expected_index) const {
  const ExpectedTensor& tensor = expected()[expected_index];
  if (!tensor.tied_to.empty()) return FindSourceForModelName(tensor.tied_to);

  auto tied = tied_by_source_.find(tensor.name);
  if (tied == tied_by_source_.end()) return std::nullopt;
  std::vector<size_t> candidates = tied->second;
  std::sort(candidates.begin(), candidates.end(),
            [this](size_t a, size_t b) { return expected()[a].name < expected()[b].name; });
  for (size_t candidate : candidates) {
    if (std::optional<size_t> source = FindSourceForModelName(expected()[candidate].name)) {
      return source;
    }
  }
  return std::nullopt;
}

void Reconciler::ResolveAbsent(size_t expected_index) {
  if (expected_bookkeeping_[expected_index]) {
    report().bookkeeping_kept.push_back(expected()[expected_index].name);
    return;
  }
  std::optional<size_t> source = FindTiedSource(expected_index);
  if (!source || source_bookkeeping_[*source]) {
    report().missing.push_back(expected()[expected_index].name);
    return;
  }
  accounted_[*source] = true;
  MatchParameter(expected_index, *source, /*tied=*/true);
}

void Reconciler::MatchExpected(size_t expected_index) {
  std::optional<size_t> source = FindSourceForModelName(expected()[expected_index].name);
  if (!source) {
    ResolveAbsent(expected_index);
    return;
  }
  accounted_[*source] = true;
  if (expected_bookkeeping_[expected_index] || source_bookkeeping_[*source]) {
    MatchBookkeeping(expected_index, *source);
  } else {
    MatchParameter(expected_index, *source, /*tied=*/false);
  }
}

void Reconciler::ReportUnusedCheckpointTensors() {
  for (size_t i = 0; i < sources().size(); ++i) {
    if (accounted_[i]) continue;
    if (source_bookkeeping_[i]) {
      report().bookkeeping_ignored.push_back(sources()[i].name);
    } else {
      report().unexpected.push_back(sources()[i].name);
    }
  }
}

void Reconciler::CopyCheckpointNotes() {
  for (const StaleCopy& stale : checkpoint_.stale_copies()) {
    report().stale_copies.push_back({stale.tensor, stale.file, stale.index_file});
  }
  report().warnings = checkpoint_.warnings();
}

void Reconciler::SortLists() {
  LoadReport& out = report();
  for (std::vector<std::string>* names : {&out.loaded, &out.missing, &out.unexpected,
                                          &out.bookkeeping_loaded, &out.bookkeeping_kept,
                                          &out.bookkeeping_ignored}) {
    std::sort(names->begin(), names->end());
  }
  auto by_name = [](const auto& a, const auto& b) { return a.name < b.name; };
  std::sort(out.shape_mismatches.begin(), out.shape_mismatches.end(), by_name);
  std::sort(out.conversions.begin(), out.conversions.end(), by_name);
  std::sort(out.tied.begin(), out.tied.end(), by_name);
  std::sort(out.partial_prefixes.begin(), out.partial_prefixes.end(), [](const auto& a, const auto& b) {
    return std::tie(a.side, a.prefix) < std::tie(b.side, b.prefix);
  });
  std::sort(out.stale_copies.begin(), out.stale_copies.end(), [](const auto& a, const auto& b) {
    return std::tie(a.tensor, a.file) < std::tie(b.tensor, b.file);
  });
  std::sort(result_.matches.begin(), result_.matches.end(),
            [this](const TensorMatch& a, const TensorMatch& b) {
              return expected()[a.expected].name < expected()[b.expected].name;
            });
}

// Bookkeeping entries never reject a load, because modules rebuild them at
// run time.
void Reconciler::ApplyPolicy() {
  LoadReport& out = report();
  std::vector<std::string>& reasons = out.rejection_reasons;
  if (policy_ == Policy::kStrict) {
    if (!out.missing.empty()) {
      reasons.push_back(fmt::format("strict policy: {} missing",
                                    CountOf(out.missing.size(), "tensor", "tensors")));
    }
    if (!out.unexpected.empty()) {
      reasons.push_back(fmt::format(
          "strict policy: {} in the checkpoint",
          CountOf(out.unexpected.size(), "unexpected tensor", "unexpected tensors")));
    }
    if (!out.shape_mismatches.empty()) {
      reasons.push_back(fmt::format(
          "strict policy: {}",
          CountOf(out.shape_mismatches.size(), "shape mismatch", "shape mismatches")));
    }
  }
  if (policy_ == Policy::kSubset) {
    if (out.loaded.empty()) {
      reasons.push_back(
          "subset policy: no expected tensor matched a checkpoint tensor, so the load would change "
          "nothing");
    }
    if (!out.unexpected.empty()) {
      reasons.push_back(fmt::format(
          "subset policy: {} not in the model; the checkpoint may be for another architecture",
          CountOf(out.unexpected.size(), "checkpoint tensor is", "checkpoint tensors are")));
    }
    // A subset load may skip tensors the checkpoint lacks, but not weights it
    // has and cannot load: torch's load_state_dict raises on those even with
    // strict=False.
    if (!out.shape_mismatches.empty()) {
      reasons.push_back(fmt::format(
          "subset policy: {}",
          CountOf(out.shape_mismatches.size(), "shape mismatch", "shape mismatches")));
    }
  }
  out.rejected = !reasons.empty();
}

Result<Reconciliation> Reconciler::Run() {
  report().checkpoint = checkpoint_.path();
  report().policy = policy_;
  report().expected_count = expected().size();
  report().checkpoint_count = sources().size();

  SAFECKPT_RETURN_IF_ERROR(RenameCheckpointNames());
  StripWrapperPrefixes();
  ClassifyBookkeeping();
  IndexTies();
  for (size_t j = 0; j < expected().size(); ++j) MatchExpected(j);
  ReportUnusedCheckpointTensors();
  CopyCheckpointNotes();
  SortLists();
  ApplyPolicy();
  return std::move(result_);
}

}  // namespace

Result<Reconciliation> Reconcile(const Checkpoint& checkpoint, const ModelState& model,
                                 const CompiledKeyRules& rules, Policy policy) {
  return Reconcile(checkpoint, checkpoint.tensors(), model, rules, policy);
}

Result<Reconciliation> Reconcile(const Checkpoint& checkpoint,
                                 const std::vector<CheckpointTensor>& sources,
                                 const ModelState& model, const CompiledKeyRules& rules,
                                 Policy policy) {
  Reconciler reconciler(checkpoint, sources, model, rules, policy);
  return reconciler.Run();
}

}  // namespace safeckpt::internal
