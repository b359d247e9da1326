// Saved raw traces (`trace --save FILE`, `trace --load FILE`): the ring-buffer pages exactly as
// read from trace_pipe_raw (or the BPF backend's ring-buffer records), with everything needed to
// decode them elsewhere — the page and event header layouts, the four kmem `format` files, the
// kernel symbols of the call sites seen and the names of the processes — so a trace recorded on one
// machine is reported on any other. Format (docs/trace.md, "Saved traces"): an 8-byte magic, then
// records of a 16-byte header (u32 kind, u32 arg, u64 payload size; little-endian) and the payload.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <istream>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"
#include "trace/processor.h"

namespace poolscope::trace {

inline constexpr char kSavedTraceMagic[8] = {'P', 'S', 'T', 'R', 'A', 'C', 'E', '1'};
// No record is bigger (a batch of pages is at most a few MiB; kallsyms of the call sites less).
inline constexpr std::uint64_t kSavedRecordMax = std::uint64_t{64} << 20;

enum class SavedRecord : std::uint32_t {
  kMeta = 1,         // "key value" lines: kernel, cpus, clock, caches, ...
  kHeaderPage = 2,   // events/header_page
  kHeaderEvent = 3,  // events/header_event
  kEventFormat = 4,  // events/kmem/<event>/format; arg 0 kmalloc, 1 kfree, 2 kmem_cache_alloc,
                     // 3 kmem_cache_free
  kPages = 5,        // arg = CPU; whole pages of that CPU in its time order
  kFlush = 6,        // u64: every event older than this (trace clock) was paired here
  kKallsyms = 7,     // kallsyms lines of the symbols the call sites fall in
  kComms = 8,        // "pid comm" lines
  kEnd = 9,          // "key value" lines: duration_s, end_time, lost counters, ...
  kBpfRecords = 10,  // BPF backend (meta "backend bpf"): ring-buffer records as read, in order
  // `trace --pages` (meta "events pages"): the page records (kinds 4 and 5) with their call sites
  // resolved from the kernel stacks (page_sites.h); otherwise as kBpfRecords.
  kBpfPageRecords = 11,
};

using KeyValues = std::vector<std::pair<std::string, std::string>>;
std::string key_values_text(const KeyValues& values);
KeyValues parse_key_values(std::string_view text);
std::optional<std::string_view> find_value(const KeyValues& values, std::string_view key);

class SavedTraceWriter {
 public:
  static Result<SavedTraceWriter> create(const std::filesystem::path& path);
  SavedTraceWriter(SavedTraceWriter&& other) noexcept;
  SavedTraceWriter& operator=(SavedTraceWriter&&) = delete;
  ~SavedTraceWriter();

  Result<void> text(SavedRecord kind, std::uint32_t arg, std::string_view text);
  Result<void> pages(std::uint32_t cpu, std::span<const std::uint8_t> pages);
  Result<void> bpf_records(std::span<const std::uint8_t> records);
  Result<void> bpf_page_records(std::span<const std::uint8_t> records);
  Result<void> flush(std::uint64_t watermark);
  // Flushes and closes the file; the destructor closes without reporting errors.
  Result<void> close();
  std::uint64_t bytes_written() const { return bytes_; }

 private:
  SavedTraceWriter(std::FILE* file, std::filesystem::path path) : file_(file), path_(path) {}
  Result<void> record(SavedRecord kind, std::uint32_t arg, std::span<const std::uint8_t> payload);
  std::FILE* file_ = nullptr;
  std::filesystem::path path_;
  std::uint64_t bytes_ = 0;
  bool failed_ = false;
};

// Everything of a saved trace but its pages.
struct SavedTraceTexts {
  KeyValues meta, end;
  std::string header_page, header_event;
  std::string formats[4];  // kmalloc, kfree, kmem_cache_alloc, kmem_cache_free
  std::string kallsyms, comms;
  bool complete = false;  // the end record was read (false: the saving run was killed)
};

// The result of replaying a saved trace through the processor, as the live run processed it.
struct SavedTraceReplay {
  SavedTraceTexts texts;
  std::optional<TraceProcessor> processor;  // set once the layouts were read
  std::uint64_t page_bytes = 0;
};

// Reads a saved trace and feeds its pages and flushes to a TraceProcessor. Fails (kInput) on a
// file that is not a saved trace, a record that claims more than kSavedRecordMax, or pages before
// the layouts; a file cut short (the saving run was killed) is read as far as it goes and
// `texts.complete` is false.
Result<SavedTraceReplay> replay_saved_trace(std::istream& in, TrackerOptions options = {});

}  // namespace poolscope::trace
