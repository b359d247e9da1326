// The Windows culprit search by object type: a tag that is an object type's body (Even, Proc, ...)
// is compared with that type's handles per process first, through a recording written and read
// back as `record` and `diagnose` do.
#include <gtest/gtest.h>

#include "detect/detector.h"
#include "detect/links.h"
#include "detect/load.h"
#include "report/next_steps.h"
#include "store/export.h"
#include "store/recording.h"
#include "unit/store/store_test_support.h"

namespace poolscope::detect {
namespace {

Snapshot windows_sample(int i, const char* tag, std::uint64_t outstanding) {
  Snapshot s;
  s.wall_time = std::chrono::system_clock::time_point(std::chrono::seconds(1'790'000'000 + 30 * i));
  s.counter_width = CounterWidth::k32;
  s.format = "pooltag";
  Entry e;
  e.key = tag_from_text(tag);
  e.pool = PoolKind::kNonPaged;
  e.counters.allocs = 1'000'000 + 50 * static_cast<std::uint64_t>(i) + outstanding;
  e.counters.frees = 1'000'000 + 50 * static_cast<std::uint64_t>(i);
  e.counters.outstanding = outstanding;
  e.counters.bytes = outstanding * 96;
  s.entries.push_back(e);
  Entry flat = e;
  flat.key = tag_from_text("Ntfx");
  flat.counters.outstanding = 4000 + i % 3;
  flat.counters.bytes = *flat.counters.outstanding * 256;
  s.entries.push_back(flat);
  PoolTotal& t = total_for(s, PoolKind::kNonPaged);
  t.used_bytes = 200'000'000 + outstanding * 96;
  t.limit_bytes = 8'000'000'000;
  return s;
}

ProcessFacts windows_process(std::uint64_t pid, const char* name, std::uint64_t events,
                             std::uint64_t files, std::uint64_t processes,
                             std::uint64_t exited_processes) {
  ProcessFacts p{.pid = pid, .start_time = 133'000'000'000'000'000 + pid, .name = name};
  HandleCounts kinds;
  kinds[HandleKind::kEvent] = events;
  kinds[HandleKind::kFile] = files;
  kinds[HandleKind::kProcess] = processes;
  kinds[HandleKind::kKey] = 40;
  p.handle_kinds = kinds;
  p.handle_count = events + files + processes + 40;
  p.paged_pool_quota_bytes = 100'000 + 64 * p.handle_count.value();
  p.nonpaged_pool_quota_bytes = 10'000 + 16 * p.handle_count.value();
  p.exited_process_handles = exited_processes;
  return p;
}

// Writes 240 samples 30 s apart (2 h) of one tag, with `outstanding(step)` objects and
// `processes(step)` as process facts, then reads the recording back into the detector.
// `exported`, when given, receives the recording's process lines as `export --kind process`
// writes them.
template <class Outstanding, class Processes>
Report record_and_analyze(const char* tag, Outstanding outstanding, Processes processes,
                          std::string* exported = nullptr) {
  poolscope::testing::ScratchDir dir;
  const auto path = dir.file("windows.db");
  {
    auto rec = store::Recording::open_write(path);
    EXPECT_TRUE(rec) << rec.error().message;
    for (int i = 0; i < 240; ++i) {
      const auto step = static_cast<std::uint64_t>(i);
      ProcessSample ps;
      ps.time = std::chrono::system_clock::time_point(std::chrono::seconds(1'790'000'000 + 30 * i));
      ps.processes = processes(step);
      auto seq = rec->append(windows_sample(i, tag, outstanding(step)), &ps);
      EXPECT_TRUE(seq) << seq.error().message;
    }
  }
  auto rec = store::Recording::open_read(path);
  EXPECT_TRUE(rec) << rec.error().message;
  if (exported) {
    store::ExportOptions options;
    options.kinds = {"process"};
    auto done = store::export_recording(*rec, options,
                                        [&](std::string_view text) { exported->append(text); });
    EXPECT_TRUE(done) << done.error().message;
    if (done) {
      EXPECT_FALSE(store::is_damaged(done->damage)) << store::describe_damage(done->damage);
    }
  }
  auto history = load_history(*rec);
  EXPECT_TRUE(history) << history.error().message;
  return analyze(*history);
}

TEST(HandleCulprit, EventLeakerNamedWithEventTypeNeverTheFileChurner) {
  std::string exported;
  Report r = record_and_analyze(
      "Even", [](std::uint64_t step) { return 684'000 + 52 * step; },
      [](std::uint64_t step) {
        // The churner opens and closes files, and its file count drifts up at about the leak's
        // rate: its File (and total) handle counts correlate with Even by chance. Without the
        // type link it is named too (checked by disabling the link: "backup.exe (pid 2000):
        // +11,980 handles in 119m30s, 1.00 correlation with Even outstanding").
        const std::uint64_t churn = 3000 + 50 * step + (step % 7) * 30;
        return std::vector<ProcessFacts>{
            windows_process(4, "System", 2000, 900, 300, 0),
            windows_process(1234, "w3wp.exe", 500 + 52 * step + step % 3, 200, 12, 0),
            windows_process(2000, "backup.exe", 30, churn, 4, 0),
        };
      },
      &exported);
  ASSERT_EQ(r.findings.size(), 1u);
  const Finding& f = r.findings[0];
  EXPECT_EQ(f.key, tag_from_text("Even"));
  ASSERT_EQ(f.processes.size(), 1u) << f.processes[1].evidence;
  const ProcessEvidence& p = f.processes[0];
  EXPECT_EQ(p.pid, 1234u);
  EXPECT_EQ(p.metric, "Event handles");
  EXPECT_GT(p.correlation, 0.99);
  EXPECT_NE(p.evidence.find("w3wp.exe (pid 1234): +12,430 Event handles in 119m30s"),
            std::string::npos)
      << p.evidence;
  EXPECT_NE(p.evidence.find("correlation with Even"), std::string::npos) << p.evidence;
  for (const auto& named : f.processes) EXPECT_NE(named.pid, 2000u) << named.evidence;
  // export writes the handle types and the exited references of every process sample.
  const std::string last_w3wp =
      "\"pid\":1234,\"start_time\":133000000000001234,\"name\":\"w3wp.exe\"";
  EXPECT_NE(exported.find(last_w3wp), std::string::npos) << exported.substr(0, 400);
  EXPECT_NE(exported.find("\"handle_types\":{\"Event\":12930,\"File\":200,\"Key\":40,"),
            std::string::npos)
      << exported.substr(exported.size() - 600);
  EXPECT_NE(exported.find("\"exited_process_handles\":0"), std::string::npos);
}

TEST(HandleCulprit, ProcLeakNamesTheHolderOfExitedProcessesAndSystemIsSaidPlainly) {
  Report r = record_and_analyze(
      "Proc", [](std::uint64_t step) { return 300 + 160 * step; },
      [](std::uint64_t step) {
        // The kernel (a driver) keeps references to exited processes; csrss holds one handle
        // per live process, which moves a little and does not grow.
        return std::vector<ProcessFacts>{
            windows_process(4, "System", 2000, 900, 300 + 160 * step, 160 * step + step % 2),
            windows_process(600, "csrss.exe", 80, 20, 284 + step % 5, 0),
        };
      });
  ASSERT_EQ(r.findings.size(), 1u);
  ASSERT_EQ(r.findings[0].processes.size(), 1u);
  const ProcessEvidence& p = r.findings[0].processes[0];
  EXPECT_EQ(p.pid, 4u);
  EXPECT_EQ(p.metric, "handles to exited processes");
  EXPECT_NE(p.evidence.find("+38,241 handles to exited processes"), std::string::npos)
      << p.evidence;
  EXPECT_NE(p.evidence.find("System holds them: the references are the kernel's or a driver's, "
                            "not an application's"),
            std::string::npos)
      << p.evidence;
  EXPECT_NE(p.evidence.find("(`poolscope who Proc`), not a process restart"), std::string::npos)
      << p.evidence;
  // diagnose's next steps and the report's guidance say the same, never "restart it".
  std::string steps;
  for (const std::string& step : report::next_steps(r, "rec.db")) steps += step + "\n";
  EXPECT_NE(steps.find("Proc: System (pid 4) holds ever more handles to exited processes: the "
                       "references are the kernel's or a driver's"),
            std::string::npos)
      << steps;
  EXPECT_NE(steps.find("poolscope who Proc"), std::string::npos) << steps;
  EXPECT_EQ(steps.find("restarting it"), std::string::npos) << steps;
  const auto guide = report::guidance(r, "rec.db");
  ASSERT_FALSE(guide.empty());
  ASSERT_FALSE(guide[0].fix.empty());
  EXPECT_NE(guide[0].fix[0].find("System (pid 4) holds ever more handles to exited processes: "
                                 "kernel handles"),
            std::string::npos)
      << guide[0].fix[0];
  for (const std::string& fix : guide[0].fix) {
    EXPECT_EQ(fix.find("restarting it"), std::string::npos) << fix;
  }
}

TEST(ObjectTags, LinkTableHasTheIssuesTagTypePairsAndOnlyForTags) {
  EXPECT_EQ(handle_kind_for_tag(tag_from_text("Even")), HandleKind::kEvent);
  EXPECT_EQ(handle_kind_for_tag(tag_from_text("Proc")), HandleKind::kProcess);
  EXPECT_EQ(handle_kind_for_tag(tag_from_text("Thre")), HandleKind::kThread);
  EXPECT_EQ(handle_kind_for_tag(tag_from_text("Toke")), HandleKind::kToken);
  EXPECT_EQ(handle_kind_for_tag(tag_from_text("Key ")), HandleKind::kKey);
  EXPECT_EQ(handle_kind_for_tag(tag_from_text("ALPC")), HandleKind::kAlpcPort);
  EXPECT_FALSE(
      handle_kind_for_tag(PoolKey{KeyKind::kPoolTag, std::string("Key\0", 4)}));  // not "Key "
  EXPECT_FALSE(handle_kind_for_tag(tag_from_text("even")));  // tags are case-sensitive
  EXPECT_FALSE(handle_kind_for_tag(slab_cache("File")));
  std::size_t typed = 0;
  for (const ProcessLink& link : process_links()) {
    if (!link.handle_type) continue;
    ++typed;
    EXPECT_EQ(link.kind, KeyKind::kPoolTag);
    EXPECT_EQ(link.pattern.size(), 4u);
    // The row names its source, and its first metric is the type's handles.
    EXPECT_NE(link.why.find("pooltag.txt: " + std::string(link.pattern)), std::string_view::npos)
        << link.pattern;
    std::string first(handle_kind_name(*link.handle_type));
    for (char& c : first) c = c == ' ' ? '_' : c;
    EXPECT_TRUE(link.metrics.starts_with(first + "_handles")) << link.metrics;
    EXPECT_TRUE(plausible_link(tag_from_text(link.pattern),
                               std::string(handle_kind_name(*link.handle_type)) + " handles"));
  }
  EXPECT_EQ(typed, 16u);
}

}  // namespace
}  // namespace poolscope::detect
