// The Windows console front end of `poolscope top`: VT escape sequences out, _getch keys in.
// (ncurses is not available to the mingw build; the console has understood VT sequences since
// Windows 10 1511 once ENABLE_VIRTUAL_TERMINAL_PROCESSING is set.)
#include <windows.h>
// windows.h first: conio.h and psapi.h need its types.
#include <conio.h>
#include <psapi.h>

#include <algorithm>
#include <string>

#include "top/top_model.h"

#ifndef ENABLE_VIRTUAL_TERMINAL_PROCESSING
#define ENABLE_VIRTUAL_TERMINAL_PROCESSING 0x0004
#endif
#ifndef DISABLE_NEWLINE_AUTO_RETURN
#define DISABLE_NEWLINE_AUTO_RETURN 0x0008
#endif

namespace poolscope::top {

namespace {

volatile LONG g_stop = 0;

// Ctrl-C, Ctrl-Break and closing the window end the loop normally so the screen is restored.
BOOL WINAPI on_console_ctrl(DWORD type) {
  if (type == CTRL_C_EVENT || type == CTRL_BREAK_EVENT || type == CTRL_CLOSE_EVENT) {
    InterlockedExchange(&g_stop, 1);
    return TRUE;
  }
  return FALSE;
}

const char* sgr(Style style) {
  switch (style) {
    case Style::kNormal:
      return "0";
    case Style::kTitle:
    case Style::kChanged:
      return "1";
    case Style::kHeading:
    case Style::kStatus:
      return "7";
    case Style::kSortHeading:
      return "7;1;4";
    case Style::kGrew:
      return "1;31";
    case Style::kShrank:
      return "1;32";
    case Style::kTotals:
      return "1;36";
  }
  return "0";
}

class ConsoleTerminal final : public Terminal {
 public:
  ConsoleTerminal(HANDLE out, DWORD saved_mode) : out_(out), saved_mode_(saved_mode) {
    InterlockedExchange(&g_stop, 0);
    SetConsoleCtrlHandler(on_console_ctrl, TRUE);
    write("\x1b[?1049h\x1b[?25l");  // alternate screen buffer, hide the cursor
    last_ = current_size();
  }
  ~ConsoleTerminal() override {
    write("\x1b[0m\x1b[?25h\x1b[?1049l");
    SetConsoleMode(out_, saved_mode_);
    SetConsoleCtrlHandler(on_console_ctrl, FALSE);
  }
  ConsoleTerminal(const ConsoleTerminal&) = delete;
  ConsoleTerminal& operator=(const ConsoleTerminal&) = delete;

  Size size() override {
    last_ = current_size();
    return last_;
  }

  void draw(const Screen& screen) override {
    const Size s = last_;
    std::string out;
    out.reserve(static_cast<std::size_t>(s.width + 16) * static_cast<std::size_t>(s.height));
    for (int y = 0; y < s.height; ++y) {
      out += "\x1b[" + std::to_string(y + 1) + ";1H\x1b[0m";
      int width_left = s.width;
      if (static_cast<std::size_t>(y) < screen.lines.size()) {
        const ScreenLine& line = screen.lines[static_cast<std::size_t>(y)];
        // The bottom-right cell is left alone: writing it scrolls some consoles.
        std::size_t n = std::min(line.text.size(), static_cast<std::size_t>(s.width));
        if (y == s.height - 1 && n == static_cast<std::size_t>(s.width) && n > 0) --n;
        std::size_t pos = 0;
        for (const Span& span : line.spans) {
          if (span.begin >= n) break;
          out.append(line.text, pos, span.begin - pos);
          out += std::string("\x1b[") + sgr(span.style) + "m";
          std::size_t end = std::min(span.begin + span.length, n);
          out.append(line.text, span.begin, end - span.begin);
          out += "\x1b[0m";
          pos = end;
        }
        if (pos < n) out.append(line.text, pos, n - pos);
        width_left -= static_cast<int>(n);
      }
      // Spaces rather than "erase to end of line": fewer sequences for the console to get right.
      if (y == s.height - 1) --width_left;
      if (width_left > 0) out.append(static_cast<std::size_t>(width_left), ' ');
    }
    write(out);
  }

  int read_key(std::chrono::milliseconds wait) override {
    const ULONGLONG deadline = GetTickCount64() + static_cast<ULONGLONG>(wait.count());
    while (true) {
      if (g_stop) return 'q';
      if (_kbhit()) {
        int c = _getch();
        if (c == 0 || c == 0xE0) {  // a function or arrow key: its scan code follows
          switch (_getch()) {
            case 72:
              return kKeyUp;
            case 80:
              return kKeyDown;
            case 73:
              return kKeyPageUp;
            case 81:
              return kKeyPageDown;
            case 71:
              return kKeyHome;
            case 79:
              return kKeyEnd;
            default:
              return kNoKey;
          }
        }
        if (c == 3) return 'q';  // Ctrl-C read as a character
        return c >= 0 && c < 0x80 ? c : kNoKey;
      }
      Size now_size = current_size();
      if (now_size.width != last_.width || now_size.height != last_.height) {
        last_ = now_size;
        return kKeyResize;
      }
      ULONGLONG now = GetTickCount64();
      if (now >= deadline) return kNoKey;
      Sleep(static_cast<DWORD>(std::min<ULONGLONG>(20, deadline - now)));
    }
  }

 private:
  Size current_size() const {
    CONSOLE_SCREEN_BUFFER_INFO info;
    if (!GetConsoleScreenBufferInfo(out_, &info)) return Size{80, 25};
    return Size{info.srWindow.Right - info.srWindow.Left + 1,
                info.srWindow.Bottom - info.srWindow.Top + 1};
  }
  void write(const std::string& text) {
    DWORD written = 0;
    WriteConsoleA(out_, text.data(), static_cast<DWORD>(text.size()), &written, nullptr);
  }

  HANDLE out_;
  DWORD saved_mode_;
  Size last_;
};

}  // namespace

bool stdout_is_terminal() {
  // _isatty() is also true for NUL; only a console has a console mode.
  DWORD mode = 0;
  return GetConsoleMode(GetStdHandle(STD_OUTPUT_HANDLE), &mode) != 0;
}

Result<std::unique_ptr<Terminal>> open_terminal() {
  HANDLE out = GetStdHandle(STD_OUTPUT_HANDLE);
  DWORD mode = 0;
  if (!GetConsoleMode(out, &mode)) {
    return make_error(ErrorCode::kEnvironment, "top needs a console; use `poolscope snapshot`",
                      static_cast<std::int64_t>(GetLastError()));
  }
  if (!SetConsoleMode(out,
                      mode | ENABLE_VIRTUAL_TERMINAL_PROCESSING | DISABLE_NEWLINE_AUTO_RETURN)) {
    return make_error(ErrorCode::kEnvironment,
                      "this console does not understand VT escape sequences (needs Windows 10 "
                      "1511 or later, or Windows Terminal); use `poolscope snapshot`",
                      static_cast<std::int64_t>(GetLastError()));
  }
  return std::make_unique<ConsoleTerminal>(out, mode);
}

std::optional<std::uint64_t> peak_resident_kib() {
  PROCESS_MEMORY_COUNTERS counters;
  if (!K32GetProcessMemoryInfo(GetCurrentProcess(), &counters, sizeof counters)) {
    return std::nullopt;
  }
  return static_cast<std::uint64_t>(counters.PeakWorkingSetSize) / 1024;
}

}  // namespace poolscope::top
