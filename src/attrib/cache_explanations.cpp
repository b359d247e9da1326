// The table of well-known slab caches (see cache_explanations.h). Each line says what one object
// is and what makes the cache grow, from the kernel source that creates the cache (mm/, fs/,
// kernel/fork.c, net/); the tests pin a few of them.
#include "attrib/cache_explanations.h"

#include <array>
#include <utility>

namespace poolscope::attrib {

namespace {

constexpr std::array<std::pair<std::string_view, std::string_view>, 46> kExact{{
    {"filp",
     "struct file: one per open file description (open, socket, pipe, eventfd, epoll ...); it "
     "grows with open file descriptors, so a leak here is usually a process leaking fds"},
    {"dentry",
     "directory entries: one per path name component looked up, negative lookups included; "
     "reclaimable, it grows with file-system walks and shrinks under memory pressure"},
    {"inode_cache",
     "inodes of file systems without a cache of their own (pipes' pipefs, among others)"},
    {"sock_inode_cache", "one struct socket and its inode per open socket, of every family"},
    {"skbuff_head_cache",
     "struct sk_buff: one per network packet buffer in flight or queued on a socket"},
    {"skbuff_small_head", "small packet data areas of sk_buffs (Linux 6.3+)"},
    {"skbuff_fclone_cache", "sk_buff pairs of TCP's fast clones: outgoing TCP segments"},
    {"pid", "struct pid: one per process or thread id in use (pidfds keep it alive too)"},
    {"task_struct",
     "one per thread; it grows with threads and with exited ones nobody reaps (zombies)"},
    {"signal_cache", "struct signal_struct: one per process (shared by its threads)"},
    {"sighand_cache", "signal handler tables: one per process (shared by CLONE_SIGHAND threads)"},
    {"files_cache", "struct files_struct: a process's file descriptor table"},
    {"fs_cache", "struct fs_struct: a process's root and working directory"},
    {"cred", "struct cred: process credentials, copied on every credential change"},
    {"cred_jar", "struct cred: process credentials, copied on every credential change"},
    {"mm_struct", "one per process address space"},
    {"vm_area_struct", "one per memory mapping (VMA) of every process"},
    {"maple_node", "maple tree nodes: the index of each process's memory mappings (Linux 6.1+)"},
    {"anon_vma",
     "reverse map of anonymous memory: one per family of processes sharing anonymous pages "
     "(fork)"},
    {"anon_vma_chain", "links between memory mappings and anon_vmas, one per pair"},
    {"names_cache", "path name buffers (4 KiB each) of system calls that take a path; short-lived"},
    {"buffer_head",
     "block buffer heads for file-system metadata and block I/O; reclaimable with the page "
     "cache"},
    {"radix_tree_node",
     "xarray and radix tree nodes, mostly the page cache's index; reclaimable with it"},
    {"xarray_node", "xarray nodes (the page cache's index, among others); reclaimable with it"},
    {"eventpoll_epi", "one per file watched by an epoll instance (epoll_ctl EPOLL_CTL_ADD)"},
    {"eventpoll_pwq", "epoll's hooks into the wait queues of watched files"},
    {"TCP", "one per IPv4 TCP socket (listening, connected or closing)"},
    {"TCPv6", "one per IPv6 TCP socket (listening, connected or closing)"},
    {"tw_sock_TCP", "TCP connections in TIME_WAIT (closed, kept about 60 s)"},
    {"request_sock_TCP", "half-open TCP connections (SYN received, handshake not finished)"},
    {"UDP", "one per IPv4 UDP socket"},
    {"UDPv6", "one per IPv6 UDP socket"},
    {"UNIX", "one per Unix-domain (AF_UNIX) datagram or seqpacket socket"},
    {"UNIX-STREAM", "one per Unix-domain (AF_UNIX) stream socket"},
    {"kernfs_node_cache", "sysfs and cgroupfs nodes (kernfs): one per file or folder"},
    {"lsm_file_cache", "security modules' data per open file (with filp)"},
    {"inotify_inode_mark", "one per inotify watch"},
    {"nf_conntrack", "one per connection tracked by netfilter (conntrack)"},
    {"vmap_area", "one per vmalloc or vmap area of the kernel"},
    {"mnt_cache", "one per mount (each mount namespace has its own copies)"},
    {"sigqueue", "queued signals (real-time signals, POSIX timers)"},
    {"seq_file", "one per open seq_file (reading /proc and sysfs text files)"},
    {"file_lock_cache", "POSIX and flock file locks"},
    {"io_kiocb", "io_uring requests in flight"},
    {"ext4_extent_status", "ext4's in-memory cache of file extents; reclaimable"},
    {"kmem_cache", "the slab caches themselves: one per cache"},
}};

// "kmalloc-192", "kmalloc-1k" -> "192", "1k" (the size after the family's prefix).
std::optional<std::string> size_after(std::string_view cache, std::string_view prefix) {
  if (!cache.starts_with(prefix) || cache.size() == prefix.size()) return std::nullopt;
  const std::string_view size = cache.substr(prefix.size());
  for (char c : size) {
    if (!((c >= '0' && c <= '9') || c == 'k' || c == 'M')) return std::nullopt;
  }
  return std::string(size);
}

}  // namespace

std::optional<std::string> explain_cache(std::string_view cache) {
  for (const auto& [name, line] : kExact) {
    if (name == cache) return std::string(line);
  }
  const std::string trace = "; `poolscope trace --cache " + std::string(cache) +
                            "` names the call sites that allocate them";
  if (auto size = size_after(cache, "kmalloc-cg-")) {
    return "kmalloc() objects of up to " + *size +
           " bytes charged to a memory cgroup (__GFP_ACCOUNT), shared by all kernel code" + trace;
  }
  if (auto size = size_after(cache, "kmalloc-rcl-")) {
    return "kmalloc() objects of up to " + *size + " bytes marked reclaimable (__GFP_RECLAIMABLE)" +
           trace;
  }
  if (auto size = size_after(cache, "dma-kmalloc-")) {
    return "kmalloc() objects of up to " + *size + " bytes from the DMA zone (GFP_DMA)" + trace;
  }
  if (auto size = size_after(cache, "kmalloc-")) {
    return "generic kmalloc() objects of up to " + *size +
           " bytes, shared by all kernel code: the cache does not name its owner" + trace;
  }
  constexpr std::string_view kInode = "_inode_cache";
  if (cache.size() > kInode.size() && cache.ends_with(kInode)) {
    const std::string_view fs = cache.substr(0, cache.size() - kInode.size());
    return "in-memory inodes of " + std::string(fs) +
           " files; reclaimable with the dentries that pin them";
  }
  return std::nullopt;
}

}  // namespace poolscope::attrib
