#include "detect/links.h"

#include <array>

namespace poolscope::detect {

namespace {

constexpr KeyKind kSlab = KeyKind::kSlabCache;
constexpr KeyKind kTag = KeyKind::kPoolTag;

// Every fd is a struct file (filp) with an LSM blob (lsm_file_cache); the anon-inode kinds
// allocate their context with kmalloc (eventfd_ctx: kmalloc-64, timerfd_ctx: kmalloc-256, ...).
constexpr std::string_view kAnyFd =
    "eventfd socket pipe epoll timerfd inotify signalfd io_uring pidfd anon_other file other fds";
constexpr std::string_view kKmallocFd =
    "eventfd timerfd signalfd epoll inotify io_uring pidfd anon_other pipe socket fds";

constexpr std::array kLinks{
    ProcessLink{kSlab, "filp", kAnyFd, "struct file: one per open file description"},
    ProcessLink{kSlab, "lsm_file_cache", kAnyFd, "the LSM blob of every struct file"},
    // At least one context per fd, or a pipe's buffer array shared by its two fds: 1/2.
    ProcessLink{kSlab, "kmalloc-*", kKmallocFd,
                "anon-inode contexts (eventfd_ctx 48 B, timerfd_ctx, signalfd_ctx ...), pipe "
                "and socket buffers",
                std::nullopt, 0.5},
    ProcessLink{kSlab, "kmalloc-cg-*", kKmallocFd, "the same, memcg-accounted", std::nullopt, 0.5},
    ProcessLink{kSlab, "eventpoll_*", "epoll fds", "epoll items and wait queues"},
    ProcessLink{kSlab, "inotify_inode_mark", "inotify fds", "inotify watches"},
    ProcessLink{kSlab, "pid", "pidfd threads fds",
                "struct pid: one per thread, and pinned by a pidfd after its task exits"},
    ProcessLink{kSlab, "task_struct", "threads", "one per thread"},
    ProcessLink{kSlab, "thread_stack", "threads", "kernel stacks, one per thread"},
    ProcessLink{kSlab, "sock_inode_cache", "socket fds", "the inode of every socket"},
    ProcessLink{kSlab, "UNIX*", "socket fds", "AF_UNIX sockets"},
    ProcessLink{kSlab, "TCP*", "socket fds", "open TCP sockets"},
    ProcessLink{kSlab, "UDP*", "socket fds", "open UDP sockets"},
    ProcessLink{kSlab, "RAW*", "socket fds", "raw sockets"},
    ProcessLink{kSlab, "PING*", "socket fds", "ping sockets"},
    ProcessLink{kSlab, "NETLINK*", "socket fds", "netlink sockets"},
    ProcessLink{kSlab, "skbuff_*", "socket fds", "socket buffers queued on open sockets"},
    ProcessLink{kSlab, "pipe_inode_info", "pipes pipe fds", "one per pipe"},
    ProcessLink{kSlab, "io_kiocb", "io_uring fds", "io_uring requests"},
    // No fd holds these: time-wait sockets outlive their fds; maple_node/vm_area_struct follow
    // mappings; bio-* follows block I/O. No process is named for them through fds.
    ProcessLink{kSlab, "tw_sock_*", "", "sockets in TIME_WAIT, after their fd closed"},
    ProcessLink{kSlab, "request_sock_*", "", "half-open connections, before any fd"},
    // Windows object types. ObCreateObject allocates an object's body with its type's pool tag,
    // which ObCreateObjectType takes from the first four characters of the type name (space-
    // padded: "Key" -> "Key "); pooltag.txt (Debugging Tools for Windows, triage/pooltag.txt; the
    // copy in ../shared/data/real/pooltag/pooltag.txt) lists each as "<Type> objects". A process
    // holds them through handles of that type; its total handle count and pool quota only where
    // its types were not recorded or the handle table was unreadable (handle_type).
    ProcessLink{kTag, "Even",
                "Event_handles handles paged_pool_quota_bytes nonpaged_pool_quota_bytes",
                "Event objects (pooltag.txt: Even - Event objects)", HandleKind::kEvent},
    ProcessLink{kTag, "Proc",
                "Process_handles handles_to_exited_processes handles paged_pool_quota_bytes "
                "nonpaged_pool_quota_bytes",
                "Process objects, live or exited and still referenced (pooltag.txt: Proc - nt!ps "
                "- Process objects)",
                HandleKind::kProcess},
    ProcessLink{kTag, "Thre", "Thread_handles handles_to_exited_threads threads handles",
                "Thread objects: its threads, or handles to them, live or exited (pooltag.txt: "
                "Thre - nt!ps - Thread objects)",
                HandleKind::kThread},
    ProcessLink{kTag, "Toke",
                "Token_handles handles paged_pool_quota_bytes nonpaged_pool_quota_bytes",
                "Token objects (pooltag.txt: Toke - nt!se - Token objects)", HandleKind::kToken},
    ProcessLink{kTag, "File",
                "File_handles handles paged_pool_quota_bytes nonpaged_pool_quota_bytes",
                "File objects (pooltag.txt: File - File objects)", HandleKind::kFile},
    ProcessLink{kTag, "Key ",
                "Key_handles handles paged_pool_quota_bytes nonpaged_pool_quota_bytes",
                "Key objects (pooltag.txt: Key  - Key objects)", HandleKind::kKey},
    ProcessLink{kTag, "Muta",
                "Mutant_handles handles paged_pool_quota_bytes nonpaged_pool_quota_bytes",
                "Mutant objects (pooltag.txt: Muta - Mutant objects)", HandleKind::kMutant},
    ProcessLink{
        kTag, "Sema", "Semaphore_handles handles paged_pool_quota_bytes nonpaged_pool_quota_bytes",
        "Semaphore objects (pooltag.txt: Sema - Semaphore objects)", HandleKind::kSemaphore},
    ProcessLink{kTag, "Time",
                "Timer_handles handles paged_pool_quota_bytes nonpaged_pool_quota_bytes",
                "Timer objects (pooltag.txt: Time - nt!ke - Timer objects)", HandleKind::kTimer},
    ProcessLink{kTag, "ALPC",
                "ALPC_Port_handles handles paged_pool_quota_bytes nonpaged_pool_quota_bytes",
                "ALPC port objects (pooltag.txt: ALPC - nt!alpc - ALPC port objects)",
                HandleKind::kAlpcPort},
    ProcessLink{kTag, "Sect",
                "Section_handles handles paged_pool_quota_bytes nonpaged_pool_quota_bytes",
                "Section objects (pooltag.txt: Sect - Section objects)", HandleKind::kSection},
    ProcessLink{kTag, "IoCo",
                "IoCompletion_handles handles paged_pool_quota_bytes nonpaged_pool_quota_bytes",
                "I/O completion objects (pooltag.txt: IoCo - nt!io - Io completion)",
                HandleKind::kIoCompletion},
    ProcessLink{kTag, "EtwR",
                "EtwRegistration_handles handles paged_pool_quota_bytes nonpaged_pool_quota_bytes",
                "ETW registrations (pooltag.txt: EtwR - nt!etw - Etw KM RegEntry)",
                HandleKind::kEtwRegistration},
    ProcessLink{
        kTag, "Wait",
        "WaitCompletionPacket_handles handles paged_pool_quota_bytes nonpaged_pool_quota_bytes",
        "wait completion packets (pooltag.txt: Wait - nt!io - WaitCompletion Packets)",
        HandleKind::kWaitCompletionPacket},
    ProcessLink{
        kTag, "Dire", "Directory_handles handles paged_pool_quota_bytes nonpaged_pool_quota_bytes",
        "object directories (pooltag.txt: Dire - Directory objects)", HandleKind::kDirectory},
    ProcessLink{kTag, "TpWo",
                "TpWorkerFactory_handles handles paged_pool_quota_bytes nonpaged_pool_quota_bytes",
                "thread-pool worker factories (pooltag.txt: TpWo - nt!ex - Threadpool worker "
                "factory objects)",
                HandleKind::kTpWorkerFactory},
    // Windows: a process's handles and pool quota hold pool objects of any other tag.
    ProcessLink{kTag, "*", "handles paged_pool_quota_bytes nonpaged_pool_quota_bytes",
                "handles and pool charged to the process"},
};

constexpr std::array kCensus{
    CensusPair{kTag, "Proc", "processes", "process objects", true},
    CensusPair{kTag, "Thre", "threads", "thread objects", true},
    CensusPair{kSlab, "task_struct", "threads", "task_structs", true},
    CensusPair{kSlab, "pid", "threads", "struct pids", false},
    CensusPair{kSlab, "mm_struct", "processes", "mm_structs", true},
    CensusPair{kSlab, "signal_cache", "processes", "signal_structs", true},
    CensusPair{kSlab, "sighand_cache", "processes", "sighand_structs", true},
    CensusPair{kSlab, "filp", "open files", "struct files", false},
    CensusPair{kSlab, "TCP", "tcp sockets", "TCP sockets", false},
    CensusPair{kSlab, "UDP", "udp sockets", "UDP sockets", false},
};

bool metric_listed(std::string_view list, std::string_view metric) {
  if (list == "*") return true;
  while (!list.empty()) {
    const std::size_t sp = list.find(' ');
    const std::string_view word = list.substr(0, sp);
    if (word == metric) return true;
    if (sp == std::string_view::npos) break;
    list.remove_prefix(sp + 1);
  }
  return false;
}

}  // namespace

std::span<const ProcessLink> process_links() {
  return kLinks;
}

const ProcessLink* process_link(const PoolKey& key) {
  for (const ProcessLink& l : kLinks) {
    if (l.kind == key.kind && key_matches(key, l.pattern)) return &l;
  }
  return nullptr;
}

bool plausible_link(const PoolKey& key, std::string_view metric) {
  const ProcessLink* l = process_link(key);
  if (!l) return false;
  // "paged pool quota bytes" is the metric's display name; the table spells it with '_'.
  std::string m(metric);
  for (char& c : m) c = c == ' ' ? '_' : c;
  return metric_listed(l->metrics, m);
}

std::optional<HandleKind> handle_kind_for_tag(const PoolKey& key) {
  if (key.kind != KeyKind::kPoolTag) return std::nullopt;
  const ProcessLink* l = process_link(key);
  return l ? l->handle_type : std::nullopt;
}

std::span<const CensusPair> census_pairs() {
  return kCensus;
}

const CensusPair* census_pair(const PoolKey& key) {
  for (const CensusPair& c : kCensus) {
    if (c.kind == key.kind && key_matches(key, c.pattern)) return &c;
  }
  return nullptr;
}

bool kernel_owned(std::string_view owner) {
  if (owner.empty()) return false;
  for (std::string_view k : {"vmlinux", "nt", "ntoskrnl.exe", "ntoskrnl", "nt?", "vmlinux?"}) {
    if (owner == k) return true;
  }
  return owner.starts_with("nt!") || owner.find("Binary: nt!") != std::string_view::npos ||
         owner.starts_with("vmlinux ");
}

}  // namespace poolscope::detect
