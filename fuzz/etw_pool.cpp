// Fuzzer for the ETW pool, stack-walk and image decoders, the pairing behind them and the report.
// The input is a sequence of records, each: class (u8: 0 pool, 1 stack walk, 2 image, 3 lost
// event, else another class), opcode (u8), flags (u8: bit 0 = 32-bit header, bits 1-2 = version),
// payload length (u16 little-endian), timestamp step (u8), then the payload (cut at the input's
// end). Besides not crashing: every record is counted by kind, as ignored or as malformed.
#include "trace/etw_pool.h"

#include <cstdint>
#include <span>

#include "trace/etw_report.h"

namespace {

using namespace poolscope::trace::etw;

// What the processor should count for one decoded record (records: all but the ignored ones).
std::uint64_t ignored = 0;
void tally(const poolscope::Result<Decoded>& decoded, EtwStats& expected) {
  if (!decoded) {
    ++expected.malformed;
  } else if (std::holds_alternative<PoolEvent>(*decoded)) {
    ++expected.pool_events;
  } else if (std::holds_alternative<StackEvent>(*decoded)) {
    ++expected.stacks;
  } else if (std::holds_alternative<ImageEvent>(*decoded)) {
    ++expected.images;
  } else if (std::holds_alternative<LostRecord>(*decoded)) {
    ++expected.lost_records;
  } else if (const auto* key = std::get_if<StackKeyEvent>(&*decoded)) {
    if (!key->kernel) {
      ++ignored;
      return;
    }
    ++expected.stack_keys;
  } else if (std::holds_alternative<StackKeyFrames>(*decoded)) {
    ++expected.stack_key_frames;
  } else {
    ++ignored;
    return;
  }
  ++expected.records;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ignored = 0;
  EtwStats expected;
  EtwOptions options;
  options.tracker.max_tracked = 64;  // reach the cap too
  EtwPoolProcessor processor(options);
  std::span<const std::uint8_t> input(data, size);
  std::uint64_t timestamp = 0;
  while (input.size() >= 6) {
    EtwRecord record;
    static constexpr Guid kOther{1, 2, 3, {}};
    const Guid classes[] = {kPoolGuid, kStackWalkGuid, kImageLoadGuid, kLostEventGuid, kOther};
    record.provider = classes[input[0] < 4 ? input[0] : 4];
    record.opcode = input[1];
    record.header_flags = (input[2] & 1) ? kHeaderFlag32Bit : kHeaderFlag64Bit;
    record.version = static_cast<std::uint8_t>((input[2] >> 1) & 3);
    const std::size_t length = std::min<std::size_t>(input[3] | (input[4] << 8), input.size() - 6);
    timestamp += input[5];
    record.timestamp = timestamp;
    record.tid = input[1];
    record.user_data = input.subspan(6, length);
    processor.add(record);
    // Decoding alone must hold for the same record as well, and tells what the processor counts.
    tally(decode(record), expected);
    input = input.subspan(6 + length);
    if (timestamp % 7 == 0) processor.flush(timestamp / 2);
  }
  processor.flush();
  // Every record is counted once: decoded (by kind), ignored (another class, a user stack part)
  // or malformed; none is dropped without a count.
  const EtwStats& stats = processor.stats();
  if (stats.malformed != expected.malformed || stats.pool_events != expected.pool_events ||
      stats.stacks != expected.stacks || stats.images != expected.images ||
      stats.lost_records != expected.lost_records || stats.stack_keys != expected.stack_keys ||
      stats.stack_key_frames != expected.stack_key_frames ||
      stats.records != expected.records + ignored) {
    __builtin_trap();
  }
  EtwRunFacts facts;
  facts.format = (size & 1) ? "json" : "table";
  (void)render_report(processor, timestamp, facts);
  return 0;
}
