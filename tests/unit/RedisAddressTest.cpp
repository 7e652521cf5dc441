#include <gtest/gtest.h>

#include <stdexcept>

#include "cluster/RedisAddress.h"

namespace parley::cluster {
namespace {

TEST(RedisAddress, ParsesListsWithAndWithoutTheScheme) {
  auto e = parseRedisAddresses("redis://127.0.0.1:7000,10.0.0.2:7001");
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0].host, "127.0.0.1");
  EXPECT_EQ(e[0].port, 7000);
  EXPECT_EQ(e[1].host, "10.0.0.2");
  EXPECT_EQ(e[1].port, 7001);

  e = parseRedisAddresses("redis://a:1, redis://b/");
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[1].host, "b");
  EXPECT_EQ(e[1].port, 6379) << "the port defaults to Redis's own";

  e = parseRedisAddresses("localhost");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].host, "localhost");
  EXPECT_EQ(e[0].port, 6379);

  e = parseRedisAddresses("redis://[::1]:6380,[fe80::1]");
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0].host, "::1");
  EXPECT_EQ(e[0].port, 6380);
  EXPECT_EQ(e[1].host, "fe80::1");
  EXPECT_EQ(toString(e[0]), "[::1]:6380");
  EXPECT_EQ(toString(RedisEndpoint{"h", 1}), "h:1");
}

TEST(RedisAddress, RefusesWhatItCannotUseWithAMessageNamingThePart) {
  const auto refused = [](const char* text, const char* fragment) {
    try {
      parseRedisAddresses(text);
      ADD_FAILURE() << text << " was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos)
          << text << ": " << e.what();
    }
  };
  refused("", "no Redis address");
  refused("redis://a:1,,b:2", "empty");
  refused("a:1,", "empty");
  refused("rediss://a:1", "rediss://");
  refused("http://a:1", "scheme");
  refused("redis://user:pw@a:1", "credentials");
  refused("redis://a:1/0", "path");
  refused("a:0", "port");
  refused("a:65536", "port");
  refused("a:12x", "port");
  refused("a:", "empty port");
  refused(":7000", "no host");
  refused("::1:7000", "brackets");
  refused("[::1", "unclosed");
  refused("[::1]x", "after the");
}

}  // namespace
}  // namespace parley::cluster
