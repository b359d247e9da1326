// Fuzzer for the pooltag.txt parser and the tag database lookups built on it. Besides not
// crashing: every line before a Ctrl-Z line that is not blank is an entry, a diagnostic, a prose
// line or a comment ("rem ...", "// ...").
#include "parse/pooltag_txt.h"

#include <cstdint>
#include <string_view>

#include "attrib/tag_database.h"
#include "line_accounting.h"
#include "parse/text.h"

namespace {

namespace fuzz = poolscope::fuzz;
namespace parse = poolscope::parse;

// Lines up to the first Ctrl-Z line (the parser's end of input) that are not blank, and how many
// of them look like a comment (an upper bound: "rem - x.sys" is a tag named "rem").
struct Lines {
  std::size_t text = 0;
  std::size_t comment_like = 0;
};

Lines count_lines(std::string_view text) {
  Lines n;
  bool first = true, ended = false;
  fuzz::for_each_line(text, [&](std::string_view line) {
    if (first && line.starts_with("\xEF\xBB\xBF")) line.remove_prefix(3);
    first = false;
    const std::string_view t = parse::trim(line);
    if (ended || t.empty()) return;
    if (t[0] == '\x1a') {
      ended = true;
      return;
    }
    ++n.text;
    const bool rem = t.size() >= 3 && parse::equals_ignore_case(t.substr(0, 3), "rem") &&
                     (t.size() == 3 || parse::is_blank(t[3]));
    if (rem || t.starts_with("//")) ++n.comment_like;
  });
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = poolscope::parse::parse_pooltag_txt(text);
  if (!parsed) return 0;
  const Lines lines = count_lines(text);
  const std::size_t accounted =
      parsed->entries.size() + parsed->diagnostics.size() + parsed->prose.size();
  fuzz::require(accounted <= lines.text && accounted + lines.comment_like >= lines.text);
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
