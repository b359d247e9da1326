// SPDX-License-Identifier: GPL-2.0
// poolscope's BPF programs (built with clang -target bpf, loaded by libbpf with CO-RE through the
// skeleton poolscope.skel.h; see src/trace/linux/bpf_session.cpp and docs/trace.md).
//
// Six programs on raw tracepoints: the four kmem events (kmalloc, kfree, kmem_cache_alloc,
// kmem_cache_free; BTF-typed, tp_btf, so struct kmem_cache is read with CO-RE) and the page
// allocator's mm_page_alloc / mm_page_free (raw_tp). Each
// returns at once unless the object is sampled (a hash of its address, so an object is traced at
// its allocation and at its free or at neither), then writes one record to the ring buffer with
// BPF_RB_NO_WAKEUP (the reader polls every 100 ms) or counts it as lost.
//
// The record is the one trace/bpf_kmem.h decodes (keep both in step): u64 time, u64 ptr,
// u64 call_site, u32 pid, u32 bytes, u32 kind, u32 extra; kmem_cache_alloc adds the cache name
// (32 bytes). Pages: ptr is the struct page pointer, bytes PAGE_SIZE << order, extra the kernel
// stack's id in the `stacks` map (negative: none) from which user space picks the call site.
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

#define KIND_KMALLOC 0
#define KIND_KFREE 1
#define KIND_CACHE_ALLOC 2
#define KIND_CACHE_FREE 3
#define KIND_PAGE_ALLOC 4
#define KIND_PAGE_FREE 5
#define CACHE_NAME_BYTES 32
#define MAX_KMALLOC_SIZES 16
#define STACK_DEPTH 24

struct record {
  __u64 time;
  __u64 ptr;
  __u64 call_site;
  __u32 pid;
  __u32 bytes;
  __u32 kind;
  __s32 extra;
};

struct cache_record {
  struct record head;
  char name[CACHE_NAME_BYTES];
};

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 24);  // set by the loader (--buffer-kb)
} ring SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_STACK_TRACE);
  __uint(key_size, sizeof(__u32));
  __uint(value_size, STACK_DEPTH * sizeof(__u64));
  __uint(max_entries, 16384);  // 1 when pages are not traced (set by the loader)
} stacks SEC(".maps");

// Set by the loader before the programs are loaded (the verifier sees them as constants).
const volatile __u32 sample_shift = 0;  // trace 1 object in 2^shift (0: all)
const volatile __u32 kmalloc_size_count = 0;
const volatile __u32 kmalloc_sizes[MAX_KMALLOC_SIZES] = {};
const volatile __u32 page_size = 4096;

__u64 lost_records = 0;  // records the ring had no room for (user space reads .bss)

// Fibonacci hashing of the address: the top sample_shift bits of ptr * 2^64/phi. Objects are
// sampled independently of the page they share (unlike a mask on the address bits), so a leak
// of a few hundred objects is sampled tens of times. trace/bpf_kmem.h: address_sampled().
static __always_inline int sampled(__u64 ptr) {
  if (sample_shift == 0) return 1;
  return ((ptr * 0x9E3779B97F4A7C15ULL) >> (64 - sample_shift)) == 0;
}

static __always_inline void emit(struct record* r, __u64 size) {
  if (bpf_ringbuf_output(&ring, r, size, BPF_RB_NO_WAKEUP) != 0) {
    __sync_fetch_and_add(&lost_records, 1);
  }
}

static __always_inline void put(__u32 kind, __u64 ptr, __u64 call_site, __u32 bytes, int with_pid,
                                __s32 extra) {
  struct record r;
  r.time = bpf_ktime_get_ns();
  r.ptr = ptr;
  r.call_site = call_site;
  r.pid = with_pid ? (__u32)bpf_get_current_pid_tgid() : 0;
  r.bytes = bytes;
  r.kind = kind;
  r.extra = extra;
  emit(&r, sizeof r);
}

SEC("tp_btf/kmalloc")
int BPF_PROG(poolscope_kmalloc, unsigned long call_site, const void* ptr, size_t bytes_req,
             size_t bytes_alloc) {
  __u64 p = (__u64)ptr;
  if (p <= 16 || !sampled(p)) return 0;
  if (kmalloc_size_count != 0) {
    int wanted = 0;
#pragma unroll
    for (int i = 0; i < MAX_KMALLOC_SIZES; ++i) {
      if (i < kmalloc_size_count && kmalloc_sizes[i] == (__u32)bytes_alloc) wanted = 1;
    }
    if (!wanted) return 0;
  }
  put(KIND_KMALLOC, p, call_site, (__u32)bytes_alloc, 1, 0);
  return 0;
}

SEC("tp_btf/kfree")
int BPF_PROG(poolscope_kfree, unsigned long call_site, const void* ptr) {
  __u64 p = (__u64)ptr;
  if (p <= 16 || !sampled(p)) return 0;
  put(KIND_KFREE, p, 0, 0, 0, 0);  // pairing needs the pointer only
  return 0;
}

SEC("tp_btf/kmem_cache_alloc")
int BPF_PROG(poolscope_cache_alloc, unsigned long call_site, const void* ptr,
             struct kmem_cache* s) {
  __u64 p = (__u64)ptr;
  if (p <= 16 || !sampled(p)) return 0;
  struct cache_record r;
  r.head.time = bpf_ktime_get_ns();
  r.head.ptr = p;
  r.head.call_site = call_site;
  r.head.pid = (__u32)bpf_get_current_pid_tgid();
  r.head.bytes = BPF_CORE_READ(s, size);
  r.head.kind = KIND_CACHE_ALLOC;
  r.head.extra = 0;
  const char* name = BPF_CORE_READ(s, name);
  if (bpf_probe_read_kernel_str(r.name, sizeof r.name, name) < 0) r.name[0] = 0;
  emit(&r.head, sizeof r);
  return 0;
}

SEC("tp_btf/kmem_cache_free")
int BPF_PROG(poolscope_cache_free, unsigned long call_site, const void* ptr) {
  __u64 p = (__u64)ptr;
  if (p <= 16 || !sampled(p)) return 0;
  put(KIND_CACHE_FREE, p, 0, 0, 0, 0);
  return 0;
}

// raw_tp, not tp_btf: there the struct page pointer is a typed pointer the verifier allows no
// arithmetic on (the hash); here the arguments are plain numbers.
SEC("raw_tp/mm_page_alloc")
int BPF_PROG(poolscope_page_alloc, struct page* page, unsigned int order) {
  __u64 p = (__u64)page;
  if (p == 0 || !sampled(p)) return 0;
  __s32 stack = (__s32)bpf_get_stackid(ctx, &stacks, 0);
  put(KIND_PAGE_ALLOC, p, 0, page_size << (order & 31), 1, stack);
  return 0;
}

SEC("raw_tp/mm_page_free")
int BPF_PROG(poolscope_page_free, struct page* page, unsigned int order) {
  __u64 p = (__u64)page;
  if (p == 0 || !sampled(p)) return 0;
  put(KIND_PAGE_FREE, p, 0, 0, 0, 0);
  return 0;
}
