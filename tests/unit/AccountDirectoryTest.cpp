#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "auth/AccountDirectory.h"
#include "store/StoreConnection.h"

namespace parley::auth {
namespace {

namespace fs = std::filesystem;

TEST(AccountDirectory, HoldsWhatItIsGivenUpToItsCap) {
  AccountDirectory names(3);
  EXPECT_FALSE(names.hasName("alice"));  // empty: answered without folding or locking
  EXPECT_TRUE(names.add(store::accountKey("alice")));
  EXPECT_TRUE(names.add(store::accountKey("bob")));
  EXPECT_TRUE(names.add(store::accountKey("bob")));  // again: no room taken
  EXPECT_EQ(names.size(), 2u);
  EXPECT_TRUE(names.add(store::accountKey("carol")));
  EXPECT_TRUE(names.full());
  EXPECT_FALSE(names.add(store::accountKey("dave")));  // past the cap: not reserved, said so
  EXPECT_TRUE(names.add(store::accountKey("alice")));  // but one it has is still there
  EXPECT_TRUE(names.hasName("alice"));
  EXPECT_TRUE(names.hasName("CaRoL"));  // any case of an account's name
  EXPECT_TRUE(
      names.hasName("\xd0\xa1"
                    "arol"));                       // Cyrillic С: looks like Carol
  EXPECT_TRUE(names.hasName("Carol\xe2\x80\x8b"));  // with a zero-width space
  EXPECT_FALSE(names.hasName("dave"));
  EXPECT_FALSE(names.hasName("\xc3\x81lice"));  // an accent shows: another name
  EXPECT_EQ(names.size(), 3u);
}

TEST(AccountDirectory, LoadsEveryAccountOfAStoreInPages) {
  std::string dir = (fs::temp_directory_path() / "parley-names-XXXXXX").string();
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  {
    auto accounts = store::openStore("sqlite:" + dir + "/parley.db");
    for (int i = 0; i < 25; ++i) {
      const std::string name = "User" + std::to_string(i);
      bool created = false;
      ASSERT_TRUE(accounts->createAccount({store::accountKey(name), name, "h", 1}, created).ok);
    }
    AccountDirectory names;
    names.load(*accounts, 10);  // three pages, the last one short
    EXPECT_EQ(names.size(), 25u);
    EXPECT_TRUE(names.hasName("User0"));
    EXPECT_TRUE(names.hasName("user24"));
    EXPECT_FALSE(names.hasName("User25"));
    AccountDirectory capped(7);
    capped.load(*accounts, 10);
    EXPECT_EQ(capped.size(), 7u);
    EXPECT_TRUE(capped.full());
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace parley::auth
