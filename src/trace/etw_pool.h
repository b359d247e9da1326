// Windows pool tracing (`trace` on Windows): decodes what an ETW EVENT_RECORD of the NT Kernel
// Logger carries for pool allocations and frees (PoolGuid), their stacks (StackWalkGuid) and the
// loaded images (ImageLoadGuid), then pairs allocations with frees in the AllocationTracker.
// Portable code: the Windows session (windows/etw_session.cpp) only copies the record fields in;
// the layouts and their sources are in docs/trace.md.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "core/result.h"
#include "trace/tracker.h"

namespace poolscope::trace::etw {

struct Guid {
  std::uint32_t data1 = 0;
  std::uint16_t data2 = 0, data3 = 0;
  std::array<std::uint8_t, 8> data4{};
  bool operator==(const Guid&) const = default;
};

// The classic kernel event classes poolscope reads: the values several public sources agree on
// (ntwmi.h-style headers, Microsoft's MOF class documentation, public ETW consumers;
// docs/trace.md).
inline constexpr Guid kPoolGuid{
    0x0268a8b6, 0x74fd, 0x4302, {0x9d, 0xd0, 0x6e, 0x8f, 0x17, 0x95, 0xc0, 0xcf}};
inline constexpr Guid kStackWalkGuid{
    0xdef2fe46, 0x7bd6, 0x4b80, {0xbd, 0x94, 0xf5, 0x7f, 0xe2, 0x0d, 0x0c, 0xe3}};
inline constexpr Guid kImageLoadGuid{
    0x2cb15d1d, 0x5fc1, 0x11d2, {0xab, 0xe1, 0x00, 0xa0, 0xc9, 0x11, 0xf5, 0x18}};

// RT_LostEvent: delivered to a real-time consumer when events (32), buffers (33) or the rundown
// (34) were lost on the way to it; no payload.
inline constexpr Guid kLostEventGuid{
    0x6a399ae0, 0x4bc6, 0x4de9, {0x87, 0x0b, 0x36, 0x57, 0xf8, 0x94, 0x7e, 0x7e}};

// Opcodes (the low byte of the PERFINFO_LOG_TYPE_*; EVENT_TRACE_GROUP_POOL = 0x0E00). This is the
// modern numbering (Windows Vista and later); NT 5 headers numbered free as 0x21.
inline constexpr std::uint8_t kOpPoolAlloc = 0x20;
inline constexpr std::uint8_t kOpPoolAllocSession = 0x21;
inline constexpr std::uint8_t kOpPoolFree = 0x22;
inline constexpr std::uint8_t kOpPoolFreeSession = 0x23;
inline constexpr std::uint8_t kOpStackWalk = 0x20;  // StackWalk_Event
inline constexpr std::uint8_t kOpImageUnload = 2, kOpImageDcStart = 3, kOpImageDcEnd = 4,
                              kOpImageLoad = 10;
// EVENT_HEADER.Flags: the pointer size of the process that logged the event.
inline constexpr std::uint16_t kHeaderFlag32Bit = 0x0020;
inline constexpr std::uint16_t kHeaderFlag64Bit = 0x0040;
// StackWalk_Event has Stack1 .. Stack192.
inline constexpr std::size_t kMaxStackFrames = 192;

// What the consumer copies out of an EVENT_RECORD (the header fields and UserData/UserDataLength).
struct EtwRecord {
  Guid provider;  // EventHeader.ProviderId: for classic kernel events, the event class GUID
  std::uint8_t opcode = 0;
  std::uint8_t version = 0;
  std::uint16_t header_flags = 0;
  std::uint32_t pid = 0, tid = 0;
  std::uint64_t timestamp = 0;  // EventHeader.TimeStamp (raw QPC ticks in the session's mode)
  std::span<const std::uint8_t> user_data;
};

enum class PoolOp : std::uint8_t { kAlloc, kAllocSession, kFree, kFreeSession };

struct PoolEvent {
  PoolOp op = PoolOp::kAlloc;
  std::uint32_t pool_type = 0;
  std::uint32_t tag = 0;  // the four tag bytes, little-endian ("Strg" = 'S' | 't' << 8 | ...)
  std::uint64_t bytes = 0;
  std::uint64_t address = 0;
  std::uint32_t pid = 0, tid = 0;
  std::uint64_t timestamp = 0;
};

struct StackEvent {
  std::uint64_t event_timestamp = 0;  // the TimeStamp of the event this stack belongs to
  std::uint32_t pid = 0, tid = 0;
  std::vector<std::uint64_t> frames;  // innermost first
};

struct ImageEvent {
  std::uint8_t opcode = 0;
  std::uint64_t base = 0, size = 0;
  std::uint32_t pid = 0;
  std::string file_name;  // UTF-8, as the kernel logged it (\SystemRoot\..., \Device\...)
};

struct LostRecord {
  std::uint8_t opcode = 0;  // 32 events, 33 buffers, 34 rundown
};

struct Ignored {};  // a record of another class or opcode
using Decoded = std::variant<Ignored, PoolEvent, StackEvent, ImageEvent, LostRecord>;

// 4 or 8 from the header flags; `fallback` when neither flag is set.
unsigned pointer_size(std::uint16_t header_flags, unsigned fallback = 8);
// Decodes one record. A payload too short for its layout is an error (kInput), never read past.
Result<Decoded> decode(const EtwRecord& record);

// "Strg" from the tag value; bytes that are not printable ASCII show as '?'.
std::string tag_text(std::uint32_t tag);
// The tag value of a 1..4 character name (shorter names are padded with blanks, as the kernel's
// tags are); an error for an empty or longer name.
Result<std::uint32_t> parse_tag(std::string_view name);

// Loaded kernel images by address (drivers and the kernel; user-mode images are not kept).
class ImageMap {
 public:
  struct Image {
    std::uint64_t base = 0, size = 0;
    std::string name;     // the file name without its folder: "tcpip.sys"
    bool kernel = false;  // ntoskrnl.exe / ntkrnlmp.exe / ntkrnlpa.exe / ntkrpamp.exe
  };
  static constexpr std::size_t kMaxImages = 4096;

  void add(const ImageEvent& event, unsigned pointer_size);
  const Image* at(std::uint64_t address) const;
  std::size_t size() const { return images_.size(); }

 private:
  std::vector<Image> images_;  // sorted by base
};

// The call site of an allocation: the first frame outside the kernel image (the pool allocator
// and its ntoskrnl callers), i.e. the driver that asked; 0 for an empty stack. When every known
// frame is ntoskrnl's the first frame is the call site (the kernel allocated for itself).
std::uint64_t call_site_of(std::span<const std::uint64_t> frames, const ImageMap& images,
                           unsigned pointer_size);

struct SiteName {
  std::string symbol;  // "tcpip.sys+0x1a2b", or the address in hex when no image holds it
  std::string module;  // "tcpip.sys"; empty when unknown
};

struct EtwStats {
  std::uint64_t records = 0;
  std::uint64_t pool_events = 0;
  std::uint64_t other_tags = 0;  // pool events of tags not asked for
  std::uint64_t stacks = 0;
  std::uint64_t stacks_matched = 0;
  std::uint64_t allocations_without_stack = 0;
  std::uint64_t images = 0;
  std::uint64_t lost_records = 0;  // RT_LostEvent records (events, buffers or rundown lost)
  std::uint64_t malformed = 0;     // records whose payload did not fit its layout
  std::string first_malformed;     // the first such error message
};

struct EtwOptions {
  TrackerOptions tracker;
  std::uint64_t ticks_per_second = 10'000'000;  // the timestamps' clock (QPC frequency)
  std::vector<std::uint32_t> tags;              // empty: every tag
  unsigned default_pointer_size = 8;            // when a header has neither pointer flag
};

// Pairs pool allocations with frees. Events are held until flush() so that the stack of an
// allocation (a separate record) can still arrive, and so that records delivered out of order by
// the per-CPU buffers are put back in time order; at most kMaxPending are held.
class EtwPoolProcessor {
 public:
  static constexpr std::size_t kMaxPending = std::size_t{1} << 16;
  explicit EtwPoolProcessor(EtwOptions options = {});

  void add(const EtwRecord& record);
  // Pairs every held event older than `watermark` (raw ticks); UINT64_MAX: all of them.
  void flush(std::uint64_t watermark = UINT64_MAX);

  const AllocationTracker& tracker() const { return tracker_; }
  const ImageMap& images() const { return images_; }
  const EtwStats& stats() const { return stats_; }
  std::uint64_t latest_timestamp() const { return latest_; }
  std::uint64_t to_ns(std::uint64_t ticks) const;
  // The tag of a tracker cache id.
  std::string_view tag_name(std::uint16_t id) const;
  SiteName name(std::uint64_t call_site) const;

 private:
  struct Pending {
    std::uint64_t timestamp = 0;
    std::uint32_t tid = 0;
    KmemEvent event;  // time, call_site filled at flush
  };
  std::uint16_t intern(std::uint32_t tag);
  static std::uint64_t key(std::uint64_t timestamp, std::uint32_t tid) {
    return timestamp * 0x9E3779B97F4A7C15ull ^ tid;
  }

  EtwOptions options_;
  AllocationTracker tracker_;
  ImageMap images_;
  EtwStats stats_;
  std::vector<Pending> pending_;
  struct Stack {
    std::uint64_t timestamp = 0;
    std::uint32_t tid = 0;
    std::uint64_t call_site = 0;
  };
  std::unordered_multimap<std::uint64_t, Stack> stacks_;
  std::vector<std::string> tag_names_;
  std::unordered_map<std::uint32_t, std::uint16_t> tag_ids_;
  unsigned pointer_size_ = 8;
  std::uint64_t latest_ = 0;
};

}  // namespace poolscope::trace::etw
