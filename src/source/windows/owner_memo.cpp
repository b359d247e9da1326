// Windows: no memo (the OWNER column comes from pooltag.txt, which loads in milliseconds).
#include "source/owner_memo.h"

namespace poolscope {

std::optional<OwnerMemoLocation> owner_memo_location() {
  return std::nullopt;
}

}  // namespace poolscope
