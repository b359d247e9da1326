// /proc/allocinfo call sites as kernel memory keys ("alloc:FILE:LINE FUNCTION [module]"). Portable:
// the live Linux source calls it, tests feed it fixtures.
#pragma once

#include "core/pool.h"
#include "trace/allocinfo.h"

namespace poolscope {

// Appends one entry per call site holding memory now (bytes and live calls), kernel pool. Sites
// at zero are left out: a kernel has thousands of them.
void apply_allocinfo(const trace::ParsedAllocinfo& parsed, Snapshot& snapshot);

}  // namespace poolscope
