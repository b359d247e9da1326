// tracefs instance, per-CPU raw readers and cleanup (Linux system calls only).
#include "trace/linux/session.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/forward_error.h"
#include "parse/text.h"
#include "trace/ring_buffer.h"

namespace poolscope::trace {

namespace fs = std::filesystem;

namespace {

std::string errno_text(int error) {
  return std::strerror(error);
}

Result<std::string> read_text(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    return make_error(ErrorCode::kEnvironment,
                      "cannot read " + path.string() + ": " + errno_text(error) +
                          (error == EACCES || error == EPERM ? " (run as root)" : ""),
                      error);
  }
  std::string text;
  char buffer[8192];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
    if (text.size() > (1u << 20)) break;  // no tracefs layout file is this big
  }
  ::close(fd);
  return text;
}

Result<void> write_text(const fs::path& path, std::string_view value) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    return make_error(ErrorCode::kEnvironment,
                      "cannot open " + path.string() + " for writing: " + errno_text(error) +
                          (error == EACCES || error == EPERM ? " (run as root)" : ""),
                      error);
  }
  ssize_t n;
  do {
    n = ::write(fd, value.data(), value.size());
  } while (n < 0 && errno == EINTR);
  const int error = errno;
  ::close(fd);
  if (n < 0 || static_cast<std::size_t>(n) != value.size()) {
    return make_error(ErrorCode::kEnvironment,
                      "the kernel refused '" + std::string(value) + "' in " + path.string() + ": " +
                          errno_text(error),
                      error);
  }
  return {};
}

bool process_alive(pid_t pid) {
  if (::kill(pid, 0) == 0) return true;
  return errno == EPERM;  // exists, not ours
}

std::string filter_of(const std::vector<std::string>& conditions) {
  std::string out;
  for (const auto& condition : conditions) {
    if (!out.empty()) out += " || ";
    out += condition;
  }
  return out;
}

}  // namespace

std::size_t default_buffer_kb_per_cpu() {
  // 400k events/s x 64 bytes x 0.5 s between reads, all on one CPU.
  return static_cast<std::size_t>(kDesignEventsPerSecond * 64 / 2 / 1024);
}

KmemFilters kmem_filters(const std::vector<std::string>& caches, std::uint64_t sample_mask) {
  KmemFilters filters;
  std::vector<std::string> by_name, by_size;
  for (const auto& cache : caches) {
    const std::uint64_t size = kmalloc_size_of(cache);
    if (size != 0) {
      by_size.push_back("bytes_alloc == " + std::to_string(size));
    } else {
      by_name.push_back("name == \"" + cache + "\"");
    }
  }
  if (!caches.empty()) {
    filters.kmalloc = filter_of(by_size);
    filters.kmalloc_off = by_size.empty();
    // A named cache's objects may be freed by kfree (never filtered by cache: it has no name) or
    // kmem_cache_free; kmalloc-N objects by kfree only, so kmem_cache_* stay off without names.
    filters.kmem_cache_off = by_name.empty();
    filters.kmem_cache_alloc = filter_of(by_name);
    filters.kmem_cache_free = filters.kmem_cache_alloc;
  }
  if (sample_mask != 0) {
    char sampled[48];
    std::snprintf(sampled, sizeof sampled, "!(ptr & 0x%llx)",
                  static_cast<unsigned long long>(sample_mask));
    for (std::string* filter :
         {&filters.kmalloc, &filters.kfree, &filters.kmem_cache_alloc, &filters.kmem_cache_free}) {
      *filter = filter->empty() ? std::string(sampled) : "(" + *filter + ") && " + sampled;
    }
  }
  return filters;
}

std::vector<std::string> tracefs_mount_points(std::string_view mounts) {
  std::vector<std::string> points;
  std::size_t begin = 0;
  while (begin < mounts.size()) {
    std::size_t end = mounts.find('\n', begin);
    if (end == std::string_view::npos) end = mounts.size();
    std::istringstream line{std::string(mounts.substr(begin, end - begin))};
    std::string device, point, type;
    if (line >> device >> point >> type && type == "tracefs") points.push_back(point);
    begin = end + 1;
  }
  return points;
}

std::string tracefs_permission_message(const std::string& point, int error) {
  struct stat st {};
  std::string mode;
  if (::stat(point.c_str(), &st) == 0) {
    char text[64];
    std::snprintf(text, sizeof text, "mode %03o, owner uid %u", st.st_mode & 0777, st.st_uid);
    mode = text;
  }
  return "tracefs is mounted on " + point + " but this user cannot open it (" +
         (mode.empty() ? errno_text(error) : mode) +
         "): tracing kernel allocations through tracefs needs root";
}

Result<fs::path> find_or_mount_tracefs(bool& mounted_here) {
  mounted_here = false;
  std::error_code ec;
  for (const char* candidate : {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}) {
    if (fs::exists(fs::path(candidate) / "instances", ec)) return fs::path(candidate);
  }
  // Mounted but unreadable (root-only, as most distributions mount it) is not "not mounted":
  // /proc/self/mounts says which, to every user.
  std::ifstream mounts_file("/proc/self/mounts");
  std::stringstream mounts;
  mounts << mounts_file.rdbuf();
  for (const auto& point : tracefs_mount_points(mounts.str())) {
    if (::access((fs::path(point) / "instances").c_str(), F_OK) != 0 &&
        (errno == EACCES || errno == EPERM)) {
      return make_error(ErrorCode::kEnvironment, tracefs_permission_message(point, errno), EACCES);
    }
  }
  if (!fs::is_directory("/sys/kernel/tracing", ec)) {
    return make_error(ErrorCode::kEnvironment,
                      "this kernel has no tracefs (/sys/kernel/tracing is missing): allocation "
                      "tracing needs CONFIG_FTRACE and CONFIG_EVENT_TRACING");
  }
  if (::mount("nodev", "/sys/kernel/tracing", "tracefs", 0, nullptr) != 0) {
    const int error = errno;
    return make_error(ErrorCode::kEnvironment,
                      "tracefs is not mounted and mounting it on /sys/kernel/tracing failed: " +
                          errno_text(error) +
                          (error == EPERM ? " (mounting needs root)"
                                          : " (mount -t tracefs nodev "
                                            "/sys/kernel/tracing)"),
                      error);
  }
  mounted_here = true;
  return fs::path("/sys/kernel/tracing");
}

std::vector<std::string> remove_stale_instances(const fs::path& tracefs,
                                                const std::string& prefix) {
  std::vector<std::string> removed;
  DIR* dir = ::opendir((tracefs / "instances").c_str());
  if (dir == nullptr) return removed;
  std::vector<std::string> names;
  while (dirent* entry = ::readdir(dir)) {
    std::string_view name = entry->d_name;
    if (name.starts_with(prefix)) names.emplace_back(name);
  }
  ::closedir(dir);
  for (const auto& name : names) {
    auto pid = parse::parse_u64(std::string_view(name).substr(prefix.size()));
    if (!pid || *pid == 0 || *pid > 0x3fffffff) continue;  // not one of ours
    if (process_alive(static_cast<pid_t>(*pid))) continue;
    if (::rmdir((tracefs / "instances" / name).c_str()) == 0) removed.push_back(name);
  }
  return removed;
}

Result<std::unique_ptr<TraceSession>> TraceSession::start(const SessionOptions& options) {
  std::unique_ptr<TraceSession> session(new TraceSession());
  auto root = find_or_mount_tracefs(session->mounted_here_);
  if (!root) return forward_error(root);
  session->tracefs_ = *root;
  for (const auto& name : remove_stale_instances(*root, options.instance_prefix)) {
    session->notes_.push_back("removed the tracefs instance " + name +
                              " left by a poolscope run that did not end cleanly");
  }

  // The layouts, from the top-level (read-only) files.
  const fs::path events = *root / "events";
  auto header_page = read_text(events / "header_page");
  if (!header_page) return forward_error(header_page);
  auto header_event = read_text(events / "header_event");
  if (!header_event) return forward_error(header_event);
  auto layout = parse_page_layout(*header_page, *header_event);
  if (!layout) return forward_error(layout);
  session->layout_ = *layout;
  session->layout_texts_ = {*header_page, *header_event};
  const char* names[4] = {"kmalloc", "kfree", "kmem_cache_alloc", "kmem_cache_free"};
  EventFormat* targets[4] = {&session->formats_.kmalloc, &session->formats_.kfree,
                             &session->formats_.cache_alloc, &session->formats_.cache_free};
  for (int i = 0; i < 4; ++i) {
    auto text = read_text(events / "kmem" / names[i] / "format");
    if (!text) {
      return make_error(ErrorCode::kEnvironment, std::string("this kernel has no kmem:") +
                                                     names[i] + " trace event (" +
                                                     text.error().message + ")");
    }
    session->layout_texts_.push_back(*text);
    auto format = parse_event_format(*text);
    if (!format) return forward_error(format);
    format->system = "kmem";
    *targets[i] = std::move(*format);
  }

  const fs::path instance =
      *root / "instances" / (options.instance_prefix + std::to_string(::getpid()));
  if (::mkdir(instance.c_str(), 0700) != 0) {
    const int error = errno;
    return make_error(ErrorCode::kEnvironment,
                      "cannot create the tracefs instance " + instance.string() + ": " +
                          errno_text(error) +
                          (error == EACCES || error == EPERM ? " (run as root)" : ""),
                      error);
  }
  session->instance_ = instance;
  // From here on the destructor removes the instance whatever fails.
  session->buffer_kb_ =
      options.buffer_kb_per_cpu != 0 ? options.buffer_kb_per_cpu : default_buffer_kb_per_cpu();
  if (auto r = write_text(instance / "tracing_on", "0"); !r) return forward_error(r);
  if (auto r = write_text(instance / "trace_clock", "mono"); !r) {
    return make_error(ErrorCode::kEnvironment,
                      "this kernel has no 'mono' trace clock (needed to order events across "
                      "CPUs): " +
                          r.error().message);
  }
  if (auto r = write_text(instance / "buffer_size_kb", std::to_string(session->buffer_kb_)); !r) {
    return forward_error(r);
  }
  // The reader is woken when a CPU's buffer is a quarter full (or by its own timeout), not per
  // event: few wakeups, and the buffer still holds twice what arrives between reads.
  (void)write_text(instance / "buffer_percent", "25");  // absent before Linux 5.1: timeout only
  const long page = ::sysconf(_SC_PAGESIZE);
  session->page_shift_ =
      page > 0 ? static_cast<unsigned>(std::countr_zero(static_cast<unsigned long>(page))) : 12;
  session->sample_shift_ = std::min(options.sample_shift, 16u);
  const std::uint64_t sample_mask = ((std::uint64_t{1} << session->sample_shift_) - 1)
                                    << session->page_shift_;
  const KmemFilters filters = kmem_filters(options.caches, sample_mask);
  const std::string* filter_of_event[4] = {&filters.kmalloc, &filters.kfree,
                                           &filters.kmem_cache_alloc, &filters.kmem_cache_free};
  for (int i = 0; i < 4; ++i) {
    if (i == 0 && filters.kmalloc_off) continue;
    if (i >= 2 && filters.kmem_cache_off) continue;
    const fs::path event = instance / "events" / "kmem" / names[i];
    if (filter_of_event[i] != nullptr && !filter_of_event[i]->empty()) {
      if (auto r = write_text(event / "filter", *filter_of_event[i]); !r) {
        return make_error(ErrorCode::kUsage, "the kernel rejected the event filter '" +
                                                 *filter_of_event[i] +
                                                 "' (check the --cache "
                                                 "names): " +
                                                 r.error().message);
      }
    }
    if (auto r = write_text(event / "enable", "1"); !r) return forward_error(r);
  }

  // One reader per CPU that has a buffer.
  std::vector<std::pair<int, fs::path>> cpus;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(instance / "per_cpu", ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with("cpu")) continue;
    if (auto n = parse::parse_u64(std::string_view(name).substr(3))) {
      cpus.emplace_back(static_cast<int>(*n), entry.path());
    }
  }
  std::sort(cpus.begin(), cpus.end());
  for (const auto& [cpu, path] : cpus) {
    const int fd = ::open((path / "trace_pipe_raw").c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
      const int error = errno;
      return make_error(
          ErrorCode::kEnvironment,
          "cannot open " + (path / "trace_pipe_raw").string() + ": " + errno_text(error), error);
    }
    session->readers_.push_back(fd);
  }
  if (session->readers_.empty()) {
    return make_error(ErrorCode::kEnvironment,
                      "the tracefs instance has no per_cpu/cpuN/trace_pipe_raw to read");
  }
  session->page_.resize(session->layout_.page_size());
  if (auto r = write_text(instance / "tracing_on", "1"); !r) return forward_error(r);
  return session;
}

Result<void> TraceSession::read(int timeout_ms, const PageVisitor& on_page, bool drain) {
  if (timeout_ms > 0) {
    std::vector<pollfd> fds;
    for (int fd : readers_) fds.push_back({fd, POLLIN, 0});
    // Woken when a buffer fills past buffer_percent; otherwise the timeout paces the reads.
    ::poll(fds.data(), fds.size(), timeout_ms);
  }
  for (std::size_t cpu = 0; cpu < readers_.size(); ++cpu) {
    const int fd = readers_[cpu];
    // A bounded number of pages per CPU per call keeps one busy CPU from starving the others.
    for (int pages = 0; pages < 65536; ++pages) {
      const ssize_t n = ::read(fd, page_.data(), page_.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (n < 0) {
        const int error = errno;
        return make_error(ErrorCode::kEnvironment,
                          "reading the trace buffer failed: " + errno_text(error), error);
      }
      if (n == 0) break;
      const std::span<const std::uint8_t> page(page_.data(), static_cast<std::size_t>(n));
      on_page(cpu, page);
      // A part of the page being written: the rest of this CPU's events come next round, a page
      // at a time (reading on would take them an event or two per read while it writes).
      if (!drain && !page_is_full(page, layout_)) break;
    }
  }
  return {};
}

void TraceSession::stop_events() {
  if (instance_.empty() || removed_) return;
  (void)write_text(instance_ / "tracing_on", "0");
}

LostEvents TraceSession::lost_events() const {
  LostEvents lost;
  if (instance_.empty() || removed_) return lost;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(instance_ / "per_cpu", ec)) {
    auto text = read_text(entry.path() / "stats");
    if (!text) continue;
    parse::LineReader reader(*text);
    std::string_view line;
    while (reader.next(line)) {
      const std::size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      const std::string_view key = parse::trim(line.substr(0, colon));
      auto value = parse::parse_u64(parse::trim(line.substr(colon + 1)));
      if (!value) continue;
      if (key == "overrun") lost.overrun += *value;
      if (key == "dropped events") lost.dropped += *value;
      if (key == "commit overrun") lost.commit_overrun += *value;
    }
  }
  return lost;
}

Result<void> TraceSession::close() {
  for (int fd : readers_) ::close(fd);
  readers_.clear();
  Result<void> result;
  if (!instance_.empty() && !removed_) {
    removed_ = true;
    (void)write_text(instance_ / "tracing_on", "0");
    int rc = -1;
    for (int attempt = 0; attempt < 50; ++attempt) {
      rc = ::rmdir(instance_.c_str());
      if (rc == 0 || errno != EBUSY) break;
      ::usleep(20'000);  // a reader still closing
    }
    if (rc != 0 && errno != ENOENT) {
      const int error = errno;
      result = make_error(ErrorCode::kEnvironment,
                          "could not remove the tracefs instance " + instance_.string() + ": " +
                              errno_text(error) + " (remove it with rmdir as root)",
                          error);
    }
  }
  if (mounted_here_) {
    mounted_here_ = false;
    ::umount2(tracefs_.c_str(), 0);  // busy (someone else started using it): left mounted
  }
  return result;
}

TraceSession::~TraceSession() {
  (void)close();
}

}  // namespace poolscope::trace
