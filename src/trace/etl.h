// Event Trace Log (.etl) files, read without any Windows API: the WMI_BUFFER_HEADER buffers (and
// their LZXPRESS-compressed form), the trace header (TRACE_LOGFILE_HEADER) and the event header
// kinds inside, handed on one record at a time. Portable, bytes in: a trace captured with
// xperf/WPR on Windows is read on any OS. Layouts and their sources: docs/trace.md.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <istream>
#include <span>
#include <string>
#include <vector>

#include "core/result.h"
#include "trace/etw_pool.h"

namespace poolscope::trace::etl {

// LZXPRESS plain (MS-XCA 2.3/2.4) decompression of `in` into `out`; returns the bytes written. An
// input that ends early is not an error (a cut-off buffer yields what it holds); a back
// reference before the start of the output or a longer output than `out` holds is.
Result<std::size_t> xpress_decompress(std::span<const std::uint8_t> in,
                                      std::span<std::uint8_t> out);

inline constexpr std::size_t kBufferHeaderSize = 72;  // WMI_BUFFER_HEADER
// ETW_BUFFER_FLAG_*: the logger lost events or a whole buffer before this one; compressed.
inline constexpr std::uint16_t kBufferEventsLost = 0x0002, kBufferLost = 0x0004,
                               kBufferCompressed = 0x0040;
// Buffers are 4 KB to 16 MB (ETW's documented BufferSize range is 1 KB .. 16 MB).
inline constexpr std::uint32_t kMaxBufferSize = 16u << 20;

// TRACE_HEADER_TYPE_*: the event header kinds (the byte after the header's first u16).
enum class HeaderType : std::uint8_t {
  kSystem32 = 0x01,
  kSystem64 = 0x02,
  kCompact32 = 0x03,
  kCompact64 = 0x04,
  kFull32 = 0x0A,
  kInstance32 = 0x0B,
  kTimed = 0x0C,
  kError = 0x0D,
  kWnode = 0x0E,
  kMessage = 0x0F,
  kPerfInfo32 = 0x10,
  kPerfInfo64 = 0x11,
  kEventHeader32 = 0x12,
  kEventHeader64 = 0x13,
  kFull64 = 0x14,
  kInstance64 = 0x15,
};

// The trace header: the payload of the first record (group 0, opcode 0) of the first buffer.
struct TraceHeader {
  bool found = false;
  std::uint32_t buffer_size = 0;
  std::uint8_t major = 0, minor = 0;
  std::uint32_t build = 0;  // ProviderVersion: the Windows build that logged
  std::uint32_t processors = 0;
  std::uint64_t end_time = 0;  // FILETIME
  std::uint32_t log_file_mode = 0;
  std::uint32_t buffers_written = 0;
  unsigned pointer_size = 8;
  std::uint32_t events_lost = 0;
  std::uint32_t cpu_mhz = 0;
  std::uint64_t boot_time = 0;   // FILETIME
  std::uint64_t perf_freq = 0;   // QPC ticks per second
  std::uint64_t start_time = 0;  // FILETIME
  std::uint32_t clock_type = 0;  // ReservedFlags: 1 QPC, 2 system time, 3 CPU cycle counter
  std::uint32_t buffers_lost = 0;
  std::string logger_name;
  // The events' clock in ticks per second (from the clock type); 10 MHz when unknown.
  std::uint64_t ticks_per_second() const;
};

// One event as found in a buffer. For the classic kernel headers (system, compact, perfinfo)
// `group` and `opcode` are the hook id's bytes and `provider` is the event class GUID of the group
// where poolscope knows it; for EVENT_HEADER and full headers `provider` is from the header.
struct EtlRecord {
  HeaderType header_type = HeaderType::kSystem64;
  bool classic = false;  // a system/compact/perfinfo header: group + opcode (hook id)
  std::uint8_t group = 0;
  std::uint8_t opcode = 0;
  std::uint16_t version = 0;
  std::uint32_t pid = 0, tid = 0;
  std::uint64_t timestamp = 0;
  etw::Guid provider;
  unsigned pointer_size = 8;  // of the header (its 32/64 variant)
  std::span<const std::uint8_t> payload;
};

struct EtlStats {
  std::uint64_t bytes = 0;  // of the file
  std::uint64_t buffers = 0;
  std::uint64_t compressed_buffers = 0;
  std::uint64_t decompressed_bytes = 0;
  std::uint64_t events = 0;                        // every record, the trace header included
  std::array<std::uint64_t, 256> by_group{};       // classic headers by hook group
  std::array<std::uint64_t, 32> by_header_type{};  // every record by TRACE_HEADER_TYPE
  std::uint64_t buffers_events_lost = 0;           // buffers flagged "events lost before me"
  std::uint64_t buffers_lost_flag = 0;             // buffers flagged "a buffer lost before me"
  std::uint64_t bad_buffers = 0;                   // not decompressible or not walkable to the end
  std::string first_bad_buffer;                    // why the first one was
  bool truncated = false;                          // the file ends inside a buffer
  std::uint64_t truncated_at = 0;                  // the file offset of that buffer
  std::uint64_t first_timestamp = UINT64_MAX, last_timestamp = 0;
};

// Where the bytes come from: read up to out.size() bytes in order, return how many (0 at the end).
using ByteSource = std::function<std::size_t(std::span<std::uint8_t> out)>;
ByteSource span_source(std::span<const std::uint8_t> bytes);
ByteSource stream_source(std::istream& in);

// True when `start` (the first bytes of a file, at least 80) looks like an ETL file: a
// WMI_BUFFER_HEADER whose first record is a trace header.
bool looks_like_etl(std::span<const std::uint8_t> start);

// Reads an ETL file buffer by buffer (one buffer in memory at a time). open() reads the first
// buffer and its trace header; walk() hands every record, the first buffer's included, to `sink`.
class EtlReader {
 public:
  using Sink = std::function<void(const EtlRecord&)>;
  explicit EtlReader(ByteSource source) : source_(std::move(source)) {}

  // Fails (kInput) when the start is not an ETL buffer with a trace header.
  Result<void> open();
  const TraceHeader& header() const { return header_; }
  // Walks to the end of the file. A buffer that cannot be decompressed or walked is counted in
  // EtlStats::bad_buffers and skipped; a file cut off inside a buffer yields the records it holds.
  void walk(const Sink& sink);
  const EtlStats& stats() const { return stats_; }

 private:
  bool read_buffer();  // into stored_; false at the end of the file
  void walk_buffer(const Sink& sink);

  ByteSource source_;
  TraceHeader header_;
  EtlStats stats_;
  std::vector<std::uint8_t> stored_;        // the buffer as in the file
  std::vector<std::uint8_t> decompressed_;  // header + decompressed records
  bool pending_ = false;                    // stored_ holds a buffer not yet walked
  std::uint64_t offset_ = 0;                // of the next buffer in the file
};

// Decodes a TRACE_LOGFILE_HEADER payload (pointer size from the header kind that carried it).
Result<TraceHeader> decode_trace_header(std::span<const std::uint8_t> payload,
                                        unsigned pointer_size);

// The EtwRecord the live ETW consumer would see for this record (the shared pool decoder's
// input).
etw::EtwRecord to_etw_record(const EtlRecord& record);

}  // namespace poolscope::trace::etl
