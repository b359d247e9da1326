// The BTF reader (src/trace/btf) on this kernel's /sys/kernel/btf/vmlinux (5.5 MB, ~127k types):
// Btf::parse against libbpf's btf__new on the same bytes (the reader bpftool and bpftrace use;
// loaded with dlopen when libbpf.so.1 is installed, so there is no build dependency) and against
// the floor of copying the bytes; then the startup lookups the BPF backend makes. Goal: parse well
// under 100 ms. Skipped with the reason where the file is unreadable.
#include "trace/btf.h"

#include <benchmark/benchmark.h>
#include <dlfcn.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace {

using poolscope::trace::Btf;

const std::vector<std::uint8_t>& vmlinux() {
  static const std::vector<std::uint8_t> bytes = [] {
    std::ifstream in("/sys/kernel/btf/vmlinux", std::ios::binary);
    return std::vector<std::uint8_t>((std::istreambuf_iterator<char>(in)),
                                     std::istreambuf_iterator<char>());
  }();
  return bytes;
}

bool skip_without_vmlinux(benchmark::State& state) {
  if (!vmlinux().empty()) return false;
  state.SkipWithError(
      "/sys/kernel/btf/vmlinux is absent or unreadable (kernel without CONFIG_DEBUG_INFO_BTF)");
  return true;
}

void BM_BtfParse(benchmark::State& state) {
  if (skip_without_vmlinux(state)) return;
  for (auto _ : state) {
    auto btf = Btf::parse(vmlinux());
    if (!btf) {
      state.SkipWithError(btf.error().message.c_str());
      return;
    }
    benchmark::DoNotOptimize(btf->type_count());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * vmlinux().size()));
}
BENCHMARK(BM_BtfParse)->Unit(benchmark::kMillisecond);

// Baseline: libbpf's btf__new(data, size) / btf__free, the same validation and indexing job.
void BM_LibbpfBtfNew(benchmark::State& state) {
  if (skip_without_vmlinux(state)) return;
  void* lib = dlopen("libbpf.so.1", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    state.SkipWithError("libbpf.so.1 is not installed (apt install libbpf1): no baseline");
    return;
  }
  using New = void* (*)(const void*, std::uint32_t);
  using Free = void (*)(void*);
  auto btf_new = reinterpret_cast<New>(dlsym(lib, "btf__new"));
  auto btf_free = reinterpret_cast<Free>(dlsym(lib, "btf__free"));
  if (btf_new == nullptr || btf_free == nullptr) {
    state.SkipWithError("libbpf.so.1 has no btf__new/btf__free");
    return;
  }
  for (auto _ : state) {
    void* btf = btf_new(vmlinux().data(), static_cast<std::uint32_t>(vmlinux().size()));
    if (btf == nullptr) {
      state.SkipWithError("libbpf's btf__new refused /sys/kernel/btf/vmlinux");
      return;
    }
    benchmark::DoNotOptimize(btf);
    btf_free(btf);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * vmlinux().size()));
}
BENCHMARK(BM_LibbpfBtfNew)->Unit(benchmark::kMillisecond);

// Floor: copying the bytes (parse copies the type and string sections).
void BM_CopyFloor(benchmark::State& state) {
  if (skip_without_vmlinux(state)) return;
  for (auto _ : state) {
    std::vector<std::uint8_t> copy(vmlinux().begin(), vmlinux().end());
    benchmark::DoNotOptimize(copy.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * vmlinux().size()));
}
BENCHMARK(BM_CopyFloor)->Unit(benchmark::kMillisecond);

// What the BPF backend asks at startup: 5 argument positions and 3 kmem_cache members.
void BM_BtfKmemLookups(benchmark::State& state) {
  if (skip_without_vmlinux(state)) return;
  auto btf = Btf::parse(vmlinux());
  if (!btf) {
    state.SkipWithError(btf.error().message.c_str());
    return;
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(btf->tracepoint_arg_index("kmalloc", "ptr"));
    benchmark::DoNotOptimize(btf->tracepoint_arg_index("kmalloc", "bytes_alloc"));
    benchmark::DoNotOptimize(btf->tracepoint_arg_index("kmem_cache_alloc", "s"));
    benchmark::DoNotOptimize(btf->tracepoint_arg_index("kfree", "ptr"));
    benchmark::DoNotOptimize(btf->tracepoint_arg_index("kmem_cache_free", "ptr"));
    benchmark::DoNotOptimize(btf->struct_member("kmem_cache", "name"));
    benchmark::DoNotOptimize(btf->struct_member("kmem_cache", "size"));
    benchmark::DoNotOptimize(btf->struct_member("kmem_cache", "object_size"));
  }
}
BENCHMARK(BM_BtfKmemLookups)->Unit(benchmark::kMillisecond);

}  // namespace
