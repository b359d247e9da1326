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
// Stack keys (Windows 8 and later, -stackwalk with stack caching): an event's stack is logged as a
// key (37 kernel part, 38 user part) whose frames come later, when the key leaves the cache
// (KeyDelete 35) or at the end of the trace (KeyRundown 36).
inline constexpr std::uint8_t kOpStackKeyDelete = 35, kOpStackKeyRundown = 36,
                              kOpStackKeyKernel = 37, kOpStackKeyUser = 38;
// ETW_POOLTRACE_BIGPOOL_MASK: ORed into the pool type of big-pool blocks.
inline constexpr std::uint32_t kBigPoolFlag = 0x10000000;
inline constexpr std::uint8_t kOpImageUnload = 2, kOpImageDcStart = 3, kOpImageDcEnd = 4,
                              kOpImageLoad = 10;
// EVENT_HEADER.Flags: the pointer size of the process that logged the event.
inline constexpr std::uint16_t kHeaderFlag32Bit = 0x0020;
inline constexpr std::uint16_t kHeaderFlag64Bit = 0x0040;
// The thread and process of an event whose header does not carry them (PERFINFO headers in an ETL
// file): its stack walk, matched by timestamp alone, supplies them.
inline constexpr std::uint32_t kUnknownThread = 0xFFFFFFFF;
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
  bool big_pool = false;  // kBigPoolFlag was set (pool_type has it masked off)
};

struct StackEvent {
  std::uint64_t event_timestamp = 0;  // the TimeStamp of the event this stack belongs to
  std::uint32_t pid = 0, tid = 0;
  std::vector<std::uint64_t> frames;  // innermost first
};

// StackWalk_Key: the stack of the event at event_timestamp is the cached stack `key`.
struct StackKeyEvent {
  std::uint64_t event_timestamp = 0;
  std::uint32_t pid = 0, tid = 0;
  std::uint64_t key = 0;
  bool kernel = true;  // 37: the kernel part of the stack; 38: the user part
};

// StackWalk_KeyDelete / KeyRundown: the frames of a cached stack key.
struct StackKeyFrames {
  std::uint64_t key = 0;
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
using Decoded = std::variant<Ignored, PoolEvent, StackEvent, ImageEvent, LostRecord, StackKeyEvent,
                             StackKeyFrames>;

// 4 or 8 from the header flags; `fallback` when neither flag is set.
unsigned pointer_size(std::uint16_t header_flags, unsigned fallback = 8);
// Decodes one record. A payload too short for its layout is an error (kInput), never read past.
Result<Decoded> decode(const EtwRecord& record);

// "Strg" from the tag value; bytes that are not printable ASCII show as '?'.
std::string tag_text(std::uint32_t tag);
// The tag value of a 1..4 character name (shorter names are padded with blanks, as the kernel's
// tags are); an error for an empty or longer name.
Result<std::uint32_t> parse_tag(std::string_view name);
// The tag values of --tag names; the first bad name's error.
Result<std::vector<std::uint32_t>> parse_tags(const std::vector<std::string>& names);

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
  std::uint64_t stack_keys = 0;        // kernel stack-key references
  std::uint64_t stack_key_frames = 0;  // key deletes and rundowns
  std::uint64_t big_pool = 0;          // pool events with the big-pool flag
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
  // The tag of a tracker cache id: its text, its value and the pool type of its first allocation.
  std::string_view tag_name(std::uint16_t id) const;
  std::uint32_t tag_value(std::uint16_t id) const;
  std::uint32_t tag_pool_type(std::uint16_t id) const;
  std::size_t tag_count() const { return tag_names_.size(); }
  SiteName name(std::uint64_t call_site) const;
  // The call site an allocation's stack key stands for, once its frames arrived (0 when they never
  // did); any other call site as it is. The report merges the sites that resolve alike.
  std::uint64_t resolve(std::uint64_t call_site) const;
  // The call sites that stand for a stack key: a range no canonical address uses.
  static constexpr std::uint64_t kKeySiteBase = 0xFFFF000000000000ull;
  static constexpr std::size_t kMaxKeySites = std::size_t{1} << 20;

 private:
  struct Pending {
    std::uint64_t timestamp = 0;
    std::uint32_t tid = 0;
    KmemEvent event;  // time, call_site filled at flush
  };
  std::uint16_t intern(std::uint32_t tag, std::uint32_t pool_type);
  void sort_pending();
  // Stacks are found by timestamp; the thread must match too unless the event did not carry it.
  void add_stack(std::uint64_t timestamp, std::uint32_t pid, std::uint32_t tid,
                 std::uint64_t call_site);

  EtwOptions options_;
  AllocationTracker tracker_;
  ImageMap images_;
  EtwStats stats_;
  std::vector<Pending> pending_;
  struct Stack {
    std::uint64_t timestamp = 0;
    std::uint32_t pid = 0, tid = 0;
    std::uint64_t call_site = 0;
    bool used = false;  // matched to its event
  };
  std::vector<std::uint64_t> key_sites_;  // resolved call site of each key site (0: not yet)
  std::unordered_map<std::uint64_t, std::uint32_t> open_keys_;  // key -> key site awaiting frames
  std::vector<Stack> stacks_;  // by timestamp; those before stacks_begin_ are done
  std::size_t stacks_begin_ = 0;
  std::vector<std::string> tag_names_;
  std::vector<std::uint32_t> tag_values_, tag_pool_types_;
  std::unordered_map<std::uint32_t, std::uint16_t> tag_ids_;
  unsigned pointer_size_ = 8;
  std::uint64_t latest_ = 0;
};

}  // namespace poolscope::trace::etw
