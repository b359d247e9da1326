// ETL buffers, the trace header and the event headers (layouts in docs/trace.md).
#include "trace/etl.h"

#include <algorithm>
#include <cstring>

#include "core/forward_error.h"
#include "parse/encoding.h"

namespace poolscope::trace::etl {

namespace {

std::uint16_t le16(std::span<const std::uint8_t> data, std::size_t offset) {
  return static_cast<std::uint16_t>(data[offset] | (data[offset + 1] << 8));
}

std::uint32_t le32(std::span<const std::uint8_t> data, std::size_t offset) {
  std::uint32_t value;
  std::memcpy(&value, data.data() + offset, 4);  // little-endian hosts only (every target)
  return value;
}

std::uint64_t le64(std::span<const std::uint8_t> data, std::size_t offset) {
  std::uint64_t value;
  std::memcpy(&value, data.data() + offset, 8);
  return value;
}

etw::Guid guid_at(std::span<const std::uint8_t> data, std::size_t offset) {
  etw::Guid guid;
  guid.data1 = le32(data, offset);
  guid.data2 = le16(data, offset + 4);
  guid.data3 = le16(data, offset + 6);
  std::memcpy(guid.data4.data(), data.data() + offset + 8, 8);
  return guid;
}

// The event class GUID of the kernel hook groups the pool decoder reads.
etw::Guid group_guid(std::uint8_t group) {
  switch (group) {
    case 0x0E:
      return etw::kPoolGuid;
    case 0x14:
      return etw::kImageLoadGuid;
    case 0x18:
      return etw::kStackWalkGuid;
    default:
      return etw::Guid{0xFFFF0000u | group, 0, 0, {}};  // no class poolscope reads
  }
}

bool is_classic(std::uint8_t type) {
  return (type >= 0x01 && type <= 0x04) || type == 0x10 || type == 0x11;
}

// The size of the fixed header of each kind; 4 for kinds whose fields poolscope does not read.
std::size_t header_length(std::uint8_t type) {
  switch (type) {
    case 0x01:
    case 0x02:
      return 32;  // SYSTEM_TRACE_HEADER
    case 0x03:
    case 0x04:
      return 24;  // compact system header
    case 0x10:
    case 0x11:
      return 16;  // PERFINFO_TRACE_HEADER
    case 0x12:
    case 0x13:
      return 80;  // EVENT_HEADER
    case 0x0A:
    case 0x14:
      return 48;  // EVENT_TRACE_HEADER
    default:
      return 4;
  }
}

unsigned header_pointer_size(std::uint8_t type) {
  switch (type) {
    case 0x01:
    case 0x03:
    case 0x0A:
    case 0x0B:
    case 0x10:
    case 0x12:
      return 4;
    default:
      return 8;
  }
}

}  // namespace

Result<std::size_t> xpress_decompress(std::span<const std::uint8_t> in,
                                      std::span<std::uint8_t> out) {
  // MS-XCA 2.4: 32 flag bits (most significant first) choose a literal byte (0) or a match (1);
  // a match is a u16 of (offset - 1) << 3 | length - 3, longer lengths in a shared half byte, a
  // byte, a u16 or a u32 after it.
  std::size_t ip = 0, op = 0;
  std::uint32_t flags = 0;
  int flag_count = 0;
  std::size_t half_byte_at = 0;  // 0: none pending
  const std::size_t in_size = in.size(), out_size = out.size();
  for (;;) {
    if (flag_count == 0) {
      if (ip + 4 > in_size) return op;
      flags = le32(in, ip);
      ip += 4;
      flag_count = 32;
    }
    --flag_count;
    if ((flags & (1u << flag_count)) == 0) {
      if (ip >= in_size || op >= out_size) return op;
      out[op++] = in[ip++];
      continue;
    }
    if (ip + 2 > in_size) return op;
    const std::uint16_t match = le16(in, ip);
    ip += 2;
    std::size_t length = match & 7;
    const std::size_t distance = (match >> 3) + 1;
    if (length == 7) {
      if (half_byte_at == 0) {
        if (ip >= in_size) return op;
        length = in[ip] & 15;
        half_byte_at = ip++;
      } else {
        length = in[half_byte_at] >> 4;
        half_byte_at = 0;
      }
      if (length == 15) {
        if (ip >= in_size) return op;
        length = in[ip++];
        if (length == 255) {
          if (ip + 2 > in_size) return op;
          length = le16(in, ip);
          ip += 2;
          if (length == 0) {
            if (ip + 4 > in_size) return op;
            length = le32(in, ip);
            ip += 4;
          }
          if (length < 15 + 7) {
            return make_error(ErrorCode::kInput, "LZXPRESS match length below its minimum");
          }
          length -= 15 + 7;
        }
        length += 15;
      }
      length += 7;
    }
    length += 3;
    if (distance > op) {
      return make_error(ErrorCode::kInput, "LZXPRESS match refers to " + std::to_string(distance) +
                                               " bytes back at output byte " + std::to_string(op));
    }
    if (length > out_size - op) {
      return make_error(ErrorCode::kInput, "LZXPRESS output is longer than the buffer's " +
                                               std::to_string(out_size) + " bytes");
    }
    std::uint8_t* dst = out.data() + op;
    const std::uint8_t* src = dst - distance;
    if (distance >= length) {
      std::memcpy(dst, src, length);
    } else {
      for (std::size_t i = 0; i < length; ++i) dst[i] = src[i];  // overlapping: a repeat
    }
    op += length;
  }
}

std::uint64_t TraceHeader::ticks_per_second() const {
  switch (clock_type) {
    case 1:
      return perf_freq != 0 ? perf_freq : 10'000'000;
    case 3:
      return cpu_mhz != 0 ? std::uint64_t{cpu_mhz} * 1'000'000 : 10'000'000;
    default:
      return 10'000'000;  // system time: 100 ns
  }
}

Result<TraceHeader> decode_trace_header(std::span<const std::uint8_t> payload,
                                        unsigned pointer_size) {
  // TRACE_LOGFILE_HEADER: ULONG BufferSize; UCHAR version[4]; ULONG ProviderVersion; ULONG
  // NumberOfProcessors; LARGE_INTEGER EndTime; ULONG TimerResolution, MaximumFileSize,
  // LogFileMode, BuffersWritten; ULONG StartBuffers, PointerSize, EventsLost, CpuSpeedInMHz;
  // LPWSTR LoggerName, LogFileName; TIME_ZONE_INFORMATION (172 bytes); LARGE_INTEGER BootTime,
  // PerfFreq, StartTime (8-aligned); ULONG ReservedFlags (clock type), BuffersLost; then the
  // logger and file names.
  const std::size_t p = pointer_size;
  const std::size_t tz_at = 0x38 + 2 * p;
  const std::size_t boot_at = (tz_at + 172 + 7) & ~std::size_t{7};
  const std::size_t names_at = boot_at + 32;
  if (payload.size() < names_at) {
    return make_error(ErrorCode::kInput, "the trace header is " + std::to_string(payload.size()) +
                                             " bytes, its layout needs " +
                                             std::to_string(names_at));
  }
  TraceHeader h;
  h.found = true;
  h.buffer_size = le32(payload, 0);
  h.major = payload[4];
  h.minor = payload[5];
  h.build = le32(payload, 8);
  h.processors = le32(payload, 12);
  h.end_time = le64(payload, 16);
  h.log_file_mode = le32(payload, 32);
  h.buffers_written = le32(payload, 36);
  const std::uint32_t logged_pointer_size = le32(payload, 44);
  if (logged_pointer_size == 4 || logged_pointer_size == 8) {
    h.pointer_size = logged_pointer_size;
  } else {
    h.pointer_size = pointer_size;
  }
  h.events_lost = le32(payload, 48);
  h.cpu_mhz = le32(payload, 52);
  h.boot_time = le64(payload, boot_at);
  h.perf_freq = le64(payload, boot_at + 8);
  h.start_time = le64(payload, boot_at + 16);
  h.clock_type = le32(payload, boot_at + 24);
  h.buffers_lost = le32(payload, boot_at + 28);
  std::size_t end = names_at;
  while (end + 1 < payload.size() && (payload[end] != 0 || payload[end + 1] != 0)) end += 2;
  h.logger_name = parse::utf16le_to_utf8(
      std::as_bytes(payload.subspan(names_at, std::min(end, payload.size()) - names_at)));
  return h;
}

ByteSource span_source(std::span<const std::uint8_t> bytes) {
  return [bytes, at = std::size_t{0}](std::span<std::uint8_t> out) mutable {
    const std::size_t n = std::min(out.size(), bytes.size() - at);
    if (n > 0) std::memcpy(out.data(), bytes.data() + at, n);
    at += n;
    return n;
  };
}

ByteSource stream_source(std::istream& in) {
  return [&in](std::span<std::uint8_t> out) {
    in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(out.size()));
    return static_cast<std::size_t>(in.gcount());
  };
}

bool looks_like_etl(std::span<const std::uint8_t> start) {
  if (start.size() < kBufferHeaderSize + 8) return false;
  const std::uint32_t buffer_size = le32(start, 0);
  const std::uint32_t filled = le32(start, 0x30);
  if (buffer_size < kBufferHeaderSize + 8 || buffer_size > kMaxBufferSize) return false;
  if (filled < kBufferHeaderSize + 8 || (le16(start, 0x34) & kBufferCompressed) != 0) return false;
  // The first record: a classic system header of group 0, opcode 0 (the trace header).
  const std::uint8_t type = start[kBufferHeaderSize + 2];
  const std::uint8_t marker = start[kBufferHeaderSize + 3];
  return (marker & 0x80) != 0 && (type == 0x01 || type == 0x02) &&
         start[kBufferHeaderSize + 6] == 0 && start[kBufferHeaderSize + 7] == 0;
}

bool EtlReader::read_buffer() {
  std::array<std::uint8_t, kBufferHeaderSize> head{};
  const std::size_t got = source_(head);
  if (got == 0) return false;
  if (got < head.size()) {
    stats_.bytes += got;
    stats_.truncated = true;
    stats_.truncated_at = offset_;
    return false;
  }
  const std::uint32_t size = le32(head, 0);
  if (size < kBufferHeaderSize || size > kMaxBufferSize) {
    stats_.bytes += got;
    ++stats_.bad_buffers;
    if (stats_.first_bad_buffer.empty()) {
      stats_.first_bad_buffer = "the buffer at byte " + std::to_string(offset_) +
                                " has a size of " + std::to_string(size) +
                                " bytes: not a buffer; the rest of the file was not read";
    }
    return false;
  }
  stored_.resize(size);
  std::memcpy(stored_.data(), head.data(), head.size());
  const std::size_t rest = source_(std::span(stored_).subspan(head.size()));
  stats_.bytes += got + rest;
  if (rest < size - head.size()) {
    stored_.resize(head.size() + rest);
    stats_.truncated = true;
    stats_.truncated_at = offset_;
  }
  offset_ += size;
  return true;
}

Result<void> EtlReader::open() {
  if (!read_buffer()) {
    return make_error(ErrorCode::kInput, "not an ETL file: it is shorter than one buffer header");
  }
  if (!looks_like_etl(stored_)) {
    return make_error(ErrorCode::kInput,
                      "not an ETL file: the first bytes are not a WMI buffer header followed by "
                      "a trace header (group 0, opcode 0)");
  }
  pending_ = true;
  const std::uint8_t type = stored_[kBufferHeaderSize + 2];
  const std::size_t size = le16(stored_, kBufferHeaderSize + 4);
  if (size < 32 || kBufferHeaderSize + size > stored_.size()) {
    return make_error(ErrorCode::kInput, "the trace header record runs past its buffer");
  }
  auto header = decode_trace_header(
      std::span<const std::uint8_t>(stored_).subspan(kBufferHeaderSize + 32, size - 32),
      header_pointer_size(type));
  if (!header) return forward_error(header);
  header_ = std::move(*header);
  return {};
}

void EtlReader::walk(const Sink& sink) {
  if (pending_) {
    pending_ = false;
    walk_buffer(sink);
  }
  while (read_buffer()) walk_buffer(sink);
}

void EtlReader::walk_buffer(const Sink& sink) {
  ++stats_.buffers;
  std::span<const std::uint8_t> buffer = stored_;
  if (buffer.size() < kBufferHeaderSize) return;
  const std::uint16_t flags = le16(buffer, 0x34);
  if (flags & kBufferEventsLost) ++stats_.buffers_events_lost;
  if (flags & kBufferLost) ++stats_.buffers_lost_flag;
  std::size_t filled = le32(buffer, 0x30);  // Offset: the bytes in use, header included
  auto bad = [&](std::string why) {
    ++stats_.bad_buffers;
    if (stats_.first_bad_buffer.empty()) {
      stats_.first_bad_buffer = "buffer " + std::to_string(stats_.buffers - 1) + " (byte " +
                                std::to_string(offset_ - le32(stored_, 0)) + "): " + std::move(why);
    }
  };
  if (flags & kBufferCompressed) {
    ++stats_.compressed_buffers;
    if (filled < kBufferHeaderSize || filled > kMaxBufferSize) {
      bad("its filled size " + std::to_string(filled) + " is not a buffer size");
      return;
    }
    decompressed_.resize(filled);
    std::memcpy(decompressed_.data(), buffer.data(), kBufferHeaderSize);
    auto n = xpress_decompress(buffer.subspan(kBufferHeaderSize),
                               std::span(decompressed_).subspan(kBufferHeaderSize));
    if (!n) {
      bad(n.error().message);
      return;
    }
    stats_.decompressed_bytes += *n;
    if (*n != filled - kBufferHeaderSize && !stats_.truncated) {
      bad("decompressed to " + std::to_string(*n) + " bytes, its header says " +
          std::to_string(filled - kBufferHeaderSize));
    }
    filled = kBufferHeaderSize + *n;
    buffer = std::span<const std::uint8_t>(decompressed_).first(filled);
  } else {
    filled = std::min(filled, buffer.size());
  }

  std::size_t pos = kBufferHeaderSize;
  EtlRecord record;
  while (pos + 4 <= filled) {
    if (le32(buffer, pos) == 0xFFFFFFFFu) break;  // the unused rest of the buffer
    const std::uint8_t type = buffer[pos + 2];
    const std::uint8_t marker = buffer[pos + 3];
    if ((marker & 0x80) == 0) {
      bad("no event header at byte " + std::to_string(pos));
      return;
    }
    const bool classic = is_classic(type);
    if (classic && pos + 8 > filled) break;
    const std::size_t size = classic ? le16(buffer, pos + 4) : le16(buffer, pos);
    const std::size_t head = header_length(type);
    if (size < head) {
      bad("an event of " + std::to_string(size) + " bytes at byte " + std::to_string(pos) +
          " is shorter than its header");
      return;
    }
    if (pos + size > filled) {
      if (!stats_.truncated) bad("the event at byte " + std::to_string(pos) + " runs past it");
      return;
    }
    const auto event = buffer.subspan(pos, size);
    record.header_type = static_cast<HeaderType>(type);
    record.classic = classic;
    record.pointer_size = header_pointer_size(type);
    record.pid = record.tid = 0;
    record.timestamp = 0;
    record.group = record.opcode = 0;
    record.version = 0;
    record.payload = event.subspan(head);
    if (classic) {
      record.version = le16(event, 0);
      record.opcode = event[6];
      record.group = event[7];
      record.provider = group_guid(record.group);
      if (type == 0x10 || type == 0x11) {
        record.pid = record.tid = etw::kUnknownThread;
        record.timestamp = le64(event, 8);
      } else {
        record.tid = le32(event, 8);
        record.pid = le32(event, 12);
        record.timestamp = le64(event, 16);
      }
      ++stats_.by_group[record.group];
    } else if (head >= 48) {
      record.tid = le32(event, 8);
      record.pid = le32(event, 12);
      record.timestamp = le64(event, 16);
      record.provider = guid_at(event, 24);
      if (head == 80) {
        record.version = event[42];
        record.opcode = event[45];
        // Extended data items (EVENT_HEADER_FLAG_EXTENDED_INFO) come before the user data;
        // poolscope reads no EVENT_HEADER payload, so it is not split off here.
      } else {
        record.opcode = event[4];
        record.version = le16(event, 6);
      }
    } else {
      record.provider = etw::Guid{};
    }
    ++stats_.events;
    ++stats_.by_header_type[type & 31];
    if (record.timestamp != 0) {
      stats_.first_timestamp = std::min(stats_.first_timestamp, record.timestamp);
      stats_.last_timestamp = std::max(stats_.last_timestamp, record.timestamp);
    }
    sink(record);
    pos += (size + 7) & ~std::size_t{7};
  }
}

etw::EtwRecord to_etw_record(const EtlRecord& record) {
  etw::EtwRecord out;
  out.provider = record.provider;
  out.opcode = record.opcode;
  out.version = static_cast<std::uint8_t>(record.version);
  out.header_flags = record.pointer_size == 4 ? etw::kHeaderFlag32Bit : etw::kHeaderFlag64Bit;
  out.pid = record.pid;
  out.tid = record.tid;
  out.timestamp = record.timestamp;
  out.user_data = record.payload;
  return out;
}

}  // namespace poolscope::trace::etl
