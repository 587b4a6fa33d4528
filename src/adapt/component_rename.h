// Renames of whole name components between Hugging Face and native names.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "adapt/adapter_spec.h"

namespace safeckpt::internal {

// Applies `renames` in order, each at its first match: `from` must be whole
// components, starting at the beginning of the name or after a '.', and
// ending at the end or before a '.'. So renaming "block_sparse_moe" leaves
// "block_sparse_moe_x" alone, and X.weight_scale_inv follows X.weight.
std::string RenameToNative(std::string_view name, const std::vector<ComponentRename>& renames);

// Undoes RenameToNative: replaces `to` with `from`, rule by rule in the same
// order, so a specific rename listed first is undone before a general one.
std::string RenameToHuggingFace(std::string_view name,
                                const std::vector<ComponentRename>& renames);

}  // namespace safeckpt::internal
