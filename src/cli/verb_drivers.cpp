// `poolscope drivers DIR`: every pool tag of every driver in a folder, with the call sites that
// prove it, the untagged allocators ('None'), machine, version and signer; --localtag writes a
// localtag.txt for poolmon-style tools.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "attrib/call_sites.h"
#include "attrib/driver_tree.h"
#include "attrib/kmdf.h"
#include "attrib/pool_apis.h"
#include "cli/verbs.h"
#include "render/driver_output.h"

namespace poolscope::cli {

void add_drivers_verb(CLI::App& app, VerbMain& run) {
  struct Options {
    std::string dir;
    std::string format = "table";
    std::string localtag;
  };
  auto options = std::make_shared<Options>();
  CLI::App* verb = app.add_subcommand(
      "drivers", "the pool tags of every driver in a folder, proven by their call sites");
  verb->add_option("dir", options->dir, "folder of drivers (its .sys files)")->required();
  add_format_option(*verb, options->format, {"table", "json"}, "table or json");
  verb->add_option("--localtag", options->localtag,
                   "also write a localtag.txt (\"TAG - driver.sys - ...\" lines) to this file");
  verb->callback([&run, options] {
    run = [options]() -> int {
      auto files = attrib::list_driver_tree(options->dir);
      if (!files) return report_error(files.error());
      const DriversReport report = drivers_report(options->dir, *files, options->format == "json");
      for (const auto& skipped : report.skipped) {
        std::fprintf(stderr, "poolscope: skipped %s\n", skipped.c_str());
      }
      if (!options->localtag.empty()) {
        std::ofstream out(options->localtag, std::ios::binary | std::ios::trunc);
        out << report.localtag;
        if (!out) {
          return report_error(Error{ErrorCode::kInput, 0, "cannot write " + options->localtag});
        }
      }
      if (options->format != "json") {
        for (const auto& note : files->notes) std::fprintf(stderr, "poolscope: %s\n", note.c_str());
      }
      std::fwrite(report.text.data(), 1, report.text.size(), stdout);
      return kExitOk;
    };
  });
}

}  // namespace poolscope::cli
