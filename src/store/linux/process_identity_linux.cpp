// Process identity and liveness from /proc (POSIX).
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <sstream>

#include "parse/proc_fd.h"
#include "store/process_identity.h"

namespace poolscope::store {

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::uint64_t start_time_of(std::uint64_t pid) {
  auto stat = parse::parse_proc_stat(read_text("/proc/" + std::to_string(pid) + "/stat"));
  return stat ? stat->start_time : 0;
}

std::string host_name() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) return {};
  return host;
}

}  // namespace

ProcessIdentity current_process_identity() {
  ProcessIdentity me;
  me.pid = static_cast<std::uint64_t>(::getpid());
  me.start_time = start_time_of(me.pid);
  me.host = host_name();
  me.boot_id = trimmed(read_text("/proc/sys/kernel/random/boot_id"));
  return me;
}

Liveness process_liveness(const ProcessIdentity& who) {
  const ProcessIdentity me = current_process_identity();
  if (who.host != me.host) return Liveness::kUnknown;
  // After a reboot every pid of the old boot is gone.
  if (!who.boot_id.empty() && !me.boot_id.empty() && who.boot_id != me.boot_id) {
    return Liveness::kGone;
  }
  if (who.pid == 0 || who.pid > static_cast<std::uint64_t>(INT32_MAX)) return Liveness::kGone;
  if (::kill(static_cast<pid_t>(who.pid), 0) != 0 && errno == ESRCH) return Liveness::kGone;
  // The pid exists; it is the same process only if it started at the same time.
  const std::uint64_t start = start_time_of(who.pid);
  if (start != 0 && who.start_time != 0 && start != who.start_time) return Liveness::kGone;
  // A zombie (killed, not yet reaped by its parent) holds nothing open any more.
  auto stat = parse::parse_proc_stat(read_text("/proc/" + std::to_string(who.pid) + "/stat"));
  if (stat && (stat->state == 'Z' || stat->state == 'X')) return Liveness::kGone;
  return Liveness::kAlive;
}

}  // namespace poolscope::store
