// The census (objects vs the owners the OS counts) and the evidence one snapshot gives.
#pragma once

#include <optional>

#include "detect/detector.h"

namespace poolscope::detect {

// The key's census, when it has a pair (links.h) and the owners are counted; with a finding, the
// gap's growth over its window.
std::optional<Census> census_for(const History& h, const KeyTrack& k, const Finding* finding);
// Attaches the census to findings, and adds suspects for large gaps of exact pairs.
void add_census(const History& h, Report& r);
// One snapshot (or the newest one): lockstep pairs of near-equal huge counts, a key holding most
// of its pool, keys that never free. Adds suspects and notes.
void add_snapshot_evidence(const History& h, Report& r);

}  // namespace poolscope::detect
