// poolscope entry point: parses the verb and its options, runs it, maps errors to exit codes.
#include <cstdio>

#include "cli/verbs.h"
#include "cli/version.h"

int main(int argc, char** argv) {
  using namespace poolscope;
  CLI::App app{
      "poolscope: find the kernel pool (Windows) or slab cache (Linux) that leaks, and its owner"};
  app.set_version_flag("--version", std::string(cli::kVersion));
  app.require_subcommand(1);
  cli::VerbMain run;
  cli::add_snapshot_verb(app, run);
  cli::add_summary_verb(app, run);
  cli::add_record_verb(app, run);
  cli::add_import_verb(app, run);
  cli::add_export_verb(app, run);
  cli::add_who_verb(app, run);
  cli::add_drivers_verb(app, run);
  cli::add_leaks_verb(app, run);
  cli::add_watch_verb(app, run);
  cli::add_diagnose_verb(app, run);
  cli::add_serve_verb(app, run);
  cli::add_report_verb(app, run);
#ifdef POOLSCOPE_HAVE_TRACE
  cli::add_trace_verb(app, run);
#endif
#ifdef POOLSCOPE_HAVE_TOP
  cli::add_top_verb(app, run);
#endif
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  return run ? run() : kExitUsage;
}
