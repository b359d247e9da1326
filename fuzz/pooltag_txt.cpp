// Fuzzer for the pooltag.txt parser and the tag database lookups built on it.
#include "parse/pooltag_txt.h"

#include <cstdint>
#include <string_view>

#include "attrib/tag_database.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = poolscope::parse::parse_pooltag_txt(text);
  if (!parsed) return 0;
  poolscope::attrib::TagDatabase db(std::move(*parsed), "fuzz");
  // Look up the first bytes of the input and the tags the database itself holds (bounded).
  (void)db.lookup(poolscope::tag_from_text(text.substr(0, 4)));
  std::size_t n = 0;
  for (const auto& entry : db.entries()) {
    if (n++ == 64) break;
    (void)db.lookup(entry.tag);
    for (const auto& module : entry.modules) {
      (void)poolscope::attrib::module_names_file(module, "ntoskrnl.exe");
    }
  }
  (void)db.entries_for_file("ntfs.sys");
  return 0;
}
