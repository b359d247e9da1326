// Live Linux source. Only system calls here; parsing is in parse/slabinfo.
#include "source/linux/live_linux.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

#include "core/forward_error.h"
#include "parse/kmem.h"
#include "parse/slabinfo.h"
#include "source/allocinfo_keys.h"
#include "trace/allocinfo.h"

namespace poolscope {

namespace {

// Reads a whole proc file from offset 0 into buf, reusing its capacity; the fd stays open so a
// sample costs one lseek + reads, not open/close.
Result<void> read_all(int fd, const std::string& path, std::string& buf) {
  if (::lseek(fd, 0, SEEK_SET) < 0) {
    int err = errno;
    return make_error(ErrorCode::kEnvironment, "cannot seek " + path + ": " + std::strerror(err),
                      err);
  }
  if (buf.capacity() < 64 * 1024) buf.reserve(64 * 1024);
  buf.resize(buf.capacity());
  std::size_t used = 0;
  for (;;) {
    if (used == buf.size()) buf.resize(buf.size() * 2);
    ssize_t n = ::read(fd, buf.data() + used, buf.size() - used);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      return make_error(ErrorCode::kEnvironment, "cannot read " + path + ": " + std::strerror(err),
                        err);
    }
    if (n == 0) break;
    used += static_cast<std::size_t>(n);
  }
  buf.resize(used);
  return {};
}

Result<int> open_proc(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) return fd;
  int err = errno;
  std::string msg = "cannot read " + path + ": " + std::strerror(err);
  if (err == EACCES || err == EPERM) {
    msg +=
        ". It is readable by root only: run poolscope as root (sudo poolscope ...), or give it "
        "CAP_DAC_READ_SEARCH";
  } else if (err == ENOENT) {
    msg +=
        ". This kernel does not expose it (CONFIG_SLUB_DEBUG / CONFIG_PROC_FS off, or /proc not "
        "mounted)";
  }
  return make_error(ErrorCode::kEnvironment, msg, err);
}

std::string read_small_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  char buf[64];
  ssize_t n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

// An optional kernel-memory file: its fd, or -1 and a note saying what is missing and why.
int open_optional(const std::string& path, std::string_view what, std::vector<std::string>& notes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) return fd;
  const int err = errno;
  if (err == EACCES || err == EPERM) {
    notes.push_back(std::string(what) + ": needs root (" + path + " is readable by root only)");
  } else {
    notes.push_back(std::string(what) + ": " + path + " is absent on this kernel");
  }
  return -1;
}

// Reads an optional file; false (and the fd closed) when it stopped being readable.
bool read_optional(int& fd, const std::string& path, std::string& buf) {
  if (fd < 0) return false;
  if (read_all(fd, path, buf)) return true;
  ::close(fd);
  fd = -1;
  return false;
}

std::optional<parse::SocketMemoryLimit> read_socket_limit(const std::string& path) {
  const std::string text = read_small_file(path);
  auto limit = parse::parse_socket_memory_limit(text);
  if (!limit) return std::nullopt;
  return *limit;
}

// Merged caches: every name in /sys/kernel/slab that is a symlink points at a unique id directory
// (":0000064"); names sharing a target are one cache. slabinfo shows one of them.
parse::SlabAttributeMap scan_sys_slab(const std::string& dir) {
  parse::SlabAttributeMap attributes;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return attributes;
  std::map<std::string, std::vector<std::string>> by_target;
  std::vector<std::string> plain;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == ".." || name.empty() || name[0] == ':') continue;
    std::string full = dir + "/" + name;
    char target[256];
    ssize_t n = ::readlink(full.c_str(), target, sizeof target - 1);
    if (n > 0) {
      std::string t(target, static_cast<std::size_t>(n));
      auto slash = t.rfind('/');
      by_target[slash == std::string::npos ? t : t.substr(slash + 1)].push_back(name);
    } else {
      plain.push_back(name);
    }
  }
  ::closedir(d);
  for (auto& [target, names] : by_target) {
    bool reclaimable = read_small_file(dir + "/" + target + "/reclaim_account").starts_with("1");
    for (const auto& name : names) {
      auto& attr = attributes[name];
      attr.reclaimable = reclaimable;
      for (const auto& other : names) {
        if (other != name) attr.aliases.push_back(other);
      }
    }
  }
  for (const auto& name : plain) {
    attributes[name].reclaimable =
        read_small_file(dir + "/" + name + "/reclaim_account").starts_with("1");
  }
  return attributes;
}

class LinuxSource final : public Source {
 public:
  LinuxSource(const Clock& clock, LinuxPaths paths, int slab_fd, int mem_fd)
      : clock_(clock), paths_(std::move(paths)), slab_fd_(slab_fd), mem_fd_(mem_fd) {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) == 0) host_ = host;
    long page = ::sysconf(_SC_PAGESIZE);
    page_size_ = page > 0 ? static_cast<std::uint64_t>(page) : 4096;
    if (paths_.kernel_memory) open_kernel_memory();
  }
  ~LinuxSource() override {
    ::close(slab_fd_);
    ::close(mem_fd_);
    for (int fd :
         {vmalloc_fd_, zoneinfo_fd_, sockstat_fd_, sockstat6_fd_, bufinfo_fd_, allocinfo_fd_}) {
      if (fd >= 0) ::close(fd);
    }
  }
  LinuxSource(const LinuxSource&) = delete;
  LinuxSource& operator=(const LinuxSource&) = delete;

  Result<Snapshot> sample() override {
    Snapshot snapshot;
    snapshot.wall_time = clock_.wall();
    snapshot.monotonic_ns = clock_.monotonic_ns();
    snapshot.host = host_;
    snapshot.source = "live:linux";
    snapshot.entries.reserve(last_entry_count_);
    if (auto ok = read_all(slab_fd_, paths_.slabinfo, slab_text_); !ok) return forward_error(ok);
    if (auto ok = read_all(mem_fd_, paths_.meminfo, mem_text_); !ok) return forward_error(ok);
    std::size_t unknown_caches = 0;
    parse::SlabinfoOptions options{.page_size = page_size_,
                                   .attributes = &attributes_,
                                   .unknown_caches = &unknown_caches,
                                   .line_memo = &line_memo_};
    diagnostics_.clear();
    if (auto ok = parse::parse_slabinfo_into(slab_text_, options, snapshot, diagnostics_); !ok) {
      return make_error(ok.error().code, paths_.slabinfo + ": " + ok.error().message);
    }
    if (!diagnostics_.empty()) {
      return make_error(ErrorCode::kInternal,
                        paths_.slabinfo + ":" + std::to_string(diagnostics_.front().line) + ": " +
                            diagnostics_.front().message +
                            " (this kernel's slabinfo layout is new to poolscope)");
    }
    // A cache created since the sysfs scan (module loaded) gets its aliases and reclaim flag from
    // one rescan; names still missing after it are remembered with the name-based guess, so the hot
    // path stays free of sysfs I/O.
    if (unknown_caches > 0 && !rescanning_) {
      attributes_ = scan_sys_slab(paths_.sys_slab);
      line_memo_.clear();
      sysfs_available_ = !attributes_.empty();
      for (const auto& e : snapshot.entries) {
        if (!attributes_.contains(e.key.name)) {
          attributes_[e.key.name].reclaimable = parse::is_usually_reclaimable(e.key.name);
        }
      }
      rescanning_ = true;
      auto again = sample();
      rescanning_ = false;
      return again;
    }
    auto meminfo = parse::parse_meminfo(mem_text_);
    if (!meminfo)
      return make_error(meminfo.error().code, paths_.meminfo + ": " + meminfo.error().message);
    parse::apply_meminfo(*meminfo, snapshot);
    if (paths_.kernel_memory) sample_kernel_memory(*meminfo, snapshot);
    if (!sysfs_available_) {
      snapshot.notes.push_back(paths_.sys_slab +
                               " is not available: merged-cache aliases unknown, "
                               "reclaimable caches guessed from their names");
    }
    last_entry_count_ = snapshot.entries.size();
    return snapshot;
  }

  std::string describe() const override { return "live:linux"; }

 private:
  void open_kernel_memory() {
    vmalloc_fd_ = open_optional(paths_.vmallocinfo, "vmalloc per caller", kmem_notes_);
    zoneinfo_fd_ = open_optional(paths_.zoneinfo,
                                 "per-CPU free pages (mem:unaccounted counts them)", kmem_notes_);
    sockstat_fd_ = open_optional(paths_.sockstat, "socket memory", kmem_notes_);
    sockstat6_fd_ = open_optional(paths_.sockstat6, "IPv6 fragment memory", kmem_notes_);
    tcp_mem_ = read_socket_limit(paths_.tcp_mem);
    udp_mem_ = read_socket_limit(paths_.udp_mem);
    std::vector<std::string> dmabuf_notes;
    bufinfo_fd_ = open_optional(paths_.dmabuf_bufinfo, "DMA-BUF per exporter", dmabuf_notes);
    if (bufinfo_fd_ < 0) {
      struct stat st {};
      dmabuf_sysfs_ = ::stat(paths_.dmabuf_sysfs.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
      if (!dmabuf_sysfs_) {
        kmem_notes_.push_back(dmabuf_notes.front() + " and " + paths_.dmabuf_sysfs +
                              " is absent: DMA-BUF per exporter unknown");
      }
    }
    std::vector<std::string> allocinfo_notes;
    allocinfo_fd_ = open_optional(paths_.allocinfo, "allocation call sites", allocinfo_notes);
    if (allocinfo_fd_ < 0) {
      kmem_notes_.push_back(
          allocinfo_notes.front() +
          " (memory allocation profiling: CONFIG_MEM_ALLOC_PROFILING, Linux 6.10+): no "
          "per-call-site keys");
    }
  }

  void sample_kernel_memory(const parse::Meminfo& meminfo, Snapshot& snapshot) {
    parse::KernelMemoryOptions options;
    if (read_optional(zoneinfo_fd_, paths_.zoneinfo, kmem_text_)) {
      options.pcp_free_bytes = parse::zoneinfo_pcp_pages(kmem_text_).value_or(0) * page_size_;
    }
    parse::apply_kernel_memory(meminfo, options, snapshot);
    // vmallocinfo is long (thousands of lines) and walks the kernel's area list under a lock:
    // read again only when VmallocUsed moved.
    if (vmalloc_fd_ >= 0 && (!vmalloc_read_ || meminfo.vmalloc_used != vmalloc_used_at_read_)) {
      if (read_optional(vmalloc_fd_, paths_.vmallocinfo, kmem_text_)) {
        Snapshot callers;
        parse::apply_vmalloc_callers(parse::parse_vmallocinfo(kmem_text_, page_size_), callers);
        vmalloc_entries_ = std::move(callers.entries);
        vmalloc_used_at_read_ = meminfo.vmalloc_used;
        vmalloc_read_ = true;
      }
    }
    if (vmalloc_read_) {
      snapshot.entries.insert(snapshot.entries.end(), vmalloc_entries_.begin(),
                              vmalloc_entries_.end());
    }
    parse::Sockstat sockstat;
    bool have_sockstat = false;
    if (read_optional(sockstat_fd_, paths_.sockstat, kmem_text_)) {
      have_sockstat = parse::parse_sockstat(kmem_text_, sockstat).has_value();
    }
    if (read_optional(sockstat6_fd_, paths_.sockstat6, kmem_text_)) {
      have_sockstat = parse::parse_sockstat(kmem_text_, sockstat).has_value() || have_sockstat;
    }
    if (have_sockstat) parse::apply_sockets(sockstat, tcp_mem_, udp_mem_, page_size_, snapshot);
    if (read_optional(bufinfo_fd_, paths_.dmabuf_bufinfo, kmem_text_)) {
      parse::apply_dmabuf(parse::parse_dmabuf_bufinfo(kmem_text_), snapshot);
    } else if (dmabuf_sysfs_) {
      parse::apply_dmabuf(read_dmabuf_sysfs(), snapshot);
    }
    if (read_optional(allocinfo_fd_, paths_.allocinfo, kmem_text_)) {
      apply_allocinfo(trace::parse_allocinfo(kmem_text_), snapshot);
    }
    snapshot.notes.insert(snapshot.notes.end(), kmem_notes_.begin(), kmem_notes_.end());
  }

  // /sys/kernel/dmabuf/buffers/<inode>/{exporter_name,size}, one directory per buffer.
  std::vector<parse::DmabufExporter> read_dmabuf_sysfs() {
    std::vector<parse::DmabufExporter> out;
    DIR* d = ::opendir(paths_.dmabuf_sysfs.c_str());
    if (!d) return out;
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] == '.') continue;
      const std::string dir = paths_.dmabuf_sysfs + "/" + e->d_name;
      const auto size = parse::parse_u64(parse::trim(read_small_file(dir + "/size")));
      const std::string exporter(parse::trim(read_small_file(dir + "/exporter_name")));
      if (size) parse::add_dmabuf(out, exporter.empty() ? "?" : exporter, *size);
    }
    ::closedir(d);
    return out;
  }

  const Clock& clock_;
  LinuxPaths paths_;
  int slab_fd_;
  int mem_fd_;
  std::string host_;
  std::uint64_t page_size_ = 4096;
  std::string slab_text_, mem_text_;
  std::vector<parse::Diagnostic> diagnostics_;
  parse::SlabAttributeMap attributes_;
  std::vector<const parse::SlabAttributeMap::value_type*> line_memo_;
  bool rescanning_ = false;
  bool sysfs_available_ = false;
  std::size_t last_entry_count_ = 0;
  // Kernel memory outside slab: optional files (-1 when absent or root-only, see kmem_notes_).
  int vmalloc_fd_ = -1, zoneinfo_fd_ = -1, sockstat_fd_ = -1, sockstat6_fd_ = -1, bufinfo_fd_ = -1,
      allocinfo_fd_ = -1;
  bool dmabuf_sysfs_ = false;
  std::optional<parse::SocketMemoryLimit> tcp_mem_, udp_mem_;
  std::vector<std::string> kmem_notes_;
  std::string kmem_text_;
  bool vmalloc_read_ = false;
  std::optional<std::uint64_t> vmalloc_used_at_read_;
  std::vector<Entry> vmalloc_entries_;
};

}  // namespace

Result<std::unique_ptr<Source>> open_linux_source(const Clock& clock, const LinuxPaths& paths) {
  auto slab_fd = open_proc(paths.slabinfo);
  if (!slab_fd) return forward_error(slab_fd);
  auto mem_fd = open_proc(paths.meminfo);
  if (!mem_fd) {
    ::close(*slab_fd);
    return forward_error(mem_fd);
  }
  return std::make_unique<LinuxSource>(clock, paths, *slab_fd, *mem_fd);
}

Result<std::unique_ptr<Source>> open_live_source(const Clock& clock) {
  return open_linux_source(clock, LinuxPaths{});
}

}  // namespace poolscope
