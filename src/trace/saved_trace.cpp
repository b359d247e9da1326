// Saved raw trace files: writer and replay.
#include "trace/saved_trace.h"

#include <cerrno>
#include <cstring>

#include "core/bytes.h"
#include "core/forward_error.h"
#include "parse/text.h"

namespace poolscope::trace {

namespace {

constexpr std::size_t kHeaderBytes = 16;

void put_u32(std::uint8_t* at, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) at[i] = static_cast<std::uint8_t>(value >> (8 * i));
}
void put_u64(std::uint8_t* at, std::uint64_t value) {
  for (int i = 0; i < 8; ++i) at[i] = static_cast<std::uint8_t>(value >> (8 * i));
}
// Reads exactly `size` bytes; false when the stream ends first.
bool read_exact(std::istream& in, void* to, std::size_t size) {
  in.read(static_cast<char*>(to), static_cast<std::streamsize>(size));
  return static_cast<std::size_t>(in.gcount()) == size;
}

}  // namespace

std::string key_values_text(const KeyValues& values) {
  std::string out;
  for (const auto& [key, value] : values) {
    out += key;
    out += ' ';
    for (char c : value) out += (c == '\n' ? ' ' : c);  // one line per key
    out += '\n';
  }
  return out;
}

KeyValues parse_key_values(std::string_view text) {
  KeyValues out;
  parse::LineReader reader(text);
  std::string_view line;
  while (reader.next(line)) {
    const std::size_t blank = line.find(' ');
    if (blank == 0 || line.empty()) continue;
    if (blank == std::string_view::npos) {
      out.emplace_back(std::string(line), std::string());
    } else {
      out.emplace_back(std::string(line.substr(0, blank)), std::string(line.substr(blank + 1)));
    }
  }
  return out;
}

std::optional<std::string_view> find_value(const KeyValues& values, std::string_view key) {
  for (const auto& [k, v] : values) {
    if (k == key) return std::string_view(v);
  }
  return std::nullopt;
}

Result<SavedTraceWriter> SavedTraceWriter::create(const std::filesystem::path& path) {
  std::FILE* file = std::fopen(path.string().c_str(), "wb");
  if (file == nullptr) {
    const int error = errno;
    return make_error(ErrorCode::kEnvironment,
                      "cannot create the trace file " + path.string() + ": " +
                          std::strerror(error) + " (choose a writable path for --save)",
                      error);
  }
  std::setvbuf(file, nullptr, _IOFBF, 1 << 20);
  SavedTraceWriter writer(file, path);
  if (std::fwrite(kSavedTraceMagic, 1, sizeof kSavedTraceMagic, file) != sizeof kSavedTraceMagic) {
    writer.failed_ = true;
  }
  writer.bytes_ = sizeof kSavedTraceMagic;
  return writer;
}

SavedTraceWriter::SavedTraceWriter(SavedTraceWriter&& other) noexcept
    : file_(std::exchange(other.file_, nullptr)),
      path_(std::move(other.path_)),
      bytes_(other.bytes_),
      failed_(other.failed_) {}

SavedTraceWriter::~SavedTraceWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

Result<void> SavedTraceWriter::record(SavedRecord kind, std::uint32_t arg,
                                      std::span<const std::uint8_t> payload) {
  if (file_ == nullptr) {
    return make_error(ErrorCode::kInternal, "the trace file " + path_.string() + " is closed");
  }
  std::uint8_t header[kHeaderBytes];
  put_u32(header, static_cast<std::uint32_t>(kind));
  put_u32(header + 4, arg);
  put_u64(header + 8, payload.size());
  if (!failed_) {
    failed_ = std::fwrite(header, 1, sizeof header, file_) != sizeof header ||
              (!payload.empty() &&
               std::fwrite(payload.data(), 1, payload.size(), file_) != payload.size());
  }
  if (failed_) {
    const int error = errno;
    return make_error(ErrorCode::kEnvironment,
                      "writing the trace file " + path_.string() +
                          " failed: " + std::strerror(error) + " (is the disk full?)",
                      error);
  }
  bytes_ += sizeof header + payload.size();
  return {};
}

Result<void> SavedTraceWriter::text(SavedRecord kind, std::uint32_t arg, std::string_view text) {
  return record(kind, arg,
                std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

Result<void> SavedTraceWriter::pages(std::uint32_t cpu, std::span<const std::uint8_t> pages) {
  return record(SavedRecord::kPages, cpu, pages);
}

Result<void> SavedTraceWriter::bpf_records(std::span<const std::uint8_t> records) {
  if (records.empty()) return {};
  return record(SavedRecord::kBpfRecords, 0, records);
}

Result<void> SavedTraceWriter::bpf_page_records(std::span<const std::uint8_t> records) {
  if (records.empty()) return {};
  return record(SavedRecord::kBpfPageRecords, 0, records);
}

Result<void> SavedTraceWriter::flush(std::uint64_t watermark) {
  std::uint8_t value[8];
  put_u64(value, watermark);
  return record(SavedRecord::kFlush, 0, value);
}

Result<void> SavedTraceWriter::close() {
  if (file_ == nullptr) return {};
  const bool flushed = std::fflush(file_) == 0;
  const int error = errno;
  const bool closed = std::fclose(file_) == 0;
  file_ = nullptr;
  if (failed_ || !flushed || !closed) {
    return make_error(ErrorCode::kEnvironment,
                      "writing the trace file " + path_.string() +
                          " failed: " + std::strerror(error) + " (is the disk full?)",
                      error);
  }
  return {};
}

// The processor for a saved trace's events, set up as the live run's was: from its layouts
// (tracefs) or from nothing (BPF records name their caches themselves).
static Result<void> make_processor(SavedTraceReplay& out, TrackerOptions& options) {
  const SavedTraceTexts& texts = out.texts;
  // Growth is sampled as the live run sampled it.
  if (auto interval = find_value(texts.meta, "sample_interval_ns")) {
    if (auto ns = parse::parse_u64(*interval); ns && *ns > 0) {
      options.sample_interval_ns = *ns;
    }
  }
  // And weighted as it was sampled (absent before sampling existed: every object).
  // A value out of range is damage: read as "not sampled" it would under-count by the rate
  // (issue 21).
  if (auto shift = find_value(texts.meta, "sample_shift")) {
    auto n = parse::parse_u64(*shift);
    if (!n || *n > 16) {
      return make_error(ErrorCode::kInput, "the trace file says sample_shift " +
                                               std::string(shift->substr(0, 32)) +
                                               " (0-16 are written): it is damaged");
    }
    options.sample_shift = static_cast<unsigned>(*n);
  }
  if (auto shift = find_value(texts.meta, "page_shift")) {
    auto n = parse::parse_u64(*shift);
    if (!n || *n < 9 || *n > 20) {
      return make_error(ErrorCode::kInput, "the trace file says page_shift " +
                                               std::string(shift->substr(0, 32)) +
                                               " (9-20 are written): it is damaged");
    }
    options.page_shift = static_cast<unsigned>(*n);
  }
  // "sampling hash": by address hash (BPF backend since the libbpf programs); absent: by page.
  options.address_hash = find_value(texts.meta, "sampling") == "hash";
  if (find_value(texts.meta, "backend") == "bpf") {
    out.processor.emplace(PageLayout{}, KmemDecoder{}, options);
    const std::string_view caches = find_value(texts.meta, "caches").value_or("all");
    if (caches != "all") {
      std::vector<std::string> names;
      std::size_t from = 0;
      while (from <= caches.size()) {
        const std::size_t comma = std::min(caches.find(',', from), caches.size());
        if (comma > from) names.emplace_back(caches.substr(from, comma - from));
        from = comma + 1;
      }
      out.processor->only_caches(std::move(names));
    }
    return {};
  }
  auto layout = parse_page_layout(texts.header_page, texts.header_event);
  if (!layout) {
    return make_error(ErrorCode::kInput,
                      "the trace file's page layout cannot be read: " + layout.error().message);
  }
  KmemFormats formats;
  EventFormat* targets[4] = {&formats.kmalloc, &formats.kfree, &formats.cache_alloc,
                             &formats.cache_free};
  for (int i = 0; i < 4; ++i) {
    auto format = parse_event_format(texts.formats[i]);
    if (!format) {
      return make_error(
          ErrorCode::kInput,
          "the trace file lacks a kmem event format before its pages: " + format.error().message);
    }
    format->system = "kmem";
    *targets[i] = std::move(*format);
  }
  auto decoder = KmemDecoder::create(formats);
  if (!decoder) {
    return make_error(ErrorCode::kInput,
                      "the trace file's kmem event formats cannot be "
                      "used: " +
                          decoder.error().message);
  }
  out.processor.emplace(*layout, std::move(*decoder), options);
  return {};
}

Result<SavedTraceReplay> replay_saved_trace(std::istream& in, TrackerOptions options) {
  SavedTraceReplay out;
  SavedTraceTexts& texts = out.texts;
  char magic[sizeof kSavedTraceMagic];
  if (!read_exact(in, magic, sizeof magic) ||
      std::memcmp(magic, kSavedTraceMagic, sizeof magic) != 0) {
    return make_error(ErrorCode::kInput,
                      "not a poolscope trace file (it does not start with PSTRACE1): give a file "
                      "written by `poolscope trace --save`");
  }
  std::vector<std::uint8_t> payload;
  // Records that carry nothing (empty pages, unknown kinds of no size) are skipped, but a file of
  // nothing else is damage, not a trace to spin through (issue 21).
  constexpr std::uint64_t kMaxEmptyInARow = 1u << 16;
  std::uint64_t empty_in_a_row = 0;
  for (;;) {
    std::uint8_t header[kHeaderBytes];
    in.read(reinterpret_cast<char*>(header), sizeof header);
    if (in.gcount() == 0) break;                                        // the end of the file
    if (static_cast<std::size_t>(in.gcount()) != sizeof header) break;  // cut short
    const auto kind = static_cast<SavedRecord>(load_le32(header));
    const std::uint32_t arg = load_le32(header + 4);
    const std::uint64_t size = load_le64(header + 8);
    if (size > kSavedRecordMax) {
      return make_error(ErrorCode::kInput, "the trace file has a record of " +
                                               std::to_string(size) +
                                               " bytes (at most 64 MiB are written): it is "
                                               "damaged or not a poolscope trace file");
    }
    if (size == 0 && kind != SavedRecord::kEnd) {
      if (++empty_in_a_row > kMaxEmptyInARow) {
        return make_error(ErrorCode::kInput,
                          "the trace file has more than " + std::to_string(kMaxEmptyInARow) +
                              " records in a row that carry nothing: it is damaged or not a "
                              "poolscope trace file");
      }
    } else {
      empty_in_a_row = 0;
    }
    payload.resize(static_cast<std::size_t>(size));
    if (!read_exact(in, payload.data(), payload.size())) break;  // cut short
    const std::string_view text(reinterpret_cast<const char*>(payload.data()), payload.size());
    switch (kind) {
      case SavedRecord::kMeta:
        texts.meta = parse_key_values(text);
        break;
      case SavedRecord::kHeaderPage:
        texts.header_page = text;
        break;
      case SavedRecord::kHeaderEvent:
        texts.header_event = text;
        break;
      case SavedRecord::kEventFormat:
        if (arg >= 4) {
          return make_error(ErrorCode::kInput, "the trace file has an event format for event " +
                                                   std::to_string(arg) +
                                                   " (0-3 are defined): it is damaged");
        }
        texts.formats[arg] = text;
        break;
      case SavedRecord::kPages:
      case SavedRecord::kBpfRecords:
      case SavedRecord::kBpfPageRecords:
      case SavedRecord::kFlush: {
        if (!out.processor) {
          if (auto made = make_processor(out, options); !made) return forward_error(made);
        }
        if (kind == SavedRecord::kPages) {
          out.processor->add_pages(payload);
          out.page_bytes += payload.size();
        } else if (kind == SavedRecord::kBpfRecords || kind == SavedRecord::kBpfPageRecords) {
          out.processor->add_bpf_records(payload);
          out.page_bytes += payload.size();
        } else if (payload.size() == 8) {
          out.processor->flush(load_le64(payload.data()));
        }
        break;
      }
      case SavedRecord::kKallsyms:
        texts.kallsyms = text;
        break;
      case SavedRecord::kComms:
        texts.comms = text;
        break;
      case SavedRecord::kEnd:
        texts.end = parse_key_values(text);
        texts.complete = true;
        break;
      default:
        break;  // a record kind of a later version: skipped
    }
  }
  if (out.processor) out.processor->flush();  // a run that was killed never flushed its last part
  return out;
}

}  // namespace poolscope::trace
