// Fuzzer for the ETW pool, stack-walk and image decoders, the pairing behind them and the report.
// The input is a sequence of records, each: class (u8: 0 pool, 1 stack walk, 2 image, 3 lost
// event, else another class), opcode (u8), flags (u8: bit 0 = 32-bit header, bits 1-2 = version),
// payload length (u16 little-endian), timestamp step (u8), then the payload (cut at the input's
// end).
#include "trace/etw_pool.h"

#include <cstdint>
#include <span>

#include "trace/etw_report.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace poolscope::trace::etw;
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
    // Decoding alone must hold for the same record as well.
    (void)decode(record);
    input = input.subspan(6 + length);
    if (timestamp % 7 == 0) processor.flush(timestamp / 2);
  }
  processor.flush();
  EtwRunFacts facts;
  facts.format = (size & 1) ? "json" : "table";
  (void)render_report(processor, timestamp, facts);
  return 0;
}
