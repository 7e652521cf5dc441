#include <gtest/gtest.h>

#include "auth/OriginPolicy.h"

namespace parley::auth {
namespace {

TEST(OriginPolicy, ByDefaultOnlyThePagesOfThisHostMayConnect) {
  const OriginPolicy own;
  EXPECT_TRUE(own.allows("", "chat.example.com"));  // no Origin: not a browser page
  EXPECT_TRUE(own.allows("https://chat.example.com", "chat.example.com"));
  EXPECT_TRUE(own.allows("http://127.0.0.1:8000", "127.0.0.1:8000"));
  EXPECT_TRUE(own.allows("HTTPS://Chat.Example.COM", "chat.example.com"));
  EXPECT_FALSE(own.allows("http://127.0.0.1:8001", "127.0.0.1:8000"));
  EXPECT_FALSE(own.allows("https://chat.example.com.evil.example", "chat.example.com"));
  EXPECT_FALSE(own.allows("https://evil.example/chat.example.com", "chat.example.com"));
  EXPECT_FALSE(own.allows("null", "chat.example.com"));
  EXPECT_FALSE(own.allows("file://", ""));
  EXPECT_FALSE(own.allows("https://chat.example.com", ""));  // no Host: nothing to compare
}

TEST(OriginPolicy, ListedOriginsReplaceTheHostRule) {
  const OriginPolicy listed({"https://chat.example.com/", "http://localhost:5173"});
  EXPECT_TRUE(listed.allows("https://chat.example.com", "10.0.0.5:8000"));
  EXPECT_TRUE(listed.allows("http://LOCALHOST:5173", "10.0.0.5:8000"));
  EXPECT_FALSE(listed.allows("http://10.0.0.5:8000", "10.0.0.5:8000"));
  EXPECT_FALSE(listed.allows("http://chat.example.com", "chat.example.com"));  // scheme differs
  EXPECT_TRUE(listed.allows("", "anything"));
}

TEST(OriginPolicy, AStarAllowsEveryOrigin) {
  const OriginPolicy any({"*"});
  EXPECT_TRUE(any.allows("https://anywhere.example", "chat.example.com"));
  EXPECT_TRUE(any.allows("null", ""));
}

}  // namespace
}  // namespace parley::auth
