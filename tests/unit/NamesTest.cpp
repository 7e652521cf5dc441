#include <gtest/gtest.h>

#include <string>

#include "chat/Names.h"

namespace parley::chat {
namespace {

TEST(RoomName, AcceptsTheDocumentedSet) {
  EXPECT_EQ(roomNameError("general"), nullptr);
  EXPECT_EQ(roomNameError("Room-1_a.b~c"), nullptr);
  EXPECT_EQ(roomNameError(std::string(64, 'r')), nullptr);
}

TEST(RoomName, RefusesEverythingElse) {
  EXPECT_NE(roomNameError(""), nullptr);
  EXPECT_NE(roomNameError(std::string(65, 'r')), nullptr);
  EXPECT_NE(roomNameError("a b"), nullptr);
  EXPECT_NE(roomNameError("a/b"), nullptr);
  EXPECT_NE(roomNameError(std::string_view("a\0b", 3)), nullptr);
  EXPECT_NE(roomNameError("caf\xC3\xA9"), nullptr);
  EXPECT_NE(roomNameError("a?b"), nullptr);
}

TEST(Username, AcceptsUnicodeUpTo32Characters) {
  EXPECT_EQ(usernameError("Alice"), nullptr);
  EXPECT_EQ(usernameError("Zo\xC3\xAB Smith"), nullptr);  // inner space is fine
  std::string emoji32;
  for (int i = 0; i < 32; ++i) emoji32 += "\xF0\x9F\x98\x80";
  EXPECT_EQ(usernameError(emoji32), nullptr);
  EXPECT_NE(usernameError(emoji32 + "a"), nullptr);
}

TEST(Username, RefusesEmptyControlsBadUtf8AndOuterSpace) {
  EXPECT_NE(usernameError(""), nullptr);
  EXPECT_NE(usernameError(std::string(33, 'a')), nullptr);
  EXPECT_NE(usernameError("a\x01"), nullptr);
  EXPECT_NE(usernameError("a\x7f"), nullptr);
  EXPECT_NE(usernameError("a\xC2\x85"), nullptr);  // U+0085, a C1 control
  EXPECT_NE(usernameError(std::string_view("a\0", 2)), nullptr);
  EXPECT_NE(usernameError(" bob"), nullptr);
  EXPECT_NE(usernameError("bob "), nullptr);
  EXPECT_NE(usernameError("bob\xE3\x80\x80"), nullptr);  // ideographic space
  EXPECT_NE(usernameError("\xC3"), nullptr);             // truncated
  EXPECT_NE(usernameError("\xC0\xAF"), nullptr);         // overlong
  EXPECT_NE(usernameError("\xED\xA0\x80"), nullptr);     // surrogate
}

}  // namespace
}  // namespace parley::chat
