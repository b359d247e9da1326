// The portable part of host.h: stopping on a signal (std::signal exists on both OSes).
#include "source/host.h"

#include <csignal>

namespace poolscope::host {

namespace {

std::atomic<bool> g_stop{false};

extern "C" void host_request_stop(int) {
  g_stop.store(true);
}

}  // namespace

StopOnSignal::StopOnSignal() {
  g_stop.store(false);
  std::signal(SIGINT, host_request_stop);
  std::signal(SIGTERM, host_request_stop);
}

StopOnSignal::~StopOnSignal() {
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
}

const std::atomic<bool>& StopOnSignal::flag() const {
  return g_stop;
}

void StopOnSignal::request_stop() {
  g_stop.store(true);
}

}  // namespace poolscope::host
