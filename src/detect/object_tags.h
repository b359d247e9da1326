// Pool tags that are the bodies of kernel objects, and the handle type that holds them: the link
// the culprit search tries first when such a tag leaks on Windows (docs/windows.md, "Pool tags of
// object types"). A small, self-contained table so the culprit search's key -> process-fact
// table can take it over as is.
#pragma once

#include <optional>
#include <span>
#include <string_view>

#include "core/pool.h"
#include "core/process.h"

namespace poolscope::detect {

struct ObjectTagLink {
  std::string_view tag;  // 4 raw bytes, as the pool reports it ("Key " has its space)
  HandleKind kind;
  std::string_view source;  // where the pair is documented
};

// Every pair, in table order.
std::span<const ObjectTagLink> object_tag_links();

// The handle kind whose objects a pool tag holds, or nullopt (not an object tag, or a slab cache).
std::optional<HandleKind> handle_kind_for_tag(const PoolKey& key);

}  // namespace poolscope::detect
