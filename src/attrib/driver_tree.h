// The driver files of a folder tree: what `drivers DIR` and `who --drivers DIR` read. On Windows
// third-party drivers live one folder per package (System32\DriverStore\FileRepository\<pkg>\), so
// subfolders are searched, to a bounded depth, with symlink loops refused and everything counted so
// an empty result can say what was searched.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "core/result.h"

namespace poolscope::attrib {

struct DriverTreeOptions {
  int max_depth = 8;                // folders below the root that are entered (0: the root only)
  std::size_t max_files = 200'000;  // driver files listed; the rest is not (a note says so)
  std::vector<std::string> extensions = {".sys"};  // compared ignoring ASCII case
};

struct DriverTree {
  std::vector<std::filesystem::path> files;  // sorted by path
  std::size_t folders = 0;                   // folders listed, the root included
  std::size_t other_files = 0;               // regular files without a driver extension
  // What was not searched and why: loops refused, folders deeper than max_depth, unreadable
  // folders, the file cap. Empty when the whole tree was read.
  std::vector<std::string> notes;
};

// Lists the driver files under root. Fails only when root itself is not a readable folder; a
// subfolder that cannot be read is a note.
Result<DriverTree> list_driver_tree(const std::filesystem::path& root,
                                    const DriverTreeOptions& options = {});

// "3 .sys files in 5 folders under DIR (depth <= 8)" and, for an empty result, what was there
// instead: the sentence `drivers` and `who` print.
std::string describe_driver_tree(const std::filesystem::path& root, const DriverTree& tree,
                                 const DriverTreeOptions& options = {});

}  // namespace poolscope::attrib
