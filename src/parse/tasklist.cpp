// Windows `tasklist` output (see tasklist.h).
#include "parse/tasklist.h"

#include <algorithm>
#include <string>

#include "core/names.h"

namespace poolscope::parse {

namespace {

constexpr std::string_view kCsvHeader = "\"Image Name\",\"PID\"";

bool is_rule(std::string_view line) {
  const std::string_view t = trim(line);
  return !t.empty() && t.find_first_not_of("= ") == std::string_view::npos;
}

// The [begin, end) of each run of '=' in the rule line.
std::vector<std::pair<std::size_t, std::size_t>> columns(std::string_view rule) {
  std::vector<std::pair<std::size_t, std::size_t>> out;
  for (std::size_t i = 0; i < rule.size();) {
    if (rule[i] != '=') {
      ++i;
      continue;
    }
    const std::size_t begin = i;
    while (i < rule.size() && rule[i] == '=') ++i;
    out.emplace_back(begin, i);
  }
  return out;
}

std::string_view cut(std::string_view line, std::size_t begin, std::size_t end) {
  if (begin >= line.size()) return {};
  return trim(line.substr(begin, end - begin));
}

// The first two fields of a CSV line, quotes removed ("" inside a field is one quote).
bool csv_two(std::string_view line, std::string& first, std::string& second) {
  std::string* fields[2] = {&first, &second};
  std::size_t i = 0;
  for (std::string* f : fields) {
    f->clear();
    if (i >= line.size() || line[i] != '"') return false;
    ++i;
    for (;;) {
      if (i >= line.size()) return false;
      if (line[i] == '"') {
        if (i + 1 < line.size() && line[i + 1] == '"') {
          f->push_back('"');
          i += 2;
          continue;
        }
        ++i;
        break;
      }
      f->push_back(line[i++]);
    }
    if (f == fields[0]) {
      if (i >= line.size() || line[i] != ',') return false;
      ++i;
    }
  }
  return true;
}

}  // namespace

bool looks_like_tasklist(std::string_view head) {
  LineReader lines(head);
  std::string_view line;
  bool header = false;
  while (lines.next(line)) {
    const std::string_view t = trim(line);
    if (t.empty()) continue;
    if (header) return is_rule(t);
    if (t.starts_with(kCsvHeader)) return true;
    if (!t.starts_with("Image Name") || t.find("PID") == std::string_view::npos) return false;
    header = true;
  }
  return false;
}

Result<ParsedTasklist> parse_tasklist(std::string_view text) {
  ParsedTasklist out;
  LineReader lines(text);
  std::string_view line;
  enum class Kind { kUnknown, kHeader, kTable, kCsv } kind = Kind::kUnknown;
  std::vector<std::pair<std::size_t, std::size_t>> cols;
  std::string name, pid_text;
  std::size_t number = 0;
  while (lines.next(line)) {
    ++number;
    const std::string_view t = trim(line);
    if (t.empty()) continue;
    std::string_view image, pid;
    if (kind == Kind::kUnknown) {
      if (t.starts_with(kCsvHeader)) {
        kind = Kind::kCsv;
      } else if (t.starts_with("Image Name") && t.find("PID") != std::string_view::npos) {
        kind = Kind::kHeader;
      }
      continue;
    }
    if (kind == Kind::kHeader) {
      if (!is_rule(line)) break;
      cols = columns(line);
      if (cols.size() < 2) break;
      kind = Kind::kTable;
      continue;
    }
    if (kind == Kind::kTable) {
      image = cut(line, cols[0].first, cols[1].first);
      pid = cut(line, cols[1].first, cols[1].second);
    } else {
      if (!csv_two(t, name, pid_text)) {
        out.diagnostics.push_back({number, "not a tasklist CSV row (\"image\",\"pid\",...)"});
        continue;
      }
      image = name;
      pid = pid_text;
    }
    const auto value = parse_u64(pid);
    if (!value) {
      out.diagnostics.push_back(
          {number, "the PID column holds \"" + std::string(pid) + "\", not a number"});
      continue;
    }
    ProcessFacts& f = out.sample.processes.emplace_back();
    f.pid = *value;
    f.name.assign(image);
    cap_name(f.name, kMaxProcessNameBytes);
  }
  if (kind == Kind::kUnknown || kind == Kind::kHeader) {
    return make_error(ErrorCode::kInput,
                      "not tasklist output (no \"Image Name ... PID\" header with its \"=\" line, "
                      "or CSV header \"Image Name\",\"PID\")");
  }
  std::sort(out.sample.processes.begin(), out.sample.processes.end(),
            [](const ProcessFacts& a, const ProcessFacts& b) { return a.pid < b.pid; });
  return out;
}

}  // namespace poolscope::parse
