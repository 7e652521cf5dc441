// RedisLink against a real Redis Cluster (three masters, three replicas on loopback): routing by
// slot, ASK and MOVED during and after a slot migration, sharded subscriptions following their
// slot, and (RedisClusterSlow) a master killed: refused for a few seconds, then served by the
// promoted replica.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "RedisServers.h"
#include "cluster/HashSlot.h"
#include "cluster/RedisLink.h"

namespace parley::cluster {
namespace {

using testing::call;
using testing::cli;
using testing::eventually;
using testing::RedisClusterServers;
using Clock = std::chrono::steady_clock;

struct Seen {
  std::mutex mutex;
  std::vector<std::string> messages;
  std::vector<std::string> subscribed;
  RedisLink::Handlers handlers() {
    RedisLink::Handlers h;
    h.message = [this](std::string_view, std::string_view p) {
      std::lock_guard lock(mutex);
      messages.emplace_back(p);
    };
    h.subscribed = [this](std::string_view c) {
      std::lock_guard lock(mutex);
      subscribed.emplace_back(c);
    };
    return h;
  }
  std::size_t subscribedCount() {
    std::lock_guard lock(mutex);
    return subscribed.size();
  }
  bool received(const std::string& payload) {
    std::lock_guard lock(mutex);
    return std::find(messages.begin(), messages.end(), payload) != messages.end();
  }
};

RedisLinkOptions optionsFor(RedisClusterServers& cluster, std::size_t seed = 0) {
  RedisLinkOptions o;
  o.seeds = {{"127.0.0.1", cluster.node(seed).port()}};
  o.connectTimeoutMs = 500;
  o.commandTimeoutMs = 1000;
  o.maxReconnectDelayMs = 500;
  return o;
}

class RedisCluster : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { cluster_ = new RedisClusterServers(); }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  static RedisClusterServers* cluster_;
};
RedisClusterServers* RedisCluster::cluster_ = nullptr;

TEST_F(RedisCluster, RoutesEveryKeyToItsSlotsMaster) {
  auto link = RedisLink::start(optionsFor(*cluster_, 4), {});  // seeded by a replica even
  EXPECT_TRUE(link->isCluster());
  ASSERT_TRUE(eventually([&] { return link->up(); }, 3000));
  std::set<std::size_t> masters;
  for (int i = 0; i < 300; ++i) {
    const std::string key = "route:" + std::to_string(i);
    ASSERT_EQ(call(*link, key, {"SET", key, std::to_string(i)}).text, "OK") << key;
  }
  for (int i = 0; i < 300; ++i) {
    const std::string key = "route:" + std::to_string(i);
    EXPECT_EQ(call(*link, key, {"GET", key}).text, std::to_string(i));
    if (i % 30 == 0) {  // behind the link's back: the key is on its slot's master
      const std::size_t m = cluster_->masterOf(hashSlot(key));
      masters.insert(m);
      EXPECT_EQ(cli(cluster_->node(m).port(), "get " + key), std::to_string(i) + "\n");
    }
  }
  EXPECT_EQ(masters.size(), 3u) << "the keys spread over the three masters";
  EXPECT_EQ(link->counts().moved, 0u) << "the slot map was right from the start";
  EXPECT_EQ(link->counts().asks, 0u);
}

// A slot migrated by hand, as redis-cli --cluster reshard does it: while it is MIGRATING a new
// key is ASKed to the target; afterwards the old map gets MOVED and is refreshed; the sharded
// subscription in that slot is dropped by the source (sunsubscribe) and made again on the target.
TEST_F(RedisCluster, FollowsAskAndMovedAndResubscribesAfterASlotMigration) {
  Seen seen;
  auto link = RedisLink::start(optionsFor(*cluster_), seen.handlers());
  ASSERT_TRUE(eventually([&] { return link->up(); }, 3000));
  const std::uint16_t slot = hashSlot("{mig}");
  const std::size_t source = cluster_->masterOf(slot);
  std::size_t target = source;
  for (std::size_t i = 0; i < cluster_->size(); ++i) {
    if (i == source) continue;
    if (cli(cluster_->node(i).port(), "role").rfind("master", 0) == 0) {
      target = i;
      break;
    }
  }
  ASSERT_NE(target, source);
  link->subscribe("{mig}:chan");
  ASSERT_TRUE(eventually([&] { return seen.subscribedCount() == 1; }, 3000));
  ASSERT_EQ(call(*link, "{mig}:old", {"SET", "{mig}:old", "v"}).text, "OK");
  // A second link with no subscription: nothing tells it of the move but a MOVED reply (the
  // first one learns it from the sunsubscribe push too).
  auto plain = RedisLink::start(optionsFor(*cluster_, 1), {});
  ASSERT_TRUE(eventually([&] { return plain->up(); }, 3000));

  const std::string sourceId = cluster_->id(source), targetId = cluster_->id(target);
  const std::string slotText = std::to_string(slot);
  const std::uint16_t sourcePort = cluster_->node(source).port();
  const std::uint16_t targetPort = cluster_->node(target).port();
  ASSERT_EQ(cli(targetPort, "cluster setslot " + slotText + " importing " + sourceId), "OK\n");
  ASSERT_EQ(cli(sourcePort, "cluster setslot " + slotText + " migrating " + targetId), "OK\n");
  // Not on the source any more (never was): ASK, then ASKING + SET on the target.
  EXPECT_EQ(call(*link, "{mig}:new", {"SET", "{mig}:new", "n"}).text, "OK");
  EXPECT_GE(link->counts().asks, 1u);
  ASSERT_EQ(cli(sourcePort,
                "migrate 127.0.0.1 " + std::to_string(targetPort) + " \"\" 0 5000 keys {mig}:old"),
            "OK\n");
  for (std::size_t i = 0; i < cluster_->size(); ++i)
    if (cli(cluster_->node(i).port(), "role").rfind("master", 0) == 0)
      cli(cluster_->node(i).port(), "cluster setslot " + slotText + " node " + targetId);

  EXPECT_EQ(call(*plain, "{mig}:old", {"GET", "{mig}:old"}).text, "v");
  EXPECT_EQ(plain->counts().moved, 1u) << "one MOVED, then the refreshed map";
  EXPECT_EQ(call(*plain, "{mig}:new", {"GET", "{mig}:new"}).text, "n");
  EXPECT_EQ(call(*link, "{mig}:old", {"GET", "{mig}:old"}).text, "v");
  EXPECT_EQ(call(*link, "{mig}:new", {"GET", "{mig}:new"}).text, "n");
  // The source let the subscription go when it lost the slot; it is made again on the target.
  ASSERT_TRUE(eventually([&] { return seen.subscribedCount() == 2; }, 5000));
  EXPECT_EQ(call(*plain, "{mig}:chan", {"SPUBLISH", "{mig}:chan", "moved"}).integer, 1);
  EXPECT_TRUE(eventually([&] { return seen.received("moved"); }, 2000));
}

// kill -9 of a master (cluster-node-timeout 1000 ms): commands to its slots are refused (LINK
// errors or CLUSTERDOWN, at once, never hanging) for a few seconds, then succeed on the promoted
// replica; the sharded subscription in its slots is made again there.
TEST(RedisClusterSlow, MasterKilledThenServedByThePromotedReplica) {
  RedisClusterServers cluster;
  Seen seen;
  auto link = RedisLink::start(optionsFor(cluster), seen.handlers());
  ASSERT_TRUE(eventually([&] { return link->up(); }, 3000));
  const std::uint16_t slot = hashSlot("{fo}");
  std::size_t dead = cluster.masterOf(slot);
  std::size_t witness = (dead + 1) % cluster.size();
  link->subscribe("{fo}:chan");
  ASSERT_TRUE(eventually([&] { return seen.subscribedCount() == 1; }, 3000));
  ASSERT_EQ(call(*link, "{fo}:k", {"SET", "{fo}:k", "0"}).text, "OK");
  // Other slots keep working throughout; pick a key on another master.
  std::string other = "other:0";
  for (int i = 0; cluster.masterOf(hashSlot(other), witness) == dead; ++i)
    other = "other:" + std::to_string(i);

  cluster.node(dead).kill9();
  const auto t0 = Clock::now();
  int refused = 0;
  Clock::duration firstSuccess{};
  Clock::duration longestCall{};
  for (int i = 1; Clock::now() - t0 < std::chrono::seconds(15); ++i) {
    const auto c0 = Clock::now();
    const RedisReply r = call(*link, "{fo}:k", {"SET", "{fo}:k", std::to_string(i)});
    longestCall = std::max(longestCall, Clock::now() - c0);
    if (r.error()) {
      ++refused;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    firstSuccess = Clock::now() - t0;
    break;
  }
  const double seconds = std::chrono::duration<double>(firstSuccess).count();
  std::printf(
      "[ figures  ] master killed: writes to its slots refused %d times, served again "
      "after %.2f s; longest single call %.0f ms\n",
      refused, seconds, std::chrono::duration<double, std::milli>(longestCall).count());
  ASSERT_GT(firstSuccess.count(), 0) << "never served again";
  EXPECT_GT(refused, 0);
  EXPECT_LT(seconds, 10.0);
  EXPECT_LE(longestCall, std::chrono::milliseconds(1300))
      << "a refusal never hangs past the timeout";
  const std::size_t promoted = cluster.masterOf(slot, witness);
  EXPECT_NE(promoted, dead);
  EXPECT_EQ(call(*link, other, {"SET", other, "x"}).text, "OK");
  ASSERT_TRUE(eventually([&] { return seen.subscribedCount() >= 2; }, 5000));
  auto publisher = RedisLink::start(optionsFor(cluster, witness), {});
  EXPECT_EQ(call(*publisher, "{fo}:chan", {"SPUBLISH", "{fo}:chan", "after"}).integer, 1);
  EXPECT_TRUE(eventually([&] { return seen.received("after"); }, 2000));
  EXPECT_TRUE(eventually([&] { return link->up(); }, 3000)) << "the dead master left the map";
}

}  // namespace
}  // namespace parley::cluster
