#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <random>
#include <string>
#include <vector>

#include "RedisServers.h"
#include "cluster/HashSlot.h"
#include "cluster/RedisConnection.h"

namespace parley::cluster {
namespace {

TEST(HashSlot, KnownValuesAndHashTags) {
  // The Redis Cluster specification's CRC16 check value is 0x31C3.
  EXPECT_EQ(hashSlot("123456789"), 0x31C3);
  EXPECT_EQ(hashSlot("foo"), 12182);
  EXPECT_EQ(hashSlot("bar"), 5061);
  EXPECT_EQ(hashSlot(""), 0);
  // Only the first non-empty {tag} counts.
  EXPECT_EQ(hashSlot("{user1000}.following"), hashSlot("user1000"));
  EXPECT_EQ(hashSlot("{user1000}.followers"), hashSlot("user1000"));
  EXPECT_EQ(hashSlot("foo{bar}{zap}"), hashSlot("bar"));
  EXPECT_EQ(hashSlot("foo{{bar}}zap"), hashSlot("{bar"));
  EXPECT_NE(hashSlot("foo{}{bar}"), hashSlot("bar"));
  EXPECT_EQ(hashSlot("{pb17}"), hashSlot("parley:room:{pb17}:lobby"));
}

// Against Redis itself: CLUSTER KEYSLOT for random keys full of braces, pipelined on one
// RedisConnection (which this also exercises: 2,000 replies matched in order).
TEST(HashSlot, AgreesWithClusterKeyslot) {
  // The cluster bus port is given: the default (port + 10000) may be past 65535 or taken.
  testing::RedisServer redis({"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                              "--cluster-port", std::to_string(testing::freePort())});
  boost::asio::io_context io;
  RedisConnection connection(io, {"127.0.0.1", redis.port()}, {}, {});
  connection.connect();
  std::mt19937 rng(7);
  const std::string alphabet = "ab{}{}xyz0123456789:";
  std::vector<std::string> keys;
  for (int i = 0; i < 2000; ++i) {
    std::string key;
    const int length = static_cast<int>(rng() % 12);
    for (int k = 0; k < length; ++k) key += alphabet[rng() % alphabet.size()];
    keys.push_back(key);
  }
  keys.push_back("{pb0}");
  keys.push_back("\xff\x80{\x01}");
  std::size_t answered = 0;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    connection.send({"CLUSTER", "KEYSLOT", keys[i]}, [&, i](RedisReply r) {
      ASSERT_EQ(r.kind, RedisReply::Kind::Integer) << r.text;
      EXPECT_EQ(r.integer, hashSlot(keys[i])) << "key \"" << keys[i] << "\"";
      EXPECT_EQ(answered, i) << "replies out of order";
      ++answered;
    });
  }
  while (answered < keys.size() && io.run_one_for(std::chrono::seconds(5)) > 0) {
  }
  EXPECT_EQ(answered, keys.size());
}

}  // namespace
}  // namespace parley::cluster
