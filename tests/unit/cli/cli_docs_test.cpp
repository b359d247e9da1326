#include "cli/cli_docs.h"

#include <gtest/gtest.h>

namespace poolscope::cli {
namespace {

// A small app shaped like poolscope's: two verbs, a choice option, a repeatable option, a flag, a
// positional file and a hidden option.
struct Fixture {
  CLI::App app{"poolscope: find what leaks", "poolscope"};
  std::string format = "table", source = "live", file, hidden;
  std::vector<std::string> include;
  bool no_owner = false;
  Fixture() {
    auto* snapshot = app.add_subcommand("snapshot", "print the pools once (poolmon's table)");
    snapshot->add_option("-f,--format", format, "table, json or csv")
        ->check(CLI::IsMember({"table", "json", "csv"}))
        ->capture_default_str();
    snapshot->add_option("-i,--include", include, "only keys matching this pattern");
    snapshot->add_flag("--no-owner", no_owner, "no OWNER column");
    snapshot->add_option("--source", source, "live or a file")->capture_default_str();
    snapshot->add_option("--secret", hidden, "not for users")->group("");
    auto* exp = app.add_subcommand("export", "write a recording as JSON lines");
    exp->add_option("recording", file, "the recording (.db)")->required();
    app.add_subcommand("internal", "hidden verb")->group("");
  }
};

TEST(CliDocs, IndexPageListsEveryVisibleVerb) {
  Fixture f;
  std::string page = man_page_index(f.app, "1.2.3", "2026-12-07");
  EXPECT_NE(page.find(".TH POOLSCOPE 1 \"2026-12-07\" \"poolscope 1.2.3\""), std::string::npos);
  EXPECT_NE(page.find(".B snapshot\nprint the pools once (poolmon's table)"), std::string::npos);
  EXPECT_NE(page.find("\\fBpoolscope\\-export\\fR(1)"), std::string::npos);
  EXPECT_EQ(page.find("internal"), std::string::npos);
}

TEST(CliDocs, VerbPageHasEveryOptionWithArgumentChoicesAndDefault) {
  Fixture f;
  const CLI::App& snapshot = *f.app.get_subcommand("snapshot");
  std::string page = man_page_verb(f.app, snapshot, "1.2.3", "2026-12-07");
  EXPECT_NE(page.find(".TH POOLSCOPE-SNAPSHOT 1"), std::string::npos);
  EXPECT_NE(
      page.find(".B \\-f, \\-\\-format \\fITEXT\\fR\ntable, json or csv. One of: table, json, "
                "csv. Default: table."),
      std::string::npos)
      << page;
  EXPECT_NE(page.find(".B \\-\\-no\\-owner\nno OWNER column"), std::string::npos) << page;
  EXPECT_EQ(page.find("secret"), std::string::npos);
  const CLI::App& exp = *f.app.get_subcommand("export");
  std::string export_page = man_page_verb(f.app, exp, "1.2.3", "2026-12-07");
  EXPECT_NE(export_page.find(".SH SYNOPSIS\n.B poolscope export\n.I recording\n"),
            std::string::npos)
      << export_page;
}

TEST(CliDocs, ManPageEscapesLeadingDotsAndBackslashes) {
  CLI::App app{"x", "poolscope"};
  std::string v;
  app.add_subcommand("who", ".sys files and C:\\Windows")->add_option("--x", v, "a\n.b");
  std::string page = man_page_verb(app, *app.get_subcommand("who"), "1", "d");
  EXPECT_NE(page.find("\\&.sys files and C:\\eWindows"), std::string::npos) << page;
  EXPECT_NE(page.find("a\n\\&.b"), std::string::npos) << page;
}

TEST(CliDocs, BashCompletionOffersVerbsOptionsAndChoices) {
  Fixture f;
  std::string script = bash_completion(f.app);
  EXPECT_NE(script.find("compgen -W 'snapshot export --help --version'"), std::string::npos)
      << script;
  EXPECT_NE(script.find("-f|--format) COMPREPLY=($(compgen -W 'table json csv'"), std::string::npos)
      << script;
  EXPECT_NE(script.find("-f --format -i --include --no-owner --source"), std::string::npos)
      << script;
  EXPECT_EQ(script.find("secret"), std::string::npos);
  EXPECT_NE(script.find("complete -F _poolscope poolscope"), std::string::npos);
}

TEST(CliDocs, ZshCompletionDescribesVerbsAndOptions) {
  Fixture f;
  std::string script = zsh_completion(f.app);
  EXPECT_EQ(script.rfind("#compdef poolscope", 0), 0u);
  EXPECT_NE(script.find("'snapshot:print the pools once (poolmon'\\''s table)'"), std::string::npos)
      << script;
  EXPECT_NE(
      script.find("'(-f --format)'{-f,--format}'[table, json or csv]:value:(table json csv)'"),
      std::string::npos)
      << script;
  EXPECT_NE(script.find("'*'{-i,--include}'[only keys matching this pattern]:value:_files'"),
            std::string::npos)
      << script;
}

}  // namespace
}  // namespace poolscope::cli
