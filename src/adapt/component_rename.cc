#include "adapt/component_rename.h"

namespace safeckpt::internal {
namespace {

// Position of the first match of `part` as whole components of `name`, or
// npos.
size_t FindComponents(std::string_view name, std::string_view part, bool anchored) {
  for (size_t position = name.find(part); position != std::string_view::npos;
       position = name.find(part, position + 1)) {
    const size_t end = position + part.size();
    const bool starts = position == 0 || name[position - 1] == '.';
    const bool ends = end == name.size() || name[end] == '.';
    if (starts && ends) return position;
    if (anchored) return std::string_view::npos;
  }
  return std::string_view::npos;
}

std::string ReplaceComponents(std::string name, std::string_view from, std::string_view to,
                              bool anchored) {
  const size_t position = FindComponents(name, from, anchored);
  if (position == std::string_view::npos || (anchored && position != 0)) return name;
  name.replace(position, from.size(), to);
  return name;
}

}  // namespace

std::string RenameToNative(std::string_view name, const std::vector<ComponentRename>& renames) {
  std::string renamed(name);
  for (const ComponentRename& rename : renames) {
    renamed = ReplaceComponents(std::move(renamed), rename.from, rename.to, rename.anchored);
  }
  return renamed;
}

std::string RenameToHuggingFace(std::string_view name,
                                const std::vector<ComponentRename>& renames) {
  // Same order as forward: specific renames come first in a spec (such as
  // backbone.norm_f before backbone), and their native spellings must be
  // undone before the general rename takes part of them.
  std::string renamed(name);
  for (const ComponentRename& rename : renames) {
    renamed = ReplaceComponents(std::move(renamed), rename.to, rename.from, rename.anchored);
  }
  return renamed;
}

}  // namespace safeckpt::internal
