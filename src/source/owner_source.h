// Sources that fill each entry's OWNER (attrib::OwnerResolver) around another source: one that
// keeps a resolver (snapshot, top, watch), and one for long-running recorders that resolves each
// key once, when it first appears, and holds the resolver (the kernel's symbols: about 8 MB) only
// while it fills a sample with new keys.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "attrib/owner_resolver.h"
#include "source/source.h"

namespace poolscope {

std::unique_ptr<Source> with_owners(std::unique_ptr<Source> source,
                                    std::shared_ptr<const attrib::OwnerResolver> resolver,
                                    std::vector<std::string> notes);

// Makes the resolver again for keys that appear later (a module loaded a cache); nullopt when its
// files can no longer be read (the new keys then have no owner; the recording goes on).
using ResolverFactory = std::function<std::optional<attrib::OwnerResolver>()>;
std::unique_ptr<Source> with_owners_once(std::unique_ptr<Source> source,
                                         std::optional<attrib::OwnerResolver> first,
                                         ResolverFactory load, std::vector<std::string> notes);

}  // namespace poolscope
