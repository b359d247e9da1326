// The BPF backend's session: libbpf loads the skeleton of poolscope.bpf.c (Linux only).
#include "trace/linux/bpf_session.h"

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <bit>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#if POOLSCOPE_HAVE_BPF
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "poolscope.skel.h"
#endif

namespace poolscope::trace {

#if !POOLSCOPE_HAVE_BPF

struct BpfSession::Skeleton {};

bool bpf_backend_built() {
  return false;
}

Result<std::unique_ptr<BpfSession>> BpfSession::start(const BpfSessionOptions&) {
  return make_error(ErrorCode::kEnvironment,
                    "this poolscope was built without its BPF programs (clang, bpftool and the "
                    "static libbpf were not found at build time, or POOLSCOPE_BPF=OFF)");
}
BpfSession::~BpfSession() = default;
void BpfSession::read(const RecordsVisitor&) {}
std::vector<std::uint64_t> BpfSession::stack(std::int32_t) const {
  return {};
}
void BpfSession::detach() {}
LostEvents BpfSession::lost() const {
  return {};
}
void BpfSession::close() {}

#else

struct BpfSession::Skeleton {
  struct poolscope_bpf* skel = nullptr;
  std::vector<bpf_link*> links;
};

namespace {

// libbpf's messages (warnings and worse) are kept for the error message instead of printed.
thread_local std::string* g_libbpf_log = nullptr;

int on_libbpf_print(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG || g_libbpf_log == nullptr) return 0;
  char line[1024];
  const int n = std::vsnprintf(line, sizeof line, format, args);
  if (n > 0 && g_libbpf_log->size() < 8192) g_libbpf_log->append(line);
  return 0;
}

Error bpf_error(const std::string& what, int error, const std::string& log) {
  std::string text = what + ": " + std::strerror(error);
  if (error == EPERM || error == EACCES) {
    text += " (BPF tracing needs root, or CAP_BPF and CAP_PERFMON, and no kernel lockdown)";
  } else if (error == ENOSYS) {
    text += " (this kernel has no bpf(2): CONFIG_BPF_SYSCALL)";
  }
  // A permission error's cause is said above; libbpf's lines would only repeat it at length.
  if (!log.empty() && error != EPERM && error != EACCES) {
    std::string tail = log;
    while (!tail.empty() && tail.back() == '\n') tail.pop_back();
    if (tail.size() > 400) tail = "..." + tail.substr(tail.size() - 400);
    text += "; libbpf: " + tail;
  }
  return Error{ErrorCode::kEnvironment, error, text};
}

}  // namespace

bool bpf_backend_built() {
  return true;
}

Result<std::unique_ptr<BpfSession>> BpfSession::start(const BpfSessionOptions& options) {
  std::string log;
  g_libbpf_log = &log;
  libbpf_set_print(on_libbpf_print);
  struct LogScope {
    ~LogScope() { g_libbpf_log = nullptr; }
  } log_scope;
  if (::access(options.btf_path.c_str(), R_OK) != 0) {
    const int error = errno;
    return make_error(ErrorCode::kEnvironment,
                      "cannot read the kernel's BTF " + options.btf_path + ": " +
                          std::strerror(error) + " (the BPF backend needs CONFIG_DEBUG_INFO_BTF)",
                      error);
  }

  std::unique_ptr<BpfSession> session(new BpfSession());
  BpfSession& s = *session;
  s.skeleton_ = new Skeleton();
  s.page_bytes_ = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  s.sample_shift_ = std::min(options.sample_shift, 16u);
  s.ring_bytes_ = std::bit_ceil(std::max(options.ring_bytes, s.page_bytes_));
  if (s.ring_bytes_ > (std::size_t{1} << 30)) s.ring_bytes_ = std::size_t{1} << 30;

  bpf_object_open_opts open_options{};
  open_options.sz = sizeof open_options;
  // libbpf relocates against this BTF (CO-RE); the default is the running kernel's own.
  if (options.btf_path != kKernelBtfPath) open_options.btf_custom_path = options.btf_path.c_str();
  struct poolscope_bpf* skel = poolscope_bpf__open_opts(&open_options);
  if (skel == nullptr) {
    return unexpected(bpf_error("cannot open poolscope's BPF programs", errno, log));
  }
  s.skeleton_->skel = skel;
  bpf_map__set_max_entries(skel->maps.ring, static_cast<std::uint32_t>(s.ring_bytes_));
  if (!options.pages) bpf_map__set_max_entries(skel->maps.stacks, 1);
  skel->rodata->sample_shift = s.sample_shift_;
  skel->rodata->page_size = static_cast<std::uint32_t>(s.page_bytes_);

  // What --cache asks for: kmalloc sizes (filtered in the program) and other names.
  bool kmalloc_wanted = options.caches.empty(), cache_events_wanted = options.caches.empty();
  std::uint32_t sizes = 0;
  constexpr std::uint32_t kMaxSizes = sizeof skel->rodata->kmalloc_sizes / sizeof(std::uint32_t);
  bool too_many_sizes = false;
  for (const auto& cache : options.caches) {
    const std::uint64_t size = kmalloc_size_of(cache);
    if (size != 0 && size <= 0x7fffffff) {
      if (sizes < kMaxSizes) {
        skel->rodata->kmalloc_sizes[sizes++] = static_cast<std::uint32_t>(size);
      } else {
        too_many_sizes = true;
      }
      kmalloc_wanted = true;
    } else {
      cache_events_wanted = true;  // a named cache (kmalloc-large too, as for tracefs' filters)
    }
  }
  // Past 16 sizes the processor filters them alone.
  skel->rodata->kmalloc_size_count = too_many_sizes ? 0 : sizes;
  const struct {
    bpf_program* program;
    bool wanted;
  } programs[] = {
      {skel->progs.poolscope_kmalloc, !options.pages && kmalloc_wanted},
      {skel->progs.poolscope_kfree, !options.pages},
      {skel->progs.poolscope_cache_alloc, !options.pages && cache_events_wanted},
      {skel->progs.poolscope_cache_free, !options.pages && cache_events_wanted},
      {skel->progs.poolscope_page_alloc, options.pages},
      {skel->progs.poolscope_page_free, options.pages},
  };
  for (const auto& program : programs) bpf_program__set_autoload(program.program, program.wanted);
  if (poolscope_bpf__load(skel) != 0) {
    return unexpected(bpf_error("the kernel refused poolscope's BPF programs", errno, log));
  }
  s.ring_fd_ = bpf_map__fd(skel->maps.ring);
  s.stacks_fd_ = bpf_map__fd(skel->maps.stacks);

  // The ring: the consumer page (ours to write), then the producer page and the data, which the
  // kernel maps twice in a row so a record that wraps is contiguous.
  s.consumer_ = ::mmap(nullptr, s.page_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, s.ring_fd_, 0);
  if (s.consumer_ == MAP_FAILED) {
    s.consumer_ = nullptr;
    return unexpected(bpf_error("cannot map the BPF ring buffer", errno, log));
  }
  s.producer_ = ::mmap(nullptr, s.page_bytes_ + 2 * s.ring_bytes_, PROT_READ, MAP_SHARED,
                       s.ring_fd_, static_cast<off_t>(s.page_bytes_));
  if (s.producer_ == MAP_FAILED) {
    s.producer_ = nullptr;
    return unexpected(bpf_error("cannot map the BPF ring buffer", errno, log));
  }
  // Attach last, all together, so that no allocation is traced without its free.
  for (const auto& program : programs) {
    if (!program.wanted) continue;
    bpf_link* link = bpf_program__attach(program.program);
    if (link == nullptr) {
      return unexpected(bpf_error(
          std::string("cannot attach the BPF program ") + bpf_program__name(program.program), errno,
          log));
    }
    s.skeleton_->links.push_back(link);
  }
  return session;
}

BpfSession::~BpfSession() {
  close();
  delete skeleton_;
}

void BpfSession::read(const RecordsVisitor& on_records) {
  if (consumer_ == nullptr || producer_ == nullptr) return;
  auto* consumer = static_cast<std::uint64_t*>(consumer_);
  const auto* producer = static_cast<const std::uint64_t*>(producer_);
  const auto* data = static_cast<const std::uint8_t*>(producer_) + page_bytes_;
  const std::size_t mask = ring_bytes_ - 1;
  const std::uint64_t start =
      std::atomic_ref<std::uint64_t>(*consumer).load(std::memory_order_relaxed);
  const std::uint64_t end = std::atomic_ref<std::uint64_t>(*const_cast<std::uint64_t*>(producer))
                                .load(std::memory_order_acquire);
  // The committed records: each header is read with acquire so that its data is seen whole.
  std::uint64_t committed = start;
  while (committed < end) {
    auto* header = const_cast<std::uint32_t*>(
        reinterpret_cast<const std::uint32_t*>(data + (committed & mask)));
    const std::uint32_t length =
        std::atomic_ref<std::uint32_t>(*header).load(std::memory_order_acquire);
    if (length & kBpfRingBusyBit) break;
    committed += ((length & ~(kBpfRingBusyBit | kBpfRingDiscardBit)) + kBpfRingHeaderBytes + 7) &
                 ~std::uint64_t{7};
  }
  if (committed > end) committed = end;  // cannot happen with a sane kernel
  if (committed == start) return;
  const std::size_t used = on_records(std::span<const std::uint8_t>(
      data + (start & mask), static_cast<std::size_t>(committed - start)));
  std::atomic_ref<std::uint64_t>(*consumer).store(start + used, std::memory_order_release);
}

std::vector<std::uint64_t> BpfSession::stack(std::int32_t id) const {
  std::vector<std::uint64_t> frames;
  if (id < 0 || stacks_fd_ < 0) return frames;
  std::uint64_t buffer[kBpfStackDepth] = {};
  const auto key = static_cast<std::uint32_t>(id);
  if (bpf_map_lookup_elem(stacks_fd_, &key, buffer) != 0) return frames;
  for (std::uint64_t frame : buffer) {
    if (frame == 0) break;
    frames.push_back(frame);
  }
  return frames;
}

void BpfSession::detach() {
  if (skeleton_ == nullptr) return;
  for (bpf_link* link : skeleton_->links) bpf_link__destroy(link);
  skeleton_->links.clear();
}

LostEvents BpfSession::lost() const {
  LostEvents lost;
  if (skeleton_ == nullptr || skeleton_->skel == nullptr) return lost;
  struct poolscope_bpf* skel = skeleton_->skel;
  if (skel->bss != nullptr) {
    lost.dropped = static_cast<std::uint64_t>(
        std::atomic_ref<__u64>(skel->bss->lost_records).load(std::memory_order_relaxed));
  }
  bpf_program* program = nullptr;
  bpf_object__for_each_program(program, skel->obj) {
    const int fd = bpf_program__fd(program);
    if (fd < 0) continue;
    bpf_prog_info info{};
    std::uint32_t length = sizeof info;
    if (bpf_obj_get_info_by_fd(fd, &info, &length) == 0) lost.nested += info.recursion_misses;
  }
  return lost;
}

void BpfSession::close() {
  detach();
  if (producer_ != nullptr) ::munmap(producer_, page_bytes_ + 2 * ring_bytes_);
  if (consumer_ != nullptr) ::munmap(consumer_, page_bytes_);
  producer_ = consumer_ = nullptr;
  if (skeleton_ != nullptr && skeleton_->skel != nullptr) {
    poolscope_bpf__destroy(skeleton_->skel);  // programs and maps (their file descriptors)
    skeleton_->skel = nullptr;
  }
  ring_fd_ = stacks_fd_ = -1;
}

#endif

}  // namespace poolscope::trace
