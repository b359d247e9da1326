// poolscope entry point: parses the verb and its options, runs it, maps errors to exit codes.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "cli/cli_docs.h"
#include "cli/verbs.h"
#include "cli/version.h"
#include "core/names.h"

namespace {

int write_cli_docs(const CLI::App& app, const std::string& man_dir, const std::string& date,
                   const std::string& shell) {
  using namespace poolscope;
  if (!shell.empty()) {
    std::string text = shell == "bash" ? cli::bash_completion(app) : cli::zsh_completion(app);
    std::fwrite(text.data(), 1, text.size(), stdout);
    return kExitOk;
  }
  std::error_code ec;
  std::filesystem::create_directories(man_dir, ec);
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream out(std::filesystem::path(man_dir) / name, std::ios::binary);
    out << text;
    return static_cast<bool>(out);
  };
  bool ok = write("poolscope.1", cli::man_page_index(app, cli::kVersion, date));
  for (const CLI::App* verb : cli::visible_verbs(app)) {
    ok = write("poolscope-" + verb->get_name() + ".1",
               cli::man_page_verb(app, *verb, cli::kVersion, date)) &&
         ok;
  }
  if (!ok) {
    std::fprintf(stderr, "poolscope: cannot write the man pages into %s\n", man_dir.c_str());
    return kExitEnvironment;
  }
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace poolscope;
  CLI::App app{
      "poolscope: find the kernel pool (Windows) or slab cache (Linux) that leaks, and its owner"};
  app.set_version_flag("--version", std::string(cli::kVersion));
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
  // Build-time documentation (hidden): the man pages and completions come from these definitions.
  std::string man_dir, completion_shell, man_date = "2026-12-07";
  app.add_option("--generate-man", man_dir, "write poolscope.1 and poolscope-VERB.1 into DIR")
      ->group("");
  app.add_option("--man-date", man_date, "the date on the man pages")->group("");
  app.add_option("--generate-completion", completion_shell, "print the bash or zsh completion")
      ->check(CLI::IsMember({"bash", "zsh"}))
      ->group("");
  app.require_subcommand(0, 1);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  if (!man_dir.empty() || !completion_shell.empty()) {
    return write_cli_docs(app, man_dir, man_date, completion_shell);
  }
  if (!run) {
    std::fputs(app.help().c_str(), stderr);
    return kExitUsage;
  }
  const int code = run();
  // Names cut at their format's maximum where they entered (issue 21): said once per run.
  for (const std::string& note : name_cut_notes()) {
    std::fprintf(stderr, "poolscope: note: %s\n", note.c_str());
  }
  return code;
}
