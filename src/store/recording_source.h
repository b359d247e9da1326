// A recording (poolscope record/import) as a source of the one sample at or before `at` (UTC text;
// empty: the last one), for `snapshot`, `summary` and `top --source FILE.db`.
#pragma once

#include <memory>
#include <string>

#include "core/result.h"
#include "source/source.h"

namespace poolscope::store {

Result<std::unique_ptr<Source>> open_recording_source(const std::string& path,
                                                      const std::string& at);

}  // namespace poolscope::store
