// KernelSymbols::at: the address lookup `trace` uses to name call sites.
#include <gtest/gtest.h>

#include "attrib/slab_owner.h"

namespace poolscope::attrib {
namespace {

TEST(KernelSymbolsAt, NearestTextSymbolAtOrBelowWithModule) {
  auto symbols = KernelSymbols::from_text(
      "ffffffff81000000 T _stext\n"
      "ffffffff81400000 T do_eventfd\n"
      "ffffffff81400100 t eventfd_read\n"
      "ffffffff81400080 d some_data\n"
      "ffffffffc0a01000 t ext4_alloc_inode\t[ext4]\n",
      "test");
  ASSERT_TRUE(symbols);
  auto match = symbols->at(0xffffffff8140003c);
  ASSERT_TRUE(match);
  EXPECT_EQ(match->symbol.name, "do_eventfd");  // the data symbol between is not code
  EXPECT_EQ(match->offset, 0x3cu);
  EXPECT_EQ(match->symbol.module, "");
  match = symbols->at(0xffffffff81400090);
  ASSERT_TRUE(match);
  EXPECT_EQ(match->symbol.name, "do_eventfd");
  match = symbols->at(0xffffffffc0a01010);
  ASSERT_TRUE(match);
  EXPECT_EQ(match->symbol.name, "ext4_alloc_inode");
  EXPECT_EQ(match->symbol.module, "ext4");
  EXPECT_FALSE(symbols->at(0x1000));
}

TEST(KernelSymbolsAt, HiddenAddressesFindNothing) {
  auto symbols = KernelSymbols::from_text("0000000000000000 T do_eventfd\n", "test");
  ASSERT_TRUE(symbols);
  EXPECT_FALSE(symbols->at(0xffffffff8140003c));
}

}  // namespace
}  // namespace poolscope::attrib
