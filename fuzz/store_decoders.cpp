// Fuzzer for the recording's change-set decoders (a recording copied off a server may be damaged).
// Input: one selector byte (bit 0: pool samples or process samples), then blobs, each with a
// 2-byte little-endian length, applied in order to one decoder. Besides not crashing: after every
// blob that decodes, the state is well formed, and its keyframe encoding decodes to the same state.
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>

#include "store/process_codec.h"
#include "store/sample_codec.h"

namespace {

std::span<const unsigned char> as_span(const std::string& s) {
  return {reinterpret_cast<const unsigned char*>(s.data()), s.size()};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace poolscope::store;
  if (size == 0) return 0;
  const bool processes = data[0] & 1;
  PoolDecoder pools;
  ProcessDecoder procs;
  std::string keyframe;
  std::size_t pos = 1;
  while (pos + 2 <= size) {
    const std::size_t n = std::min<std::size_t>(data[pos] | (data[pos + 1] << 8), size - pos - 2);
    const std::span<const unsigned char> blob(data + pos + 2, n);
    pos += 2 + n;
    if (!processes) {
      if (!pools.apply(blob)) {
        pools.reset();  // a reader resumes at the next keyframe
        continue;
      }
      const auto& keys = pools.state().keys;
      for (std::size_t i = 1; i < keys.size(); ++i) {
        if (keys[i - 1].key_id >= keys[i].key_id) std::abort();
      }
      PoolEncoder encoder;
      encoder.encode(nullptr, pools.state(), keyframe);
      PoolDecoder again;
      if (!again.apply(as_span(keyframe)) || !(again.state() == pools.state())) std::abort();
    } else {
      if (!procs.apply(blob)) {
        procs.reset();
        continue;
      }
      const auto& list = procs.state().processes;
      for (std::size_t i = 1; i < list.size(); ++i) {
        if (list[i - 1].pid >= list[i].pid) std::abort();
      }
      encode_process_sample(nullptr, procs.state(), keyframe);
      ProcessDecoder again;
      if (!again.apply(as_span(keyframe))) std::abort();
      // Notes belong to one sample and are written again; the rest must match exactly.
      if (!(again.state() == procs.state())) std::abort();
    }
  }
  return 0;
}
