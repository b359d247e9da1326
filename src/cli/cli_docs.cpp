#include "cli/cli_docs.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

namespace poolscope::cli {
namespace {

// Options a user types: not hidden (empty group), not positional.
std::vector<const CLI::Option*> flags_of(const CLI::App& verb) {
  return verb.get_options(
      [](const CLI::Option* opt) { return !opt->get_group().empty() && opt->nonpositional(); });
}

std::vector<const CLI::Option*> positionals_of(const CLI::App& verb) {
  return verb.get_options([](const CLI::Option* opt) { return opt->get_positional(); });
}

// roff: a leading dot or quote starts a request; backslashes and hyphens need escaping.
std::string roff(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool line_start = true;
  for (char c : text) {
    if (line_start && (c == '.' || c == '\'')) out += "\\&";
    if (c == '\\') {
      out += "\\e";
    } else if (c == '-') {
      out += "\\-";
    } else {
      out += c;
    }
    line_start = c == '\n';
  }
  return out;
}

// "TEXT:{table,json,csv}" -> {table, json, csv}; none when the option has no fixed set.
std::vector<std::string> choices_of(const CLI::Option& opt) {
  std::string type = opt.get_type_name();
  auto open = type.find('{');
  auto close = type.rfind('}');
  std::vector<std::string> out;
  if (open == std::string::npos || close == std::string::npos || close < open) return out;
  std::string_view list(type.data() + open + 1, close - open - 1);
  while (!list.empty()) {
    auto comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return out;
}

// The argument an option takes as shown in the synopsis: "" for a flag, else its type ("TEXT").
std::string argument_of(const CLI::Option& opt) {
  // As CLI11's own help shows it: a flag has no type size.
  if (opt.get_type_size() == 0 || opt.get_type_name().empty()) return "";
  std::string type = opt.get_type_name();
  auto colon = type.find(':');
  if (colon != std::string::npos) type.resize(colon);
  return type.empty() ? "VALUE" : type;
}

// "-f, --format" with every short and long name.
std::string names_of(const CLI::Option& opt) {
  std::vector<std::string> names;
  for (const auto& s : opt.get_snames()) names.push_back("-" + s);
  for (const auto& l : opt.get_lnames()) names.push_back("--" + l);
  return fmt::format("{}", fmt::join(names, ", "));
}

std::vector<std::string> all_names(const CLI::Option& opt) {
  std::vector<std::string> names;
  for (const auto& s : opt.get_snames()) names.push_back("-" + s);
  for (const auto& l : opt.get_lnames()) names.push_back("--" + l);
  return names;
}

std::string header(std::string_view title, std::string_view version, std::string_view date) {
  return fmt::format(".TH {} 1 \"{}\" \"poolscope {}\" \"poolscope manual\"\n", title, date,
                     version);
}

// Text inside single quotes for zsh: a quote becomes '\''. Help text inside an _arguments spec
// also has its brackets and colons escaped (they end the help or start the action).
std::string zsh_single_quoted(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else if (c != '\n') {
      out += c;
    }
  }
  out += "'";
  return out;
}

std::string zsh_help(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '[' || c == ']' || c == ':') out += '\\';
    out += c;
  }
  return out;
}

std::string first_line(std::string_view text) {
  auto nl = text.find('\n');
  return std::string(text.substr(0, nl));
}

}  // namespace

std::vector<const CLI::App*> visible_verbs(const CLI::App& app) {
  return app.get_subcommands([](const CLI::App* sub) { return !sub->get_group().empty(); });
}

std::string man_page_index(const CLI::App& app, std::string_view version, std::string_view date) {
  std::string out = header("POOLSCOPE", version, date);
  out += ".SH NAME\npoolscope \\- " + roff(app.get_description()) + "\n";
  out += ".SH SYNOPSIS\n.B poolscope\n.I verb\n[\\fIoptions\\fR]\n";
  out +=
      ".SH DESCRIPTION\nEvery verb takes \\fB\\-\\-help\\fR and has its own page, "
      "\\fBpoolscope\\-\\fIverb\\fR(1).\n";
  out += ".SH VERBS\n";
  for (const CLI::App* verb : visible_verbs(app)) {
    out += fmt::format(".TP\n.B {}\n{}\n", roff(verb->get_name()), roff(verb->get_description()));
  }
  out +=
      ".SH EXIT STATUS\n0 ok; 1 a finding where the verb is used as a check; 2 a usage or "
      "input error; 3 an environment error (not root, call refused by the OS).\n";
  out += ".SH SEE ALSO\n";
  std::vector<std::string> refs;
  for (const CLI::App* verb : visible_verbs(app))
    refs.push_back("\\fBpoolscope\\-" + verb->get_name() + "\\fR(1)");
  out += fmt::format("{}\n", fmt::join(refs, ",\n"));
  return out;
}

std::string man_page_verb(const CLI::App& app, const CLI::App& verb, std::string_view version,
                          std::string_view date) {
  std::string name = "poolscope-" + verb.get_name();
  std::string upper = name;
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 32) : c; });
  std::string out = header(upper, version, date);
  out += fmt::format(".SH NAME\n{} \\- {}\n", roff(name), roff(verb.get_description()));
  out += fmt::format(".SH SYNOPSIS\n.B poolscope {}\n", roff(verb.get_name()));
  for (const CLI::Option* opt : positionals_of(verb)) {
    std::string arg = opt->get_name();
    out += opt->get_required() ? fmt::format(".I {}\n", roff(arg))
                               : fmt::format("[\\fI{}\\fR]\n", roff(arg));
  }
  out += "[\\fIoptions\\fR]\n";
  out += fmt::format(".SH DESCRIPTION\n{}.\n", roff(verb.get_description()));
  if (!verb.get_footer().empty() && verb.get_footer() != "\n") {
    out += roff(verb.get_footer()) + "\n";
  }
  auto positionals = positionals_of(verb);
  if (!positionals.empty()) {
    out += ".SH ARGUMENTS\n";
    for (const CLI::Option* opt : positionals) {
      out += fmt::format(".TP\n.I {}\n{}\n", roff(opt->get_name()), roff(opt->get_description()));
    }
  }
  out += ".SH OPTIONS\n";
  for (const CLI::Option* opt : flags_of(verb)) {
    std::string arg = argument_of(*opt);
    out += fmt::format(".TP\n.B {}{}\n", roff(names_of(*opt)),
                       arg.empty() ? "" : " \\fI" + roff(arg) + "\\fR");
    std::string description = opt->get_description();
    if (!description.empty() && description.back() != '.') description += '.';
    out += roff(description);
    auto choices = choices_of(*opt);
    if (!choices.empty())
      out += fmt::format(" One of: {}.", roff(fmt::format("{}", fmt::join(choices, ", "))));
    if (!opt->get_default_str().empty()) {
      out += fmt::format(" Default: {}.", roff(opt->get_default_str()));
    }
    out += "\n";
  }
  out +=
      ".SH EXIT STATUS\n0 ok; 1 a finding where the verb is used as a check; 2 a usage or "
      "input error; 3 an environment error.\n";
  out += fmt::format(".SH SEE ALSO\n\\fB{}\\fR(1)\n",
                     roff(app.get_name().empty() ? "poolscope" : app.get_name()));
  return out;
}

std::string bash_completion(const CLI::App& app) {
  std::vector<std::string> verb_names;
  for (const CLI::App* verb : visible_verbs(app)) verb_names.push_back(verb->get_name());
  std::string out =
      "# bash completion for poolscope (generated from its command line definitions)\n"
      "_poolscope() {\n"
      "  local cur prev verb i\n"
      "  cur=${COMP_WORDS[COMP_CWORD]}\n"
      "  prev=${COMP_WORDS[COMP_CWORD-1]}\n"
      "  verb=\n"
      "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
      "    case ${COMP_WORDS[i]} in -*) ;; *) verb=${COMP_WORDS[i]}; break ;; esac\n"
      "  done\n"
      "  if [[ -z $verb ]]; then\n";
  out += fmt::format("    COMPREPLY=($(compgen -W '{} --help --version' -- \"$cur\"))\n",
                     fmt::join(verb_names, " "));
  out += "    return\n  fi\n  case $verb in\n";
  for (const CLI::App* verb : visible_verbs(app)) {
    std::vector<std::string> names;
    std::string choice_cases;
    for (const CLI::Option* opt : flags_of(*verb)) {
      auto these = all_names(*opt);
      names.insert(names.end(), these.begin(), these.end());
      auto choices = choices_of(*opt);
      if (!choices.empty()) {
        choice_cases +=
            fmt::format("        {}) COMPREPLY=($(compgen -W '{}' -- \"$cur\")); return ;;\n",
                        fmt::join(these, "|"), fmt::join(choices, " "));
      } else if (!argument_of(*opt).empty()) {
        // Values that are files or free text: let bash complete file names.
        choice_cases +=
            fmt::format("        {}) COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n",
                        fmt::join(these, "|"));
      }
    }
    const bool takes_file = !positionals_of(*verb).empty();
    out +=
        fmt::format("    {})\n      case $prev in\n{}      esac\n", verb->get_name(), choice_cases);
    out += fmt::format(
        "      if [[ $cur == -* ]]; then\n        COMPREPLY=($(compgen -W '{}' -- \"$cur\"))\n",
        fmt::join(names, " "));
    out += takes_file
               ? "      else\n        COMPREPLY=($(compgen -f -- \"$cur\"))\n      fi\n      ;;\n"
               : "      fi\n      ;;\n";
  }
  out += "  esac\n}\ncomplete -F _poolscope poolscope\n";
  return out;
}

std::string zsh_completion(const CLI::App& app) {
  std::string out =
      "#compdef poolscope\n"
      "# zsh completion for poolscope (generated from its command line definitions)\n"
      "_poolscope() {\n"
      "  local -a verbs\n"
      "  verbs=(\n";
  for (const CLI::App* verb : visible_verbs(app)) {
    out += fmt::format(
        "    {}\n",
        zsh_single_quoted(verb->get_name() + ":" + zsh_help(first_line(verb->get_description()))));
  }
  out +=
      "  )\n"
      "  if (( CURRENT == 2 )); then\n"
      "    _describe 'verb' verbs\n"
      "    return\n"
      "  fi\n"
      "  local verb=${words[2]}\n"
      "  shift words; (( CURRENT-- ))\n"
      "  case $verb in\n";
  for (const CLI::App* verb : visible_verbs(app)) {
    out += fmt::format("    {})\n      _arguments -s \\\n", verb->get_name());
    for (const CLI::Option* opt : flags_of(*verb)) {
      auto names = all_names(*opt);
      std::string help = first_line(opt->get_description());
      std::string action;
      auto choices = choices_of(*opt);
      if (!choices.empty()) {
        action = fmt::format(":value:({})", fmt::join(choices, " "));
      } else if (!argument_of(*opt).empty()) {
        action = ":value:_files";
      }
      std::string rest = zsh_single_quoted("[" + zsh_help(help) + "]" + action);
      std::string spec;
      if (opt->get_expected_max() > 1) {
        // A repeatable option (-i PATTERN -i PATTERN) may be given again.
        spec =
            names.size() == 1 ? "'*'" + names[0] : fmt::format("'*'{{{}}}", fmt::join(names, ","));
      } else {
        spec = names.size() == 1
                   ? names[0]
                   : fmt::format("'({})'{{{}}}", fmt::join(names, " "), fmt::join(names, ","));
      }
      out += fmt::format("        {}{} \\\n", spec, rest);
    }
    out += positionals_of(*verb).empty() ? "        && return\n      ;;\n"
                                         : "        '*:file:_files' && return\n      ;;\n";
  }
  out += "  esac\n}\n_poolscope \"$@\"\n";
  return out;
}

}  // namespace poolscope::cli
