// WinDbg !vm parser: reads "Name: pages (KB Kb)" lines and the "*****" warning lines.
#include "parse/vm.h"

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "core/forward_error.h"
#include "parse/poolused.h"  // windbg_command

namespace poolscope::parse {

namespace {

// !vm's "maximum" of a pool that has none (Windows 8.1 and later size the pools dynamically).
constexpr std::uint64_t kNoLimitPages = 4294967296ull;  // 2^32 pages
constexpr std::uint64_t kNoLimitKb = 17179869184ull;    // 2^32 pages of 4 KB
constexpr std::uint64_t kNegative = 1ull << 63;         // a signed count printed unsigned

enum class Field : std::uint8_t {
  kNonPagedUsage,
  kNonPagedNxUsage,
  kNonPagedMax,
  kPagedUsage,
  kPagedMax,
  kPhysicalMemory,
  kAvailablePages,
  kCount
};

struct FieldName {
  std::string_view label;
  Field field;
};
constexpr std::array<FieldName, 7> kFields = {{
    {"NonPagedPool Usage", Field::kNonPagedUsage},
    {"NonPagedPoolNx Usage", Field::kNonPagedNxUsage},
    {"NonPagedPool Max", Field::kNonPagedMax},
    {"PagedPool Usage", Field::kPagedUsage},
    {"PagedPool Maximum", Field::kPagedMax},
    {"Physical Memory", Field::kPhysicalMemory},
    {"Available Pages", Field::kAvailablePages},
}};

std::optional<Field> field_named(std::string_view label) {
  for (const auto& f : kFields) {
    if (f.label == label) return f.field;
  }
  return std::nullopt;
}

struct PagesKb {
  std::uint64_t pages = 0;
  std::uint64_t kb = 0;
};

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Digits at pos (moved past them); nullopt when there are none or they overflow.
std::optional<std::uint64_t> read_u64(std::string_view s, std::size_t& pos) {
  const std::size_t start = pos;
  std::uint64_t value = 0;
  bool overflow = false;
  while (pos < s.size() && is_digit(s[pos])) {
    auto d = static_cast<std::uint64_t>(s[pos] - '0');
    if (value > (UINT64_MAX - d) / 10) overflow = true;
    value = value * 10 + d;
    ++pos;
  }
  if (pos == start || overflow) return std::nullopt;
  return value;
}

void skip_blanks(std::string_view s, std::size_t& pos) {
  while (pos < s.size() && is_blank(s[pos])) ++pos;
}

// "   877   (    3508 Kb)" and anything after the ")" (authors annotate lines).
std::optional<PagesKb> parse_pages_kb(std::string_view rest) {
  std::size_t pos = 0;
  skip_blanks(rest, pos);
  auto pages = read_u64(rest, pos);
  if (!pages) return std::nullopt;
  skip_blanks(rest, pos);
  if (pos >= rest.size() || rest[pos] != '(') return std::nullopt;
  ++pos;
  skip_blanks(rest, pos);
  auto kb = read_u64(rest, pos);
  if (!kb) return std::nullopt;
  skip_blanks(rest, pos);
  if (pos + 2 > rest.size() || (rest[pos] != 'K' && rest[pos] != 'k') ||
      (rest[pos + 1] != 'b' && rest[pos + 1] != 'B')) {
    return std::nullopt;
  }
  pos += 2;
  skip_blanks(rest, pos);
  if (pos >= rest.size() || rest[pos] != ')') return std::nullopt;
  return PagesKb{*pages, *kb};
}

// Any number of 2^63 or more in the text: a negative value printed unsigned.
bool has_wrapped_number(std::string_view s) {
  std::size_t pos = 0;
  while (pos < s.size()) {
    if (!is_digit(s[pos])) {
      ++pos;
      continue;
    }
    const std::size_t start = pos;
    auto value = read_u64(s, pos);
    if (pos == start) ++pos;
    if (!value || *value >= kNegative) return true;
  }
  return false;
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

bool ends_with_ignoring_case(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() &&
         equals_ignoring_case(text.substr(text.size() - suffix.size()), suffix);
}

// What one !vm output says; the last output in a text wins.
struct VmValues {
  std::array<std::optional<PagesKb>, static_cast<std::size_t>(Field::kCount)> field;
  std::optional<std::uint64_t> failures_any, failures_nonpaged, failures_paged;
  std::vector<std::string> other_failures;
  std::vector<std::string> notes;
  bool any_pool_line = false;

  const std::optional<PagesKb>& get(Field f) const { return field[static_cast<std::size_t>(f)]; }
};

class VmParser {
 public:
  VmParser(Snapshot& snapshot, std::vector<Diagnostic>& diagnostics)
      : snapshot_(snapshot), diagnostics_(diagnostics) {}

  Result<void> run(std::string_view text) {
    LineReader lines(text);
    std::string_view line;
    while (lines.next(line)) handle(line, lines.line_number());
    if (!values_.any_pool_line && !any_output_with_pools_) {
      return make_error(ErrorCode::kInput,
                        "not !vm output: no \"NonPagedPool Usage:\" or \"PagedPool Usage:\" line");
    }
    if (values_.any_pool_line) {
      ++outputs_;
    } else {
      values_ = std::move(last_with_pools_);
    }
    apply();
    return {};
  }

 private:
  void handle(std::string_view line, std::size_t number) {
    std::string_view t = trim(line);
    if (t.empty()) return;
    if (auto command = windbg_command(t)) {
      active_ = starts_with_word(*command, "!vm");
      if (active_) {
        if (values_.any_pool_line) {
          ++outputs_;
          last_with_pools_ = std::move(values_);
          any_output_with_pools_ = true;
        }
        values_ = VmValues{};
      }
      return;
    }
    if (!active_) return;
    if (t[0] == '*') {
      star_line(t, number);
      return;
    }
    const std::size_t colon = t.find(':');
    if (colon == std::string_view::npos) return;  // process table rows, "Syspart SharedCommit 0"
    std::string_view label = trim(t.substr(0, colon));
    std::string_view rest = t.substr(colon + 1);
    auto field = field_named(label);
    auto value = parse_pages_kb(rest);
    if (!field) {
      if (value && value->pages >= kNegative) wrapped_note(label, value->pages);
      return;
    }
    if (*field != Field::kPhysicalMemory && *field != Field::kAvailablePages) {
      values_.any_pool_line = true;
    }
    if (!value) {
      diagnostics_.push_back({number, "expected \"" + std::string(label) +
                                          ": <pages> (<KB> Kb)\" with unsigned integers"});
      return;
    }
    if (value->pages >= kNegative) {
      wrapped_note(label, value->pages);
      return;
    }
    if (value->kb > UINT64_MAX / 1024) {
      diagnostics_.push_back({number, "\"" + std::string(label) + "\" KB value is too large"});
      return;
    }
    values_.field[static_cast<std::size_t>(*field)] = *value;
  }

  void wrapped_note(std::string_view label, std::uint64_t pages) {
    values_.notes.push_back("!vm \"" + std::string(label) + "\" is " + std::to_string(pages) +
                            " pages: a negative number (" +
                            std::to_string(static_cast<std::int64_t>(pages)) +
                            ") printed unsigned, so it is not used");
  }

  // "********** 3 pool allocations have failed **********", "*** Virtual Memory Usage ***",
  // "********** Excessive NonPaged Pool Usage *****", "******* 351175 kernel stack PTE ...".
  void star_line(std::string_view t, std::size_t number) {
    std::size_t begin = 0, end = t.size();
    while (begin < end && t[begin] == '*') ++begin;
    while (end > begin && t[end - 1] == '*') --end;
    std::string_view inner = trim(t.substr(begin, end - begin));
    if (inner.empty() || inner == "Virtual Memory Usage") return;
    std::size_t pos = 0;
    if (is_digit(inner[0])) {
      auto count = read_u64(inner, pos);
      std::string_view what = trim(inner.substr(pos));
      const bool overflow = !count;
      if (equals_ignoring_case(what, "pool allocations have failed")) {
        if (overflow) return failure_too_large(number);
        values_.failures_any = *count;
        return;
      }
      if (equals_ignoring_case(what, "nonpaged pool allocations have failed")) {
        if (overflow) return failure_too_large(number);
        values_.failures_nonpaged = *count;
        return;
      }
      if (equals_ignoring_case(what, "paged pool allocations have failed")) {
        if (overflow) return failure_too_large(number);
        values_.failures_paged = *count;
        return;
      }
    }
    // Any other "N ... have failed" (kernel stack PTEs, ...) is a failure too, not just a note.
    if (is_digit(inner[0]) && ends_with_ignoring_case(inner, "have failed")) {
      values_.other_failures.emplace_back(inner);
    }
    std::string note = "!vm: " + std::string(inner);
    if (has_wrapped_number(inner)) {
      note +=
          " (the number is a negative value printed unsigned: WinDbg's commit sums do not "
          "add up on this build)";
    }
    values_.notes.push_back(std::move(note));
  }

  void failure_too_large(std::size_t number) {
    diagnostics_.push_back({number,
                            "expected \"N pool allocations have failed\" with N a 64-bit "
                            "unsigned integer"});
  }

  static std::uint64_t bytes(const PagesKb& v) { return v.kb * 1024; }

  void set_limit(PoolTotal& total, const std::optional<PagesKb>& max, std::string_view label) {
    if (!max) return;
    if (max->pages == kNoLimitPages || max->kb == kNoLimitKb) {
      total.limit_bytes.reset();
      total.limit_note =
          "no fixed limit: !vm gives " + std::string(label) +
          " as 4294967296 pages (16 TiB), its value for the dynamic pools of Windows 8.1 and "
          "later; the pool grows until commit or kernel address space runs out";
      return;
    }
    total.limit_bytes = bytes(*max);
    total.limit_note = "\"" + std::string(label) + "\" from !vm";
  }

  void apply() {
    const VmValues& v = values_;
    snapshot_.format = "vm";
    const auto np = v.get(Field::kNonPagedUsage);
    const auto nx = v.get(Field::kNonPagedNxUsage);
    const auto np_max = v.get(Field::kNonPagedMax);
    const auto paged = v.get(Field::kPagedUsage);
    const auto paged_max = v.get(Field::kPagedMax);
    const std::uint64_t any_failures = v.failures_any.value_or(0);
    if (np || nx || np_max) {
      PoolTotal& total = total_for(snapshot_, PoolKind::kNonPaged);
      if (np || nx) {
        // Two KB values below 2^54 each (checked on reading): the sum cannot overflow.
        total.used_bytes = (np ? bytes(*np) : 0) + (nx ? bytes(*nx) : 0);
      }
      set_limit(total, np_max, "NonPagedPool Max");
      total.failures = any_failures + v.failures_nonpaged.value_or(0);
    }
    if (paged || paged_max) {
      PoolTotal& total = total_for(snapshot_, PoolKind::kPaged);
      if (paged) total.used_bytes = bytes(*paged);
      set_limit(total, paged_max, "PagedPool Maximum");
      total.failures = any_failures + v.failures_paged.value_or(0);
    }
    if (auto m = v.get(Field::kPhysicalMemory)) snapshot_.memory_total_bytes = bytes(*m);
    if (auto m = v.get(Field::kAvailablePages)) snapshot_.memory_available_bytes = bytes(*m);
    if (v.failures_any) {
      snapshot_.notes.push_back(
          "!vm: " + std::to_string(*v.failures_any) +
          " pool allocations have failed (nt!ExPoolFailures counts every pool type, so the count "
          "is given for each pool)");
    }
    snapshot_.other_failures = v.other_failures;
    for (const auto& note : v.notes) snapshot_.notes.push_back(note);
    if (outputs_ > 1) {
      snapshot_.notes.push_back(std::to_string(outputs_) +
                                " !vm outputs in one text: the last one is used");
    }
  }

  Snapshot& snapshot_;
  std::vector<Diagnostic>& diagnostics_;
  bool active_ = true;  // until a kd prompt for another command
  VmValues values_;
  VmValues last_with_pools_;
  bool any_output_with_pools_ = false;
  std::size_t outputs_ = 0;  // outputs with pool lines
};

}  // namespace

bool is_vm_line(std::string_view line) {
  std::string_view t = trim(line);
  if (t == "*** Virtual Memory Usage ***") return true;
  for (std::string_view label : {"NonPagedPool Usage:", "NonPagedPoolNx Usage:",
                                 "NonPagedPool Max:", "PagedPool Usage:", "PagedPool Maximum:"}) {
    if (t.starts_with(label)) return true;
  }
  auto command = windbg_command(t);
  return command && starts_with_word(*command, "!vm");
}

Result<void> parse_vm_into(std::string_view text, Snapshot& snapshot,
                           std::vector<Diagnostic>& diagnostics) {
  VmParser parser(snapshot, diagnostics);
  return parser.run(text);
}

Result<ParsedSnapshot> parse_vm(std::string_view text) {
  ParsedSnapshot out;
  auto ok = parse_vm_into(text, out.snapshot, out.diagnostics);
  if (!ok) return forward_error(ok);
  return out;
}

void apply_vm(const Snapshot& vm, Snapshot& snapshot) {
  for (const PoolTotal& from : vm.totals) {
    PoolTotal& to = total_for(snapshot, from.pool);
    if (from.used_bytes) to.used_bytes = from.used_bytes;
    if (from.limit_bytes || !from.limit_note.empty()) {
      to.limit_bytes = from.limit_bytes;
      to.limit_note = from.limit_note;
    }
    if (from.failures) to.failures = from.failures;
  }
  if (vm.memory_total_bytes) snapshot.memory_total_bytes = vm.memory_total_bytes;
  if (vm.memory_available_bytes) snapshot.memory_available_bytes = vm.memory_available_bytes;
  snapshot.other_failures.insert(snapshot.other_failures.end(), vm.other_failures.begin(),
                                 vm.other_failures.end());
  for (const auto& note : vm.notes) snapshot.notes.push_back(note);
}

}  // namespace poolscope::parse
