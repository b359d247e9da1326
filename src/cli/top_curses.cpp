// The curses front end of `poolscope top`: reads keys, draws the lines the model laid out.
// top_model.h before curses.h: curses defines macros (scroll, refresh, timeout) that would clash.
#include "top/top_model.h"
// clang-format off
#include <curses.h>
// clang-format on
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace poolscope::top {

namespace {

volatile std::sig_atomic_t g_stop = 0;

extern "C" void on_stop_signal(int) {
  g_stop = 1;
}

enum ColorPair : short { kPairGrew = 1, kPairShrank = 2, kPairTotals = 3 };

class CursesTerminal final : public Terminal {
 public:
  CursesTerminal(SCREEN* screen, FILE* input, bool own_input)
      : screen_(screen), input_(input), own_input_(own_input) {
    cbreak();
    noecho();
    nonl();
    intrflush(stdscr, FALSE);
    keypad(stdscr, TRUE);
    curs_set(0);
#ifdef NCURSES_VERSION
    set_escdelay(25);  // Esc quits; do not wait a second to tell it from an arrow key
#endif
    colors_ = has_colors();
    if (colors_) {
      start_color();
      use_default_colors();
      init_pair(kPairGrew, COLOR_RED, -1);
      init_pair(kPairShrank, COLOR_GREEN, -1);
      init_pair(kPairTotals, COLOR_CYAN, -1);
    }
    // Ctrl-C and kill end the loop normally so the terminal is restored.
    g_stop = 0;
    struct sigaction action;
    std::memset(&action, 0, sizeof action);
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    for (int i = 0; i < 3; ++i) sigaction(kSignals[i], &action, &saved_[i]);
  }
  ~CursesTerminal() override {
    endwin();
    delscreen(screen_);
    if (own_input_) std::fclose(input_);
    for (int i = 0; i < 3; ++i) sigaction(kSignals[i], &saved_[i], nullptr);
  }
  CursesTerminal(const CursesTerminal&) = delete;
  CursesTerminal& operator=(const CursesTerminal&) = delete;

  Size size() override {
    int h = 0, w = 0;
    getmaxyx(stdscr, h, w);
    return Size{w, h};
  }

  void draw(const Screen& screen) override {
    erase();
    int rows = 0, cols = 0;
    getmaxyx(stdscr, rows, cols);
    for (std::size_t y = 0; y < screen.lines.size() && static_cast<int>(y) < rows; ++y) {
      const ScreenLine& line = screen.lines[y];
      const int n = std::min(static_cast<int>(line.text.size()), cols);
      mvaddnstr(static_cast<int>(y), 0, line.text.c_str(), n);
      for (const Span& span : line.spans) {
        if (static_cast<int>(span.begin) >= n) continue;
        const int len = std::min(static_cast<int>(span.length), n - static_cast<int>(span.begin));
        short pair = 0;
        attr_t attr = attributes(span.style, pair);
        mvchgat(static_cast<int>(y), static_cast<int>(span.begin), len, attr, pair, nullptr);
      }
    }
    refresh();
  }

  int read_key(std::chrono::milliseconds wait) override {
    if (g_stop) return 'q';
    timeout(static_cast<int>(std::min<long long>(wait.count(), INT_MAX)));
    int ch = getch();
    if (g_stop) return 'q';
    switch (ch) {
      case ERR:
        return kNoKey;
      case KEY_UP:
        return kKeyUp;
      case KEY_DOWN:
        return kKeyDown;
      case KEY_PPAGE:
        return kKeyPageUp;
      case KEY_NPAGE:
        return kKeyPageDown;
      case KEY_HOME:
        return kKeyHome;
      case KEY_END:
        return kKeyEnd;
      case KEY_RESIZE:
        return kKeyResize;
      default:
        break;
    }
    return ch >= 0 && ch < 0x80 ? ch : kNoKey;
  }

 private:
  static constexpr int kSignals[3] = {SIGINT, SIGTERM, SIGHUP};

  attr_t attributes(Style style, short& pair) const {
    pair = 0;
    switch (style) {
      case Style::kNormal:
        return A_NORMAL;
      case Style::kTitle:
        return A_BOLD;
      case Style::kHeading:
      case Style::kStatus:
        return A_REVERSE;
      case Style::kSortHeading:
        return A_REVERSE | A_BOLD | A_UNDERLINE;
      case Style::kChanged:
        return A_BOLD;
      case Style::kGrew:
        if (colors_) pair = kPairGrew;
        return A_BOLD;
      case Style::kShrank:
        if (colors_) pair = kPairShrank;
        return A_BOLD;
      case Style::kTotals:
        if (colors_) pair = kPairTotals;
        return A_BOLD;
    }
    return A_NORMAL;
  }

  SCREEN* screen_;
  FILE* input_;
  bool own_input_;
  bool colors_ = false;
  struct sigaction saved_[3];
};

}  // namespace

bool stdout_is_terminal() {
  return ::isatty(STDOUT_FILENO) == 1;
}

Result<std::unique_ptr<Terminal>> open_terminal() {
  // Keys come from the terminal even when stdin is redirected.
  FILE* input = stdin;
  bool own_input = false;
  if (::isatty(STDIN_FILENO) != 1) {
    input = std::fopen("/dev/tty", "r");
    if (!input) {
      return make_error(ErrorCode::kEnvironment,
                        "top reads keys from the terminal, but there is none (no /dev/tty); use "
                        "`poolscope snapshot`",
                        errno);
    }
    own_input = true;
  }
  SCREEN* screen = newterm(nullptr, stdout, input);
  if (!screen) {
    if (own_input) std::fclose(input);
    const char* term = std::getenv("TERM");
    return make_error(ErrorCode::kEnvironment,
                      std::string("cannot drive this terminal (TERM=") + (term ? term : "unset") +
                          "); set TERM to a known type, e.g. TERM=xterm-256color");
  }
  set_term(screen);
  return std::make_unique<CursesTerminal>(screen, input, own_input);
}

std::optional<std::uint64_t> peak_resident_kib() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return std::nullopt;
  char line[256];
  std::optional<std::uint64_t> peak;
  while (std::fgets(line, sizeof line, f)) {
    unsigned long long kib = 0;
    if (std::sscanf(line, "VmHWM: %llu kB", &kib) == 1) {
      peak = kib;
      break;
    }
  }
  std::fclose(f);
  return peak;
}

}  // namespace poolscope::top
