// No Windows drivers to search by default on Linux: `who` asks for --drivers DIR.
#include "attrib/driver_search.h"

namespace poolscope::attrib {

DriverSearch default_driver_search() {
  return {};
}

}  // namespace poolscope::attrib
