#include "report/next_steps.h"

#include "detect/history.h"
#include "detect/output.h"

namespace poolscope::report {

namespace {

bool is_generic_kmalloc(const std::string& name) {
  return name.starts_with("kmalloc-") || name.starts_with("dma-kmalloc-");
}

std::string plural_metric(const detect::ProcessEvidence& p) {
  return detect::metric_plural(p.metric, 2);
}

// "filp" owner texts end in '?' when they are a guess from the name; "vmlinux" is the kernel.
bool names_a_module(const std::string& owner) {
  return !owner.empty() && !owner.ends_with('?') && owner != "vmlinux" &&
         !owner.starts_with("kmalloc");
}

std::string rate_of(const detect::Finding& f) {
  std::string rate = detect::rate_text(f.rate_bytes_per_hour, "B");
  if (f.rate_objects_per_hour) {
    rate += " (" + detect::rate_text(f.rate_objects_per_hour, "") + " objects)";
  }
  return rate;
}

}  // namespace

std::vector<std::string> next_steps(const detect::Report& report,
                                    const std::string& recording_path) {
  std::vector<std::string> out;
  if (report.findings.empty()) {
    out.push_back("No key kept growing in " + detect::duration_text(report.seconds) +
                  ". A slow leak needs longer: record for a day or two, then analyse:\n"
                  "      poolscope record --interval 10 --out pools.db --duration 48h\n"
                  "      poolscope leaks pools.db");
    return out;
  }
  for (const detect::Incident& in : report.incidents) {
    for (std::string& step : detect::incident_next_steps(report, in, recording_path)) {
      out.push_back(std::move(step));
    }
  }
  return out;
}

std::vector<Guidance> guidance(const detect::Report& report, const std::string& recording_path,
                               std::size_t max) {
  std::vector<Guidance> out;
  for (const detect::Incident& in : report.incidents) {
    if (out.size() >= max) break;
    const detect::Finding& f = report.findings[in.source];  // the source: the followers go with it
    const std::string key = display_key(f.key);
    Guidance g;
    const detect::ProcessEvidence* culprit = f.processes.empty() ? nullptr : &f.processes.front();
    if (f.key.kind == KeyKind::kPoolTag) {
      g.heading = "Windows pool tag " + key + " (" + std::string(pool_kind_name(f.pool)) + ")";
      if (culprit && culprit->pid == kSystemPid) {
        g.fix.push_back("System (pid 4) holds ever more " + plural_metric(*culprit) +
                        ": kernel handles, the kernel's or a driver's, not an application's. "
                        "The driver is the next step (below), not a process restart.");
      } else if (culprit) {
        g.fix.push_back("Process " + culprit->name + " (pid " + std::to_string(culprit->pid) +
                        ") holds ever more " + plural_metric(*culprit) +
                        ": restarting it gives the pool back; its vendor must fix the handle "
                        "leak.");
      }
      const std::string driver = detect::owner_driver(f.owner);
      g.fix.push_back(
          (driver.empty() ? std::string("Find the driver: poolscope who ") + key +
                                " on that Windows machine (it searches the loaded drivers and "
                                "System32\\drivers; elsewhere add --drivers DIR with a copy). "
                          : "The owner is " + driver + " (" + f.owner + ", evidence above). ") +
          "Update the driver to the vendor's latest version; if no version fixes it, remove or "
          "disable the driver (or the software that installed it). A reboot only postpones the "
          "exhaustion.");
      g.confirm.push_back("poolscope trace --tag " + key +
                          " --duration 60s, as Administrator on the leaking machine: the call "
                          "sites (driver+offset) still holding the tag's allocations (ETW pool "
                          "events).");
      g.confirm.push_back(
          "Pool trace (Windows Performance Toolkit, as Administrator): xperf -on "
          "PROC_THREAD+LOADER+POOL -stackwalk PoolAlloc+PoolFree+PoolAllocSession+"
          "PoolFreeSession -PoolTag " +
          key +
          " -BufferSize 1024 -MaxFile 1024 -FileMode Circular, run the workload, xperf -d "
          "pool.etl, then poolscope trace --load pool.etl, or in WPA (Memory > Pool) group the "
          "outstanding allocations of the tag by stack: the driver's frames name the code path.");
      g.confirm.push_back(
          "Driver Verifier pool tracking: verifier /flags 0x8 /driver NAME.sys, reboot, run the "
          "workload; in WinDbg (live kernel or a dump) !verifier 3 NAME.sys lists the driver's "
          "outstanding allocations. verifier /reset and a reboot turn it off; on a production "
          "server prefer the trace (Verifier costs and bugchecks on violations).");
      g.confirm.push_back(
          "Growth per operation: poolmon -n before.txt, one run of the workload, poolmon -n "
          "after.txt, then poolscope import --into op.db before.txt after.txt and poolscope "
          "leaks op.db.");
      g.send.push_back("this report and the recording " + recording_path);
      g.send.push_back(
          "the driver's file name, version and signer (owner evidence), and the Windows build "
          "(winver)");
      g.send.push_back("the tag " + key + ", its growth " + rate_of(f) +
                       ", and the pool trace (pool.etl) or the !verifier 3 output");
    } else {
      g.heading = "Linux slab cache " + key;
      if (culprit) {
        g.fix.push_back("Process " + culprit->name + " (pid " + std::to_string(culprit->pid) +
                        ") holds ever more " + plural_metric(*culprit) + " (ls -l /proc/" +
                        std::to_string(culprit->pid) +
                        "/fd): restarting it frees the kernel objects, fixing its fd leak stops "
                        "the growth.");
      }
      if (names_a_module(f.owner)) {
        g.fix.push_back("Module " + f.owner +
                        " creates the cache: update it (or the kernel); unloading it (modprobe "
                        "-r " +
                        f.owner + ") frees the cache.");
      } else if (is_generic_kmalloc(f.key.name)) {
        g.fix.push_back(key +
                        " is a generic kmalloc cache: the leaking caller is found by a trace "
                        "(below), then its module or the kernel is updated.");
      } else if (!culprit) {
        g.fix.push_back(
            "No process grew with it: the kernel or a module leaks. poolscope who " + f.key.name +
            " on the machine names the owner; a kernel update is the fix, report it to the "
            "distribution or the subsystem's maintainers.");
      }
      g.confirm.push_back("As root: poolscope trace --cache " + f.key.name +
                          " --duration 60 --min-age 10 lists the call sites whose allocations "
                          "stay outstanding, with their processes.");
      g.confirm.push_back(
          "Without poolscope: boot with slub_debug=U," + f.key.name +
          " and read /sys/kernel/debug/slab/" + f.key.name +
          "/alloc_traces; or perf record -a -e kmem:kmem_cache_alloc -e kmem:kmem_cache_free "
          "-e kmem:kmalloc -e kmem:kfree -- sleep 60; kmemleak (CONFIG_DEBUG_KMEMLEAK: echo scan "
          "> /sys/kernel/debug/kmemleak) lists objects nothing points to.");
      g.send.push_back("this report and the recording " + recording_path);
      g.send.push_back("uname -r, and modinfo of the owning module (version, srcversion)");
      g.send.push_back("the cache " + key + ", its growth " + rate_of(f) +
                       ", and the poolscope trace output");
    }
    out.push_back(std::move(g));
  }
  return out;
}

}  // namespace poolscope::report
