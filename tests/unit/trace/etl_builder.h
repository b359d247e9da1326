// Builds byte-exact ETL files for the tests, the fuzz corpus and the benchmark: WMI buffers (plain
// or LZXPRESS-compressed by a small MS-XCA encoder), the trace header, system and perfinfo event
// headers and the pool, stack-walk, stack-key and image payloads, from the layouts in
// docs/trace.md (no real pool trace exists to copy).
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace poolscope::testing::etl {

// A greedy LZ77 encoder writing MS-XCA "plain LZ77" (the format xpress_decompress reads).
inline std::vector<std::uint8_t> xpress_compress(const std::uint8_t* in, std::size_t size) {
  std::vector<std::uint8_t> out;
  std::size_t flags_at = 0;
  std::uint32_t flags = 0;
  int flag_count = 0;
  std::size_t half_byte_at = SIZE_MAX;
  auto put16 = [&](std::uint32_t v) {
    out.push_back(static_cast<std::uint8_t>(v));
    out.push_back(static_cast<std::uint8_t>(v >> 8));
  };
  auto start_flags = [&] {
    flags_at = out.size();
    out.insert(out.end(), 4, 0);
    flags = 0;
    flag_count = 0;
  };
  auto flag = [&](bool match) {
    if (flag_count == 32) {
      std::memcpy(out.data() + flags_at, &flags, 4);
      start_flags();
    }
    flags = (flags << 1) | (match ? 1u : 0u);
    ++flag_count;
  };
  start_flags();
  std::vector<std::int64_t> last(1 << 14, -1);
  std::size_t i = 0;
  while (i < size) {
    std::size_t length = 0, distance = 0;
    if (i + 3 <= size) {
      const std::uint32_t h =
          ((in[i] << 16 | in[i + 1] << 8 | in[i + 2]) * 2654435761u) >> (32 - 14);
      const std::int64_t candidate = last[h];
      last[h] = static_cast<std::int64_t>(i);
      if (candidate >= 0 && i - static_cast<std::size_t>(candidate) <= 8192) {
        const auto c = static_cast<std::size_t>(candidate);
        while (i + length < size && in[c + length] == in[i + length] && length < 70000) ++length;
        distance = i - c;
      }
    }
    if (length < 3) {
      flag(false);
      out.push_back(in[i++]);
      continue;
    }
    flag(true);
    const std::size_t l = length - 3;
    put16(static_cast<std::uint32_t>((distance - 1) << 3 | std::min<std::size_t>(l, 7)));
    if (l >= 7) {
      const std::size_t l2 = l - 7;
      const auto nibble = static_cast<std::uint8_t>(std::min<std::size_t>(l2, 15));
      if (half_byte_at == SIZE_MAX) {
        half_byte_at = out.size();
        out.push_back(nibble);
      } else {
        out[half_byte_at] = static_cast<std::uint8_t>(out[half_byte_at] | nibble << 4);
        half_byte_at = SIZE_MAX;
      }
      if (l2 >= 15) {
        const std::size_t l3 = l2 - 15;
        if (l3 < 255) {
          out.push_back(static_cast<std::uint8_t>(l3));
        } else {
          out.push_back(255);
          if (l < 65536) {
            put16(static_cast<std::uint32_t>(l));
          } else {
            put16(0);
            put16(static_cast<std::uint32_t>(l & 0xFFFF));
            put16(static_cast<std::uint32_t>(l >> 16));
          }
        }
      }
    }
    i += length;
  }
  // The rest of the last flag word: 1 bits (a match with no input ends the stream).
  if (flag_count == 0) {
    flags = 0xFFFFFFFFu;
  } else if (flag_count < 32) {
    flags = (flags << (32 - flag_count)) | ((1u << (32 - flag_count)) - 1);
  }
  std::memcpy(out.data() + flags_at, &flags, 4);
  return out;
}

struct Bytes {
  std::vector<std::uint8_t> data;
  Bytes& u(std::uint64_t value, unsigned size) {
    for (unsigned i = 0; i < size; ++i) {
      data.push_back(i < 8 ? static_cast<std::uint8_t>(value >> (8 * i)) : 0);  // wider: zeros
    }
    return *this;
  }
  Bytes& wide(std::string_view text) {
    for (char c : text) u(static_cast<unsigned char>(c), 2);
    return u(0, 2);
  }
  Bytes& pad_to(std::size_t size, std::uint8_t fill = 0) {
    if (data.size() < size) data.resize(size, fill);
    return *this;
  }
};

inline std::uint32_t tag_value(std::string_view name) {
  std::uint32_t tag = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    tag |= static_cast<std::uint32_t>(i < name.size() ? static_cast<unsigned char>(name[i]) : ' ')
           << (8 * i);
  }
  return tag;
}

class EtlBuilder {
 public:
  unsigned p = 8;         // pointer size
  bool compress = false;  // every buffer but the first
  std::uint32_t buffer_size = 4096;
  std::uint64_t perf_freq = 10'000'000;
  std::uint32_t events_lost = 0, buffers_lost = 0;

  // The first buffer: the trace header record only (as xperf's merged files have it).
  void trace_header(std::uint64_t timestamp) {
    Bytes h;
    h.u(buffer_size, 4).u(0x00020206, 4).u(9200, 4).u(2, 4);  // size, version 6.2, build, cpus
    h.u(0, 8).u(156250, 4).u(0, 4).u(0x00010001, 4).u(0, 4);  // end, resolution, max, mode, bw
    h.u(1, 4).u(p, 4).u(events_lost, 4).u(3000, 4);           // StartBuffers, PointerSize, ...
    h.u(0, p).u(0, p);                                        // LoggerName, LogFileName
    h.pad_to(h.data.size() + 172);                            // TIME_ZONE_INFORMATION
    h.pad_to((h.data.size() + 7) & ~std::size_t{7});
    h.u(0x01d6653bbac3b7ebull, 8).u(perf_freq, 8).u(0x01d6653c2e7a9207ull, 8);  // boot, freq, start
    h.u(1, 4).u(buffers_lost, 4);                                               // QPC, lost
    h.wide("PoolSession");
    system(0, 0, 0, 0, timestamp, h, 2);
    close_buffer(/*allow_compress=*/false);
  }

  // SYSTEM_TRACE_HEADER (32 or 64 by the pointer size).
  void system(std::uint8_t group, std::uint8_t opcode, std::uint32_t pid, std::uint32_t tid,
              std::uint64_t timestamp, const Bytes& payload, std::uint16_t version = 2) {
    Bytes r;
    r.u(version, 2).u(p == 8 ? 0x02 : 0x01, 1).u(0xC0, 1);
    r.u(32 + payload.data.size(), 2).u(opcode, 1).u(group, 1);
    r.u(tid, 4).u(pid, 4).u(timestamp, 8).u(0, 8);
    r.data.insert(r.data.end(), payload.data.begin(), payload.data.end());
    add(r);
  }
  // PERFINFO_TRACE_HEADER: no thread or process (stack walks and stack keys come this way).
  void perfinfo(std::uint8_t group, std::uint8_t opcode, std::uint64_t timestamp,
                const Bytes& payload, std::uint16_t version = 2) {
    Bytes r;
    r.u(version, 2).u(p == 8 ? 0x11 : 0x10, 1).u(0xC0, 1);
    r.u(16 + payload.data.size(), 2).u(opcode, 1).u(group, 1).u(timestamp, 8);
    r.data.insert(r.data.end(), payload.data.begin(), payload.data.end());
    add(r);
  }
  // An EVENT_HEADER record of some user-mode provider (skipped by the pool reader).
  void provider_event(std::uint64_t timestamp, std::size_t payload_size) {
    Bytes r;
    r.u(80 + payload_size, 2).u(p == 8 ? 0x13 : 0x12, 1).u(0xC0, 1).u(0, 2).u(0, 2);
    r.u(1, 4).u(2, 4).u(timestamp, 8).u(0x12345678, 4).u(0, 4).u(0, 8);
    r.u(1, 2).u(0, 1).u(0, 1).u(4, 1).u(0, 1).u(0, 2).u(0, 8).u(0, 8).u(0, 16);
    r.pad_to(r.data.size() + payload_size, 0xAB);
    add(r);
  }

  // Payloads.
  Bytes pool(std::uint32_t type, std::string_view tag, std::uint64_t bytes,
             std::uint64_t address) const {
    return Bytes{}.u(type, 4).u(tag_value(tag), 4).u(bytes, p).u(address, p);
  }
  Bytes stack(std::uint64_t event_time, std::uint32_t pid, std::uint32_t tid,
              std::initializer_list<std::uint64_t> frames) const {
    Bytes b;
    b.u(event_time, 8).u(pid, 4).u(tid, 4);
    for (auto f : frames) b.u(f, p);
    return b;
  }
  Bytes stack_key(std::uint64_t event_time, std::uint32_t pid, std::uint32_t tid,
                  std::uint64_t key) const {
    return Bytes{}.u(event_time, 8).u(pid, 4).u(tid, 4).u(key, p);
  }
  Bytes key_frames(std::uint64_t key, std::initializer_list<std::uint64_t> frames) const {
    Bytes b;
    b.u(key, p);
    for (auto f : frames) b.u(f, p);
    return b;
  }
  Bytes image(std::uint64_t base, std::uint64_t size, std::string_view file) const {
    Bytes b;
    b.u(base, p).u(size, p).u(0, 4).u(0x1234, 4).u(0x5f000000, 4).u(0, 4).u(base, p);
    b.u(0, 4).u(0, 4).u(0, 4).u(0, 4);
    return b.wide(file);
  }

  std::vector<std::uint8_t> file() {
    if (!records_.empty()) close_buffer(true);
    return file_;
  }
  std::size_t buffers() const { return buffers_; }
  std::size_t compressed_buffers() const { return compressed_; }
  std::size_t events() const { return events_; }

 private:
  void add(const Bytes& record) {
    const std::size_t aligned = (record.data.size() + 7) & ~std::size_t{7};
    if (72 + records_.size() + aligned > buffer_size) close_buffer(true);
    records_.insert(records_.end(), record.data.begin(), record.data.end());
    records_.resize(records_.size() + aligned - record.data.size(), 0);
    ++events_;
  }
  void close_buffer(bool allow_compress) {
    const std::uint32_t filled = static_cast<std::uint32_t>(72 + records_.size());
    const bool compressed = compress && allow_compress;
    std::vector<std::uint8_t> body = records_;
    if (compressed) {
      body = xpress_compress(records_.data(), records_.size());
    } else {
      body.resize(buffer_size - 72, 0xFF);  // the unused rest
    }
    const auto size = static_cast<std::uint32_t>(72 + body.size());
    Bytes h;
    h.u(size, 4).u(filled, 4).u(filled, 4).u(0, 4).u(0, 8).u(buffers_, 8).u(0, 8);
    h.u(0, 2).u(0, 2).u(3, 4).u(filled, 4).u(compressed ? 0x40 : 0, 2).u(0, 2).u(0, 16);
    file_.insert(file_.end(), h.data.begin(), h.data.end());
    file_.insert(file_.end(), body.begin(), body.end());
    records_.clear();
    ++buffers_;
    if (compressed) ++compressed_;
  }

  std::vector<std::uint8_t> records_;
  std::vector<std::uint8_t> file_;
  std::size_t buffers_ = 0, compressed_ = 0, events_ = 0;
};

// A pool trace with what a real one brings: images in the rundown, allocations with inline stacks
// and with stack keys (rundown at the end, two keys for one call site), a big-pool session
// allocation, a free of an allocation made before the trace, an allocation freed during it, other
// providers' events, spread over small buffers.
struct PoolTraceBytes {
  std::vector<std::uint8_t> file;
  std::size_t buffers = 0, compressed = 0, events = 0;
};

inline PoolTraceBytes build_pool_trace(unsigned p, bool compress) {
  EtlBuilder b;
  b.p = p;
  b.compress = compress;
  b.buffer_size = 512;
  const std::uint64_t kernel = p == 8 ? 0xFFFFF80000000000ull : 0x80400000u;
  const std::uint64_t driver = p == 8 ? 0xFFFFF88001230000ull : 0x8a230000u;
  const std::uint64_t other = p == 8 ? 0xFFFFF88004560000ull : 0x8c560000u;
  const std::uint64_t heap = p == 8 ? 0xFFFFA00000000000ull : 0x90000000u;
  b.trace_header(1000);
  b.system(0x14, 3, 0, 0, 1001, b.image(kernel, 0x800000, "\\SystemRoot\\system32\\ntoskrnl.exe"));
  b.system(0x14, 3, 0, 0, 1002,
           b.image(driver, 0x20000, "\\SystemRoot\\system32\\drivers\\leaky.sys"));
  b.system(0x14, 3, 0, 0, 1003,
           b.image(other, 0x10000, "\\SystemRoot\\system32\\drivers\\big.sys"));
  b.system(0x03, 3, 4, 8, 1004, Bytes{}.u(0, 64));  // a process rundown: skipped
  b.provider_event(1005, 40);                       // a user-mode provider: skipped
  // Leak, inline stack (kernel frames first, then the driver).
  b.system(0x0E, 32, 100, 200, 2000, b.pool(512, "Leak", 100, heap + 0x1000));
  b.perfinfo(0x18, 32, 2000, b.stack(2000, 100, 200, {kernel + 0x100, driver + 0x2a0, kernel + 9}));
  // Leak again, stack by key K1.
  b.system(0x0E, 32, 100, 201, 3000, b.pool(512, "Leak", 100, heap + 0x2000));
  b.perfinfo(0x18, 37, 3000, b.stack_key(3000, 100, 201, heap + 0xE000));
  b.perfinfo(0x18, 38, 3000, b.stack_key(3000, 100, 201, heap + 0xE100));  // user part
  // Temporary: allocated and freed (frees carry their stack too).
  b.system(0x0E, 32, 300, 300, 4000, b.pool(1, "Tmp ", 64, heap + 0x3000));
  b.perfinfo(0x18, 32, 4000, b.stack(4000, 300, 300, {kernel + 0x100, driver + 0x500}));
  b.system(0x0E, 34, 300, 300, 5000, b.pool(1, "Tmp ", 64, heap + 0x3000));
  // A free of an allocation made before the trace.
  b.system(0x0E, 34, 300, 300, 5100, b.pool(1, "Old ", 32, heap + 0x9000));
  // Big-pool session allocation (SessionId appended), by a PERFINFO-headed event: no thread in
  // the header, its stack key supplies it.
  Bytes session = b.pool(33 | 0x10000000, "Big ", 0x20000, heap + 0x100000);
  session.u(1, 4);
  b.perfinfo(0x0E, 33, 6000, session);
  b.perfinfo(0x18, 37, 6000, b.stack_key(6000, 444, 555, heap + 0xF000));
  // Key K2 leaves the cache: its frames.
  b.perfinfo(0x18, 35, 6500, b.key_frames(heap + 0xF000, {kernel + 0x200, other + 0x10}));
  // K1 is used again before its rundown: the same stack, the same site.
  b.system(0x0E, 32, 101, 202, 7000, b.pool(512, "Leak", 300, heap + 0x4000));
  b.perfinfo(0x18, 37, 7000, b.stack_key(7000, 101, 202, heap + 0xE000));
  for (int i = 0; i < 20; ++i) b.provider_event(7100 + i, 100);
  // The rundown at the end: K1's frames.
  b.perfinfo(0x18, 36, 8000, b.key_frames(heap + 0xE000, {kernel + 0x100, driver + 0x2a0}));
  b.perfinfo(0x18, 36, 8001, b.key_frames(heap + 0xE100, {0x7ff00000u, 0x7ff00010u}));
  PoolTraceBytes out;
  out.file = b.file();
  out.buffers = b.buffers();
  out.compressed = b.compressed_buffers();
  out.events = b.events();
  return out;
}

}  // namespace poolscope::testing::etl
