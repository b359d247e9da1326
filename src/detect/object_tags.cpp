// The object-type tags. An object's body is allocated by ObCreateObject with its type's pool tag,
// which ObCreateObjectType takes from the first four characters of the type name (space-padded:
// "Key" -> "Key "); pooltag.txt (Windows Debugging Tools, triage/pooltag.txt; the copy in
// ../shared/data/real/pooltag/pooltag.txt) lists each one as "<Type> objects".
#include "detect/object_tags.h"

#include <array>

namespace poolscope::detect {

namespace {

constexpr std::array<ObjectTagLink, 16> kLinks = {{
    {"Even", HandleKind::kEvent, "pooltag.txt: Even - Event objects"},
    {"File", HandleKind::kFile, "pooltag.txt: File - File objects"},
    {"Key ", HandleKind::kKey, "pooltag.txt: Key  - Key objects"},
    {"Proc", HandleKind::kProcess, "pooltag.txt: Proc - nt!ps - Process objects"},
    {"Thre", HandleKind::kThread, "pooltag.txt: Thre - nt!ps - Thread objects"},
    {"Toke", HandleKind::kToken, "pooltag.txt: Toke - nt!se - Token objects"},
    {"Sect", HandleKind::kSection, "pooltag.txt: Sect - Section objects"},
    {"Muta", HandleKind::kMutant, "pooltag.txt: Muta - Mutant objects"},
    {"Sema", HandleKind::kSemaphore, "pooltag.txt: Sema - Semaphore objects"},
    {"Time", HandleKind::kTimer, "pooltag.txt: Time - nt!ke - Timer objects"},
    {"ALPC", HandleKind::kAlpcPort, "pooltag.txt: ALPC - nt!alpc - ALPC port objects"},
    {"IoCo", HandleKind::kIoCompletion, "pooltag.txt: IoCo - nt!io - Io completion"},
    {"EtwR", HandleKind::kEtwRegistration, "pooltag.txt: EtwR - nt!etw - Etw KM RegEntry"},
    {"Wait", HandleKind::kWaitCompletionPacket,
     "pooltag.txt: Wait - nt!io - WaitCompletion Packets"},
    {"Dire", HandleKind::kDirectory, "pooltag.txt: Dire - Directory objects"},
    {"TpWo", HandleKind::kTpWorkerFactory,
     "pooltag.txt: TpWo - nt!ex - Threadpool worker factory objects"},
}};

}  // namespace

std::span<const ObjectTagLink> object_tag_links() {
  return kLinks;
}

std::optional<HandleKind> handle_kind_for_tag(const PoolKey& key) {
  if (key.kind != KeyKind::kPoolTag) return std::nullopt;
  for (const ObjectTagLink& link : kLinks) {
    if (link.tag == key.name) return link.kind;
  }
  return std::nullopt;
}

}  // namespace poolscope::detect
