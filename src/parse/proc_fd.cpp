// /proc/PID/fd link target classification and /proc/PID/stat parsing.
#include "parse/proc_fd.h"

#include <array>
#include <vector>

#include "parse/text.h"

namespace poolscope::parse {

namespace {

struct TargetRule {
  std::string_view text;
  bool exact;  // whole target, or a prefix
  FdKind kind;
};

// Checked in order; the strings are what Linux 6.x prints (collected with readlink on a 6.18
// kernel). anon_inode names in brackets come from anon_inode_getfd(name) callers; inotify has
// none.
constexpr std::array<TargetRule, 13> kRules = {{
    {"socket:[", false, FdKind::kSocket},
    {"pipe:[", false, FdKind::kPipe},
    {"anon_inode:[eventfd]", true, FdKind::kEventfd},
    {"anon_inode:[eventpoll]", true, FdKind::kEpoll},
    {"anon_inode:[timerfd]", true, FdKind::kTimerfd},
    {"anon_inode:inotify", true, FdKind::kInotify},
    {"anon_inode:[signalfd]", true, FdKind::kSignalfd},
    {"anon_inode:[io_uring]", true, FdKind::kIoUring},
    {"anon_inode:[pidfd]", true, FdKind::kPidfd},
    {"pidfd:", false, FdKind::kPidfd},
    {"anon_inode:", false, FdKind::kAnonOther},
    {"/", false, FdKind::kFile},
    {"", false, FdKind::kOther},
}};

unexpected<Error> stat_error(std::string message) {
  return make_error(ErrorCode::kInput, "/proc/PID/stat: " + std::move(message));
}

}  // namespace

FdKind classify_fd_target(std::string_view target) {
  for (const TargetRule& rule : kRules) {
    if (rule.exact ? target == rule.text : target.starts_with(rule.text)) return rule.kind;
  }
  return FdKind::kOther;
}

Result<ProcStat> parse_proc_stat(std::string_view text) {
  const std::size_t open = text.find('(');
  const std::size_t close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
    return stat_error("expected \"PID (comm) state ...\"; no parenthesised comm found");
  }
  ProcStat stat;
  auto pid = parse_u64(trim(text.substr(0, open)));
  if (!pid) return stat_error("expected the pid (a decimal number) before \"(\"");
  stat.pid = *pid;
  stat.comm = std::string(text.substr(open + 1, close - open - 1));

  // Fields after the comm: 3 state, 4 ppid, ..., 22 starttime.
  constexpr std::size_t kFirstField = 3;
  constexpr std::size_t kPpidField = 4;
  constexpr std::size_t kThreadsField = 20;
  constexpr std::size_t kStartTimeField = 22;
  std::string_view rest = text.substr(close + 1);
  std::size_t field = kFirstField;
  std::size_t i = 0;
  bool have_ppid = false, have_start = false, have_state = false;
  while (i < rest.size() && field <= kStartTimeField) {
    while (i < rest.size() && (rest[i] == ' ' || rest[i] == '\n')) ++i;
    if (i >= rest.size()) break;
    const std::size_t start = i;
    while (i < rest.size() && rest[i] != ' ' && rest[i] != '\n') ++i;
    const std::string_view value = rest.substr(start, i - start);
    if (field == kFirstField) {
      if (value.size() != 1) return stat_error("expected a one-letter state after the comm");
      stat.state = value[0];
      have_state = true;
    } else if (field == kThreadsField) {
      // num_threads: a number on every kernel; a text that is not one leaves it 0.
      if (auto number = parse_u64(value)) stat.threads = *number;
    } else if (field == kPpidField || field == kStartTimeField) {
      auto number = parse_u64(value);
      if (!number) {
        return stat_error("expected an unsigned number in field " + std::to_string(field) +
                          (field == kPpidField ? " (ppid)" : " (starttime)"));
      }
      if (field == kPpidField) {
        stat.ppid = *number;
        have_ppid = true;
      } else {
        stat.start_time = *number;
        have_start = true;
      }
    }
    ++field;
  }
  if (!have_state || !have_ppid || !have_start) {
    return stat_error("expected at least 22 fields (starttime is field 22); found " +
                      std::to_string(field - 1));
  }
  return stat;
}

std::optional<std::uint64_t> parse_open_files_limit(std::string_view limits) {
  LineReader lines(limits);
  std::string_view line;
  std::vector<std::string_view> fields;
  while (lines.next(line)) {
    // "Max open files            1024                 524288               files"
    if (!line.starts_with("Max open files")) continue;
    split_fields(line.substr(14), fields);
    if (fields.empty()) return std::nullopt;
    return parse_u64(fields[0]);  // "unlimited" is not a number
  }
  return std::nullopt;
}

Result<FileNr> parse_file_nr(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  std::vector<std::string_view> fields;
  split_fields(text, fields);
  const auto allocated = fields.size() == 3 ? parse_u64(fields[0]) : std::nullopt;
  const auto max = fields.size() == 3 ? parse_u64(fields[2]) : std::nullopt;
  if (!allocated || !max) {
    return make_error(ErrorCode::kInput,
                      "not /proc/sys/fs/file-nr: expected three numbers, \"allocated free max\"");
  }
  return FileNr{*allocated, *max};
}

}  // namespace poolscope::parse
