// bpf(2) maps, programs and raw tracepoint links for the BPF backend (Linux system calls only).
#include "trace/linux/bpf_session.h"

#include <fcntl.h>
#include <linux/bpf.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <bit>
#include <cerrno>
#include <cstring>

#include "trace/btf.h"

namespace poolscope::trace {

namespace {

long sys_bpf(int command, bpf_attr& attr) {
  return ::syscall(__NR_bpf, command, &attr, sizeof attr);
}

Error bpf_error(const std::string& what, int error) {
  std::string text = what + ": " + std::strerror(error);
  if (error == EPERM || error == EACCES) {
    text += " (BPF tracing needs root, or CAP_BPF and CAP_PERFMON, and no kernel lockdown)";
  } else if (error == ENOSYS) {
    text += " (this kernel has no bpf(2): CONFIG_BPF_SYSCALL)";
  }
  return Error{ErrorCode::kEnvironment, error, text};
}

Result<std::vector<std::uint8_t>> read_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    return make_error(ErrorCode::kEnvironment,
                      "cannot read the kernel's BTF " + path + ": " + std::strerror(error) +
                          " (the BPF backend needs CONFIG_DEBUG_INFO_BTF)",
                      error);
  }
  std::vector<std::uint8_t> bytes;
  std::uint8_t buffer[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    bytes.insert(bytes.end(), buffer, buffer + n);
    if (bytes.size() > (std::size_t{256} << 20)) break;  // no kernel's BTF is this big
  }
  ::close(fd);
  return bytes;
}

int create_map(bpf_map_type type, std::uint32_t key_size, std::uint32_t value_size,
               std::uint32_t entries, const char* name) {
  bpf_attr attr{};
  attr.map_type = type;
  attr.key_size = key_size;
  attr.value_size = value_size;
  attr.max_entries = entries;
  std::strncpy(attr.map_name, name, sizeof attr.map_name - 1);
  return static_cast<int>(sys_bpf(BPF_MAP_CREATE, attr));
}

}  // namespace

Result<std::unique_ptr<BpfSession>> BpfSession::start(const BpfSessionOptions& options) {
  auto btf_bytes = read_file(options.btf_path);
  if (!btf_bytes) return std::unexpected(btf_bytes.error());
  auto btf = Btf::parse(*btf_bytes);
  if (!btf) {
    return make_error(ErrorCode::kEnvironment, "cannot read the kernel's BTF " + options.btf_path +
                                                   ": " + btf.error().message);
  }
  btf_bytes->clear();
  btf_bytes->shrink_to_fit();
  auto layout = kmem_bpf_layout(*btf);
  if (!layout) return std::unexpected(layout.error());

  std::unique_ptr<BpfSession> session(new BpfSession());
  BpfSession& s = *session;
  s.page_bytes_ = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  s.page_shift_ = static_cast<unsigned>(std::countr_zero(s.page_bytes_));
  s.sample_shift_ = options.sample_shift;
  s.ring_bytes_ = std::bit_ceil(std::max(options.ring_bytes, s.page_bytes_));
  if (s.ring_bytes_ > (std::size_t{1} << 30)) s.ring_bytes_ = std::size_t{1} << 30;

  s.ring_fd_ = create_map(BPF_MAP_TYPE_RINGBUF, 0, 0, static_cast<std::uint32_t>(s.ring_bytes_),
                          "poolscope_ring");
  if (s.ring_fd_ < 0) return std::unexpected(bpf_error("cannot create a BPF ring buffer", errno));
  s.lost_fd_ = create_map(BPF_MAP_TYPE_ARRAY, 4, 8, 1, "poolscope_lost");
  if (s.lost_fd_ < 0) return std::unexpected(bpf_error("cannot create a BPF array map", errno));

  // The ring: the consumer page (ours to write), then the producer page and the data, which the
  // kernel maps twice in a row so a record that wraps is contiguous.
  s.consumer_ = ::mmap(nullptr, s.page_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, s.ring_fd_, 0);
  if (s.consumer_ == MAP_FAILED) {
    s.consumer_ = nullptr;
    return std::unexpected(bpf_error("cannot map the BPF ring buffer", errno));
  }
  s.producer_ = ::mmap(nullptr, s.page_bytes_ + 2 * s.ring_bytes_, PROT_READ, MAP_SHARED,
                       s.ring_fd_, static_cast<off_t>(s.page_bytes_));
  if (s.producer_ == MAP_FAILED) {
    s.producer_ = nullptr;
    return std::unexpected(bpf_error("cannot map the BPF ring buffer", errno));
  }

  KmemProgramParams params;
  params.ring_fd = s.ring_fd_;
  params.lost_fd = s.lost_fd_;
  params.sample_mask =
      s.sample_shift_ == 0 ? 0 : ((std::uint64_t{1} << s.sample_shift_) - 1) << s.page_shift_;
  struct Event {
    KmemKind kind;
    const char* name;
  };
  static constexpr Event kEvents[] = {{KmemKind::kKmalloc, "kmalloc"},
                                      {KmemKind::kKfree, "kfree"},
                                      {KmemKind::kCacheAlloc, "kmem_cache_alloc"},
                                      {KmemKind::kCacheFree, "kmem_cache_free"}};
  // What --cache asks for: kmalloc sizes (filtered in the program) and other names.
  bool kmalloc_wanted = options.caches.empty(), cache_events_wanted = options.caches.empty();
  for (const auto& cache : options.caches) {
    const std::uint64_t size = kmalloc_size_of(cache);
    if (size != 0 && size <= 0x7fffffff) {
      params.kmalloc_sizes.push_back(static_cast<std::uint32_t>(size));
      kmalloc_wanted = true;
    } else {
      cache_events_wanted = true;  // a named cache (kmalloc-large too, as for tracefs' filters)
    }
  }
  // Past 16 sizes the program would be long for little gain: the processor filters them alone.
  if (params.kmalloc_sizes.size() > 16) params.kmalloc_sizes.clear();
  static char log[1 << 16];
  for (const Event& event : kEvents) {
    const bool wanted = event.kind == KmemKind::kKfree ||
                        (event.kind == KmemKind::kKmalloc ? kmalloc_wanted : cache_events_wanted);
    if (!wanted) continue;
    const auto program = kmem_program(event.kind, *layout, params);
    bpf_attr attr{};
    attr.prog_type = BPF_PROG_TYPE_RAW_TRACEPOINT;
    attr.insns = reinterpret_cast<std::uint64_t>(program.data());
    attr.insn_cnt = static_cast<std::uint32_t>(program.size());
    attr.license = reinterpret_cast<std::uint64_t>("GPL");
    std::strncpy(attr.prog_name, "poolscope_kmem", sizeof attr.prog_name - 1);
    const int fd = static_cast<int>(sys_bpf(BPF_PROG_LOAD, attr));
    if (fd < 0) {
      const int error = errno;
      // Load again with the verifier's log, to say why.
      bpf_attr again = attr;
      log[0] = '\0';
      again.log_buf = reinterpret_cast<std::uint64_t>(log);
      again.log_size = sizeof log;
      again.log_level = 1;
      const int retry = static_cast<int>(sys_bpf(BPF_PROG_LOAD, again));
      if (retry >= 0) ::close(retry);
      std::string why(log);
      if (why.size() > 400) why = "..." + why.substr(why.size() - 400);
      auto failure = bpf_error(
          std::string("the kernel refused poolscope's BPF program for ") + event.name, error);
      if (!why.empty()) failure.message += "; verifier: " + why;
      return std::unexpected(failure);
    }
    s.programs_.push_back(fd);
    s.events_.push_back(event.name);
  }
  // Attach last, all together, so that no allocation is traced without its free.
  for (std::size_t i = 0; i < s.programs_.size(); ++i) {
    bpf_attr attr{};
    attr.raw_tracepoint.name = reinterpret_cast<std::uint64_t>(s.events_[i]);
    attr.raw_tracepoint.prog_fd = static_cast<std::uint32_t>(s.programs_[i]);
    const int link = static_cast<int>(sys_bpf(BPF_RAW_TRACEPOINT_OPEN, attr));
    if (link < 0) {
      return std::unexpected(
          bpf_error(std::string("cannot attach to the raw tracepoint ") + s.events_[i], errno));
    }
    s.links_.push_back(link);
  }
  return session;
}

BpfSession::~BpfSession() {
  close();
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

void BpfSession::detach() {
  for (int link : links_) ::close(link);
  links_.clear();
}

LostEvents BpfSession::lost() const {
  LostEvents lost;
  if (lost_fd_ >= 0) {
    std::uint32_t key = 0;
    std::uint64_t value = 0;
    bpf_attr attr{};
    attr.map_fd = static_cast<std::uint32_t>(lost_fd_);
    attr.key = reinterpret_cast<std::uint64_t>(&key);
    attr.value = reinterpret_cast<std::uint64_t>(&value);
    if (sys_bpf(BPF_MAP_LOOKUP_ELEM, attr) == 0) lost.dropped = value;
  }
  for (int program : programs_) {
    bpf_prog_info info{};
    bpf_attr attr{};
    attr.info.bpf_fd = static_cast<std::uint32_t>(program);
    attr.info.info_len = sizeof info;
    attr.info.info = reinterpret_cast<std::uint64_t>(&info);
    if (sys_bpf(BPF_OBJ_GET_INFO_BY_FD, attr) == 0) lost.nested += info.recursion_misses;
  }
  return lost;
}

void BpfSession::close() {
  detach();
  for (int program : programs_) ::close(program);
  programs_.clear();
  if (producer_ != nullptr) ::munmap(producer_, page_bytes_ + 2 * ring_bytes_);
  if (consumer_ != nullptr) ::munmap(consumer_, page_bytes_);
  producer_ = consumer_ = nullptr;
  if (ring_fd_ >= 0) ::close(ring_fd_);
  if (lost_fd_ >= 0) ::close(lost_fd_);
  ring_fd_ = lost_fd_ = -1;
}

}  // namespace poolscope::trace
