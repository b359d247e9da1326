// Man pages and shell completions generated from the command line definitions themselves, so the
// documentation installed with the package cannot drift from the options the binary takes.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace poolscope::cli {

// The verbs in the order they were added (CLI11 keeps that order), hidden ones left out.
std::vector<const CLI::App*> visible_verbs(const CLI::App& app);
// poolscope(1): the verbs with their one-line descriptions. `date` is "2026-12-07"-like text for
// the .TH line (the build's date; a fixed value keeps the output reproducible).
std::string man_page_index(const CLI::App& app, std::string_view version, std::string_view date);
// poolscope-VERB(1): synopsis, description, every option with its argument and default.
std::string man_page_verb(const CLI::App& app, const CLI::App& verb, std::string_view version,
                          std::string_view date);
// A bash completion script (complete -F) offering the verbs, then each verb's options, and the
// fixed choices of options that have them (`--format table|json|csv`).
std::string bash_completion(const CLI::App& app);
// A zsh completion script (#compdef poolscope) with the same content and the options' help.
std::string zsh_completion(const CLI::App& app);

}  // namespace poolscope::cli
