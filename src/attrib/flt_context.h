// Pool tags a file-system minifilter declares instead of passing them to a call: FltAllocateContext
// (fltmgr.sys) takes no tag; the filter manager allocates each context type with the PoolTag of
// its FLT_CONTEXT_REGISTRATION, an array the filter hands to FltRegisterFilter, usually constant
// data. Layout (fltkernel.h): ContextType (USHORT: 0x1 volume, 0x2 instance, 0x4 file, 0x8 stream,
// 0x10 stream handle, 0x20 transaction, 0x40 section), Flags (USHORT), ContextCleanupCallback,
// Size (SIZE_T), PoolTag (ULONG), ContextAllocateCallback, ContextFreeCallback, Reserved1; 56 bytes
// on x64, 28 on x86; the array ends with an entry whose ContextType is FLT_CONTEXT_END (0xffff).
#pragma once

#include <vector>

#include "attrib/call_sites.h"
#include "parse/pe.h"

namespace poolscope::attrib {

// The driver imports FltAllocateContext (from fltmgr.sys).
bool imports_flt_contexts(const parse::PeImage& image);

// One tag per registered context tag (high: the registration is the filter manager's source of
// the tag), each with a note naming the context types and the array's RVA. Empty for a driver that
// does not import FltAllocateContext. The registration is found by its shape: entries of a known
// context type, Flags 0 or 1, zero padding, a printable tag, callbacks null or inside the image,
// ended by FLT_CONTEXT_END.
std::vector<DriverTag> flt_context_tags(const parse::PeImage& image, parse::ByteSpan data);

}  // namespace poolscope::attrib
