#include "store/sample_codec.h"

#include <gtest/gtest.h>

#include <random>

namespace poolscope::store {
namespace {

KeySample key(std::uint32_t id, std::optional<std::uint64_t> outstanding,
              std::optional<std::uint64_t> bytes = std::nullopt) {
  KeySample k;
  k.key_id = id;
  if (outstanding) {
    k.present |= 1u << kOutstanding;
    k.value[kOutstanding] = *outstanding;
  }
  if (bytes) {
    k.present |= 1u << kBytes;
    k.value[kBytes] = *bytes;
  }
  return k;
}

std::vector<unsigned char> bytes_of(const std::string& s) {
  return std::vector<unsigned char>(s.begin(), s.end());
}

// Encodes cur against prev and checks that a decoder holding prev reaches exactly cur, and that
// the keyframe form of cur decodes to it from nothing.
void expect_round_trip(const PoolState& prev, const PoolState& cur) {
  PoolEncoder encoder;
  std::string blob;
  PoolDecoder decoder;
  encoder.encode(nullptr, prev, blob);
  ASSERT_TRUE(decoder.apply(bytes_of(blob)).has_value());
  ASSERT_EQ(decoder.state(), prev);
  encoder.encode(&prev, cur, blob);
  auto ok = decoder.apply(bytes_of(blob));
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  EXPECT_EQ(decoder.state(), cur);
  PoolDecoder fresh;
  encoder.encode(nullptr, cur, blob);
  ASSERT_TRUE(fresh.apply(bytes_of(blob)).has_value());
  EXPECT_EQ(fresh.state(), cur);
}

TEST(SampleCodec, DrsdKeyframeAndDeltaHaveTheDocumentedBytes) {
  // docs/store-format.md walks through these bytes.
  PoolState before, after;
  before.keys = {key(3, 21, 17472)};
  after.keys = {key(3, 27, 22464)};
  PoolEncoder encoder;
  std::string blob;
  encoder.encode(nullptr, before, blob);
  EXPECT_EQ(bytes_of(blob), (std::vector<unsigned char>{0x01, 0x01, 0x00, 0x01, 0x03, 0x01, 0x2C,
                                                        0x00, 0x0C, 0x2A, 0x80, 0x91, 0x02}));
  encoder.encode(&before, after, blob);
  EXPECT_EQ(bytes_of(blob),
            (std::vector<unsigned char>{0x01, 0x00, 0x00, 0x00, 0x01, 0xA0, 0x0C, 0x80, 0x4E}));
  PoolDecoder decoder;
  encoder.encode(nullptr, before, blob);
  ASSERT_TRUE(decoder.apply(bytes_of(blob)).has_value());
  encoder.encode(&before, after, blob);
  ASSERT_TRUE(decoder.apply(bytes_of(blob)).has_value());
  ASSERT_EQ(decoder.state().keys.size(), 1u);
  EXPECT_EQ(decoder.state().keys[0].value[kOutstanding], 27u);
  EXPECT_EQ(decoder.state().keys[0].value[kBytes], 22464u);
}

TEST(SampleCodec, SlabBytesAreStoredInPages) {
  // Linux slab bytes move in whole pages: +1 page is one byte, -3 pages too.
  PoolState a, b;
  a.keys = {key(1, 100, 8192), key(2, 5, 4096 * 1000)};
  b.keys = {key(1, 101, 12288), key(2, 5, 4096 * 997)};
  PoolEncoder encoder;
  std::string blob;
  encoder.encode(&a, b, blob);
  // flags 0x40 (bytes in pages); change 1: short form "outstanding and bytes", skip 0, +1, +1 page;
  // change 2: long form tag 0x08 (bytes), skip 0, -3 pages.
  EXPECT_EQ(bytes_of(blob), (std::vector<unsigned char>{0x01, 0x40, 0x00, 0x00, 0x02, 0xA0, 0x02,
                                                        0x02, 0x08, 0x00, 0x05}));
  expect_round_trip(a, b);
  // One odd change and the whole sample falls back to bytes.
  b.keys[1].value[kBytes] += 1;
  encoder.encode(&a, b, blob);
  EXPECT_EQ(static_cast<unsigned char>(blob[1]) & 0x40, 0);
  expect_round_trip(a, b);
}

TEST(SampleCodec, UnchangedSampleIsFiveBytes) {
  PoolState s;
  for (std::uint32_t id = 1; id <= 300; ++id) s.keys.push_back(key(id, id * 7, id * 4096));
  PoolEncoder encoder;
  std::string blob;
  encoder.encode(&s, s, blob);
  EXPECT_EQ(blob.size(), 5u);  // version, flags, 0 removed, 0 added, 0 changes
}

TEST(SampleCodec, AbsentKeyAndZeroValueStayApart) {
  PoolState with_zero, without, with_absent_fields;
  with_zero.keys = {key(1, 5), key(2, 0, 0)};
  without.keys = {key(1, 5)};
  with_absent_fields.keys = {key(1, 5), key(2, std::nullopt)};
  expect_round_trip(with_zero, without);
  expect_round_trip(without, with_zero);
  expect_round_trip(with_zero, with_absent_fields);
  expect_round_trip(with_absent_fields, with_zero);
  expect_round_trip(without, with_absent_fields);
  PoolDecoder decoder;
  PoolEncoder encoder;
  std::string blob;
  encoder.encode(nullptr, with_zero, blob);
  ASSERT_TRUE(decoder.apply(bytes_of(blob)).has_value());
  encoder.encode(&with_zero, without, blob);
  ASSERT_TRUE(decoder.apply(bytes_of(blob)).has_value());
  ASSERT_EQ(decoder.state().keys.size(), 1u);  // key 2 is gone, not zero
  encoder.encode(&without, with_absent_fields, blob);
  ASSERT_TRUE(decoder.apply(bytes_of(blob)).has_value());
  ASSERT_EQ(decoder.state().keys.size(), 2u);
  EXPECT_EQ(decoder.state().keys[1].present, 0u);  // there, but without counters
}

TEST(SampleCodec, ExtremeValuesAndWrapsRoundTrip) {
  PoolState a, b;
  a.keys = {key(1, 0, UINT64_MAX), key(7, UINT64_MAX, 0), key(UINT32_MAX, 1, 2)};
  b.keys = {key(1, UINT64_MAX, 0), key(7, 0, UINT64_MAX), key(UINT32_MAX, 0, 1)};
  a.extras.counter_width = CounterWidth::k32;
  b.keys[0].present |= 1u << kAllocs;
  b.keys[0].value[kAllocs] = 4294967295u;
  expect_round_trip(a, b);
  expect_round_trip(b, a);
}

TEST(SampleCodec, TotalsStringsAndNotesRoundTrip) {
  Snapshot snap;
  snap.host = "web01";
  snap.source = "live:linux";
  snap.format = "slabinfo";
  snap.counter_width = CounterWidth::k32;
  snap.totals.push_back(PoolTotal{PoolKind::kNonPaged, 100, 200, 3, "from !vm"});
  snap.totals.push_back(
      PoolTotal{PoolKind::kPaged, std::nullopt, std::nullopt, std::nullopt, "limit unknown"});
  snap.memory_total_bytes = 8ull << 30;
  snap.notes = {"one", "two"};
  PoolState a, b;
  a.extras = extras_from_snapshot(snap);
  snap.totals[0].used_bytes = 50;
  snap.totals.pop_back();
  snap.memory_available_bytes = 1;
  snap.notes = {};
  snap.host = "web02";
  b.extras = extras_from_snapshot(snap);
  expect_round_trip(a, b);
  expect_round_trip(b, a);
  Snapshot back;
  apply_extras(b.extras, back);
  EXPECT_EQ(back.host, "web02");
  ASSERT_EQ(back.totals.size(), 1u);
  EXPECT_EQ(back.totals[0].used_bytes, 50u);
  EXPECT_EQ(back.totals[0].limit_bytes, 200u);
  EXPECT_EQ(back.totals[0].limit_note, "from !vm");
  EXPECT_EQ(back.memory_available_bytes, 1u);
  EXPECT_EQ(back.counter_width, CounterWidth::k32);
}

// Before sample format 2 the store kept the totals of the first five pools only: a recording of
// a socket leak had no tcp_mem limit or pressure threshold, so `leaks` forecast it against
// MemAvailable. Format 2 keeps the kernel, tcp and udp totals and the pressure thresholds.
TEST(SampleCodec, RecordingKeepsTheSocketPoolsLimitAndPressure) {
  Snapshot snap;
  snap.source = "live:linux";
  snap.totals.push_back(PoolTotal{PoolKind::kUnreclaimable, 300 << 20});
  snap.totals.push_back(
      PoolTotal{PoolKind::kKernel, 900 << 20, 8ull << 30, std::nullopt, "MemTotal"});
  snap.totals.push_back(PoolTotal{PoolKind::kTcp, 40 << 20, 1200ull << 20, std::nullopt,
                                  "net.ipv4.tcp_mem hard limit", 800ull << 20});
  snap.totals.push_back(PoolTotal{PoolKind::kUdp, 4096, 1300ull << 20, std::nullopt,
                                  "net.ipv4.udp_mem hard limit", 900ull << 20});
  PoolState a;
  a.extras = extras_from_snapshot(snap);
  PoolEncoder encoder;
  std::string blob;
  encoder.encode(nullptr, a, blob);
  EXPECT_EQ(static_cast<unsigned char>(blob[0]), 2);
  PoolDecoder decoder;
  ASSERT_TRUE(decoder.apply(bytes_of(blob)).has_value());
  Snapshot back;
  apply_extras(decoder.state().extras, back);
  ASSERT_EQ(back.totals.size(), 4u);
  const PoolTotal* tcp = find_total(back, PoolKind::kTcp);
  ASSERT_NE(tcp, nullptr);
  EXPECT_EQ(tcp->used_bytes, 40u << 20);
  EXPECT_EQ(tcp->limit_bytes, 1200ull << 20);
  EXPECT_EQ(tcp->pressure_bytes, 800ull << 20);
  EXPECT_EQ(tcp->limit_note, "net.ipv4.tcp_mem hard limit");
  EXPECT_EQ(find_total(back, PoolKind::kUdp)->pressure_bytes, 900ull << 20);
  EXPECT_EQ(find_total(back, PoolKind::kKernel)->limit_bytes, 8ull << 30);
  EXPECT_FALSE(find_total(back, PoolKind::kKernel)->pressure_bytes.has_value());
  EXPECT_EQ(find_total(back, PoolKind::kUnreclaimable)->used_bytes, 300u << 20);

  // The pools leave (a source without sockstat): the change set that clears them is format 2,
  // the samples after it format 1 again, and the state carries across both.
  PoolState b;
  snap.totals.resize(1);
  snap.totals[0].used_bytes = 301 << 20;
  b.extras = extras_from_snapshot(snap);
  expect_round_trip(a, b);
  expect_round_trip(b, a);
  encoder.encode(&a, b, blob);
  EXPECT_EQ(static_cast<unsigned char>(blob[0]), 2);
  ASSERT_TRUE(decoder.apply(bytes_of(blob)).has_value());
  PoolState c = b;
  c.extras.scalars[0] += 4096;
  encoder.encode(&b, c, blob);
  EXPECT_EQ(static_cast<unsigned char>(blob[0]), 1);
  ASSERT_TRUE(decoder.apply(bytes_of(blob)).has_value());
  EXPECT_EQ(decoder.state(), c);

  // A format-1 blob cannot name a slot or pool of format 2.
  const std::vector<unsigned char> v1_with_tcp = {
      // version 1, flags keyframe | totals | totals' presence, no keys, no changes;
      0x01, 0x25, 0x00, 0x00, 0x00,
      // presence: pool 6 (tcp) at bit 17 + 6, no slot changed.
      0x80, 0x80, 0x80, 0x04, 0x00};
  PoolDecoder old;
  auto refused = old.apply(v1_with_tcp);
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().message.find("bad totals"), std::string::npos)
      << refused.error().message;
}

TEST(SampleCodec, RandomWalksRoundTrip) {
  std::mt19937_64 rng(42);
  PoolState prev;
  PoolEncoder encoder;
  PoolDecoder decoder;
  std::string blob;
  for (int step = 0; step < 2000; ++step) {
    PoolState cur = prev;
    // Churn: drop and add keys, flip fields, move values by small and huge amounts.
    std::vector<KeySample> keys;
    for (const auto& k : cur.keys) {
      if (rng() % 50 != 0) keys.push_back(k);
    }
    for (int add = 0; add < 3; ++add) {
      if (rng() % 4 == 0)
        keys.push_back(KeySample{.key_id = static_cast<std::uint32_t>(rng() % 500)});
    }
    std::sort(keys.begin(), keys.end(),
              [](const auto& x, const auto& y) { return x.key_id < y.key_id; });
    keys.erase(std::unique(keys.begin(), keys.end(),
                           [](const auto& x, const auto& y) { return x.key_id == y.key_id; }),
               keys.end());
    for (auto& k : keys) {
      if (rng() % 3 != 0) continue;
      const unsigned f = static_cast<unsigned>(rng() % kFieldCount);
      switch (rng() % 4) {
        case 0:
          k.present ^= static_cast<std::uint8_t>(1u << f);
          if (!(k.present & (1u << f))) k.value[f] = 0;
          break;
        case 1:
          k.value[f] += rng() % 16;
          k.present |= static_cast<std::uint8_t>(1u << f);
          break;
        case 2:
          k.value[f] -= rng() % 16;
          k.present |= static_cast<std::uint8_t>(1u << f);
          break;
        default:
          k.value[f] = rng();
          k.present |= static_cast<std::uint8_t>(1u << f);
      }
    }
    cur.keys = keys;
    if (rng() % 10 == 0) {
      cur.extras.scalars_present ^= 1u << (rng() % kScalarSlots);
      cur.extras.scalars[rng() % kScalarSlots] = rng();
    }
    const bool keyframe = step % 97 == 0;
    encoder.encode(keyframe ? nullptr : &prev, cur, blob);
    auto ok = decoder.apply(bytes_of(blob));
    ASSERT_TRUE(ok.has_value()) << "step " << step << ": " << ok.error().message;
    ASSERT_EQ(decoder.state(), cur) << "step " << step;
    prev = cur;
  }
}

TEST(SampleCodec, DamagedBlobsAreErrorsNotCrashes) {
  PoolState a, b;
  for (std::uint32_t id = 1; id <= 40; ++id) a.keys.push_back(key(id, id, id * 100));
  b = a;
  b.keys.erase(b.keys.begin() + 3);
  b.keys.push_back(key(99, 1, 1));
  b.keys[5].value[kOutstanding] = 123456789;
  b.extras.notes = {"note"};
  b.extras.strings[kHost] = "h";
  PoolEncoder encoder;
  std::string base, delta;
  encoder.encode(nullptr, a, base);
  encoder.encode(&a, b, delta);
  // Every truncation of the delta fails (none is a valid shorter blob).
  for (std::size_t n = 0; n < delta.size(); ++n) {
    PoolDecoder decoder;
    ASSERT_TRUE(decoder.apply(bytes_of(base)).has_value());
    auto part = bytes_of(delta.substr(0, n));
    EXPECT_FALSE(decoder.apply(part).has_value()) << "length " << n;
  }
  // Random corruption: decoding may succeed or fail but must stay in bounds (ASan checks).
  std::mt19937 rng(7);
  for (int i = 0; i < 5000; ++i) {
    auto bad = bytes_of(delta);
    bad[rng() % bad.size()] = static_cast<unsigned char>(rng());
    if (rng() % 2) bad.push_back(static_cast<unsigned char>(rng()));
    PoolDecoder decoder;
    ASSERT_TRUE(decoder.apply(bytes_of(base)).has_value());
    (void)decoder.apply(bad);
  }
  std::vector<unsigned char> newer = bytes_of(base);
  newer[0] = 3;
  PoolDecoder decoder;
  auto err = decoder.apply(newer);
  ASSERT_FALSE(err.has_value());
  // The file header says which poolscope wrote it (checked at open): a sample in another format
  // inside a readable file is damage, not "a newer poolscope (format 208)" (issue 21 item 8).
  EXPECT_NE(err.error().message.find("damaged sample: unknown format byte 3 (expected 1 to 2)"),
            std::string::npos)
      << err.error().message;
}

}  // namespace
}  // namespace poolscope::store
