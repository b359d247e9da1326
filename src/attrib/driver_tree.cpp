// Walking a folder tree for driver files.
#include "attrib/driver_tree.h"

#include <algorithm>
#include <set>
#include <utility>

#include "parse/text.h"

namespace poolscope::attrib {

namespace {

namespace fs = std::filesystem;

bool has_driver_extension(const fs::path& path, const std::vector<std::string>& extensions) {
  const std::string ext = path.extension().string();
  return std::any_of(extensions.begin(), extensions.end(),
                     [&ext](const std::string& e) { return parse::equals_ignore_case(e, ext); });
}

// The identity of a folder for loop detection: its canonical path (symlinks resolved).
std::string folder_identity(const fs::path& dir) {
  std::error_code ec;
  const fs::path canonical = fs::canonical(dir, ec);
  return ec ? dir.lexically_normal().string() : canonical.string();
}

}  // namespace

Result<DriverTree> list_driver_tree(const fs::path& root, const DriverTreeOptions& options) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    return make_error(ErrorCode::kInput, root.string() + " is not a folder of drivers");
  }
  DriverTree tree;
  std::set<std::string> visited{folder_identity(root)};
  std::size_t too_deep = 0;
  bool capped = false;
  // Depth-first with an explicit stack: a deep tree cannot exhaust the call stack.
  std::vector<std::pair<fs::path, int>> pending{{root, 0}};
  while (!pending.empty()) {
    auto [dir, depth] = std::move(pending.back());
    pending.pop_back();
    ++tree.folders;
    std::vector<fs::path> subfolders;
    fs::directory_iterator it(dir, ec);
    if (ec) {
      if (depth == 0) {
        return make_error(ErrorCode::kInput, "cannot list " + dir.string() + ": " + ec.message(),
                          ec.value());
      }
      tree.notes.push_back("cannot list " + dir.string() + ": " + ec.message());
      continue;
    }
    for (; it != fs::directory_iterator(); it.increment(ec)) {
      std::error_code type_ec;
      const auto& entry = *it;
      if (entry.is_directory(type_ec)) {
        subfolders.push_back(entry.path());
      } else if (entry.is_regular_file(type_ec)) {
        if (!has_driver_extension(entry.path(), options.extensions)) {
          ++tree.other_files;
        } else if (tree.files.size() < options.max_files) {
          tree.files.push_back(entry.path());
        } else {
          capped = true;
        }
      }
    }
    if (ec) tree.notes.push_back("listing " + dir.string() + " stopped: " + ec.message());
    // Reversed so the stack pops them in name order (the output is sorted anyway).
    std::sort(subfolders.rbegin(), subfolders.rend());
    for (auto& sub : subfolders) {
      if (depth + 1 > options.max_depth) {
        ++too_deep;
        continue;
      }
      if (!visited.insert(folder_identity(sub)).second) {
        tree.notes.push_back(sub.string() + " leads to a folder already searched (a symlink " +
                             "loop or a second link); not entered");
        continue;
      }
      pending.emplace_back(std::move(sub), depth + 1);
    }
  }
  if (too_deep > 0) {
    tree.notes.push_back(std::to_string(too_deep) + " folder(s) deeper than " +
                         std::to_string(options.max_depth) + " levels not searched");
  }
  if (capped) {
    tree.notes.push_back("more than " + std::to_string(options.max_files) +
                         " driver files; the rest is not read");
  }
  std::sort(tree.files.begin(), tree.files.end());
  return tree;
}

std::string describe_driver_tree(const fs::path& root, const DriverTree& tree,
                                 const DriverTreeOptions& options) {
  std::string ext;
  for (const auto& e : options.extensions) ext += (ext.empty() ? "" : "/") + e;
  std::string text = std::to_string(tree.files.size()) + " " + ext + " file" +
                     (tree.files.size() == 1 ? "" : "s") + " in " + std::to_string(tree.folders) +
                     " folder" + (tree.folders == 1 ? "" : "s") + " under " + root.string() +
                     " (subfolders to depth " + std::to_string(options.max_depth) + ")";
  if (tree.files.empty()) {
    text += "; " + std::to_string(tree.other_files) + " other file" +
            (tree.other_files == 1 ? "" : "s") + " not read (only " + ext + " files are drivers)";
  }
  return text;
}

}  // namespace poolscope::attrib
