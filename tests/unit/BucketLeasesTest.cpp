// BucketLeases with two and three instances on one real redis-server: every bucket held by
// exactly one, a crashed (kill -9) or stopped instance's buckets taken over, hand-over to a
// newcomer without overlap, and holds() false before a lease could lapse when Redis dies.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "RedisServers.h"
#include "cluster/BucketLeases.h"
#include "cluster/HashSlot.h"
#include "cluster/RedisLink.h"

namespace parley::cluster {
namespace {

using testing::eventually;
using testing::RedisServer;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kBuckets = 32;

LeaseOptions leaseOptions(std::string id) {
  LeaseOptions o;
  o.instanceId = std::move(id);
  o.buckets = kBuckets;
  o.leaseMs = 1500;  // valid 500 ms after each renewal (margin 1000 ms)
  o.heartbeatMs = 100;
  o.instanceTtlMs = 500;
  return o;
}

RedisLinkOptions linkOptions(const RedisServer& redis) {
  RedisLinkOptions o;
  o.seeds = {{"127.0.0.1", redis.port()}};
  o.connectTimeoutMs = 300;
  o.commandTimeoutMs = 500;
  o.maxReconnectDelayMs = 200;
  return o;
}

// One instance: its own link (as a real one has) and its leases, with the events it got.
struct Instance {
  std::unique_ptr<RedisLink> link;
  std::unique_ptr<BucketLeases> leases;
  std::mutex mutex;
  int gained = 0, lost = 0;
  std::vector<std::string> gone;

  Instance(const RedisServer& redis, std::string id) {
    link = RedisLink::start(linkOptions(redis), {});
    BucketLeases::Events e;
    e.ownership = [this](std::size_t, bool held) {
      std::lock_guard lock(mutex);
      ++(held ? gained : lost);
    };
    e.instancesGone = [this](std::vector<std::string> g) {
      std::lock_guard lock(mutex);
      gone.insert(gone.end(), g.begin(), g.end());
    };
    leases = std::make_unique<BucketLeases>(*link, leaseOptions(std::move(id)), e);
    leases->start();
  }
  ~Instance() {
    leases.reset();  // before its link
  }
  std::size_t held() const {
    std::size_t n = 0;
    for (std::size_t b = 0; b < kBuckets; ++b) n += leases->holds(b);
    return n;
  }
};

// Every bucket held by exactly one of `instances`, and everyone agrees who.
bool exactlyOnce(const std::vector<Instance*>& instances) {
  for (std::size_t b = 0; b < kBuckets; ++b) {
    std::string holder;
    int holders = 0;
    for (Instance* i : instances) {
      if (i->leases->holds(b)) {
        ++holders;
        holder = i->leases->instanceId();
      }
    }
    if (holders != 1) return false;
    for (Instance* i : instances)
      if (i->leases->owner(b) != holder || i->leases->ownerOrPreferred(b) != holder) return false;
  }
  return true;
}

TEST(BucketLeases, RefusesOptionsThatCannotWork) {
  RedisServer redis;
  auto link = RedisLink::start(linkOptions(redis), {});
  LeaseOptions o = leaseOptions("a");
  o.heartbeatMs = 300;  // 500 ms of validity is less than two heartbeats
  EXPECT_THROW(BucketLeases(*link, o, {}), std::invalid_argument);
  o = leaseOptions("");
  EXPECT_THROW(BucketLeases(*link, o, {}), std::invalid_argument);
  o = leaseOptions("a");
  o.buckets = 0;
  EXPECT_THROW(BucketLeases(*link, o, {}), std::invalid_argument);
}

TEST(BucketLeases, BucketsAndTagsAreTheSameEverywhereAndSpreadOverSlots) {
  RedisServer redis;
  auto link = RedisLink::start(linkOptions(redis), {});
  LeaseOptions o = leaseOptions("a");
  o.buckets = 256;
  BucketLeases a(*link, o, {});
  o.instanceId = "b";
  BucketLeases b(*link, o, {});
  std::set<std::size_t> used;
  for (int i = 0; i < 5000; ++i) {
    const std::string room = "room-" + std::to_string(i);
    ASSERT_EQ(a.bucketOf(room), b.bucketOf(room));
    used.insert(a.bucketOf(room));
  }
  EXPECT_EQ(used.size(), 256u);
  EXPECT_EQ(a.tag(17), "{pb17}");
  std::set<std::uint16_t> slots;
  for (std::size_t i = 0; i < 256; ++i) slots.insert(hashSlot(a.tag(i)));
  EXPECT_EQ(slots.size(), 256u) << "every bucket's keys and channels on a slot of its own";
  EXPECT_EQ(BucketLeases::rendezvous("a", 3), BucketLeases::rendezvous("a", 3));
  EXPECT_NE(BucketLeases::rendezvous("a", 3), BucketLeases::rendezvous("b", 3));
}

TEST(BucketLeases, TwoInstancesHoldEveryBucketExactlyOnce) {
  RedisServer redis;
  Instance a(redis, "alpha"), b(redis, "beta");
  ASSERT_TRUE(eventually([&] { return exactlyOnce({&a, &b}); }, 3000));
  EXPECT_GT(a.held(), 0u);
  EXPECT_GT(b.held(), 0u);
  EXPECT_EQ(a.held() + b.held(), kBuckets);
  EXPECT_EQ(a.leases->live(), (std::vector<std::string>{"alpha", "beta"}));
  // Each holds what the rendezvous hash prefers for it, and says so in Redis.
  auto check = RedisLink::start(linkOptions(redis), {});
  for (std::size_t bucket = 0; bucket < kBuckets; ++bucket) {
    const bool alpha =
        BucketLeases::rendezvous("alpha", bucket) > BucketLeases::rendezvous("beta", bucket);
    EXPECT_EQ(a.leases->holds(bucket), alpha) << bucket;
    const std::string key = "parley:lease:" + a.leases->tag(bucket);
    EXPECT_EQ(testing::call(*check, key, {"GET", key}).text, alpha ? "alpha" : "beta");
  }
  // Steady: the leases are renewed, nothing changes hands.
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  EXPECT_TRUE(exactlyOnce({&a, &b}));
  std::lock_guard lock(a.mutex);
  EXPECT_EQ(a.lost, 0);
  EXPECT_EQ(a.gained, static_cast<int>(a.held()));
}

// A newcomer gets the buckets it is preferred for; at no sampled moment do two instances both
// hold a bucket (the old holder lets go before the newcomer can take it).
TEST(BucketLeases, HandOverToANewcomerWithoutOverlap) {
  RedisServer redis;
  Instance a(redis, "alpha");
  ASSERT_TRUE(eventually([&] { return a.held() == kBuckets; }, 3000));
  Instance b(redis, "beta");
  const auto t0 = Clock::now();
  int overlaps = 0;
  bool settled = false;
  while (Clock::now() - t0 < std::chrono::seconds(4)) {
    for (std::size_t bucket = 0; bucket < kBuckets; ++bucket)
      if (a.leases->holds(bucket) && b.leases->holds(bucket)) ++overlaps;
    if (exactlyOnce({&a, &b}) && b.held() > 0) {
      settled = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(settled);
  EXPECT_EQ(overlaps, 0);
  std::printf("[ figures  ] hand-over to a newcomer: %.2f s, %zu of %zu buckets moved\n",
              std::chrono::duration<double>(Clock::now() - t0).count(), b.held(), kBuckets);
}

// Three instances, one of them in a child process: kill -9 of the child (its leases and heartbeat
// stay in Redis until they lapse) and the two others take its buckets within the lease + a few
// ticks; then a clean stop() of one hands everything to the last.
TEST(BucketLeases, CrashedAndStoppedInstancesBucketsAreTakenOver) {
  RedisServer redis;
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    {
      Instance c(redis, "gamma");
      ::pause();  // until kill -9
    }
    ::_exit(0);
  }
  struct Reap {
    pid_t pid;
    ~Reap() {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  } reap{child};
  Instance a(redis, "alpha"), b(redis, "beta");
  const auto gammaHolds = [&] {
    std::size_t n = 0;
    for (std::size_t bucket = 0; bucket < kBuckets; ++bucket)
      n += a.leases->owner(bucket) == "gamma";
    return n;
  };
  ASSERT_TRUE(eventually(
      [&] {
        return gammaHolds() > 0 && a.held() + b.held() + gammaHolds() == kBuckets &&
               a.leases->live().size() == 3;
      },
      4000));
  ::kill(child, SIGKILL);
  const auto t0 = Clock::now();
  ASSERT_TRUE(eventually([&] { return exactlyOnce({&a, &b}); }, 6000));
  const double takeover = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf(
      "[ figures  ] kill -9 of an instance: its buckets taken over in %.2f s (lease 1.5 s, "
      "instance TTL 0.5 s)\n",
      takeover);
  EXPECT_LT(takeover, 1.5 + 1.0);
  {
    std::lock_guard lock(a.mutex);
    EXPECT_EQ(a.gone, std::vector<std::string>{"gamma"});
  }
  EXPECT_EQ(a.leases->live(), (std::vector<std::string>{"alpha", "beta"}));

  b.leases->stop();
  EXPECT_EQ(b.held(), 0u) << "stop() lets go at once";
  const auto t1 = Clock::now();
  ASSERT_TRUE(eventually([&] { return a.held() == kBuckets; }, 3000));
  std::printf("[ figures  ] stop() of an instance: its buckets taken over in %.2f s\n",
              std::chrono::duration<double>(Clock::now() - t1).count());
}

// Redis killed with leases held: holds() turns false within the validity (500 ms after the last
// renewal was sent), before the leases could lapse in Redis (1500 ms after it ran); after the
// restart the instance registers and takes its buckets again.
TEST(BucketLeases, HoldsTurnsFalseWhenRedisDiesBeforeTheLeaseCouldLapse) {
  RedisServer redis;
  Instance a(redis, "alpha");
  ASSERT_TRUE(eventually([&] { return a.held() == kBuckets; }, 3000));
  redis.kill9();
  const auto t0 = Clock::now();
  ASSERT_TRUE(eventually([&] { return a.held() == 0; }, 2000));
  const auto released = Clock::now() - t0;
  std::printf(
      "[ figures  ] Redis killed: holds() false after %.0f ms (validity 500 ms, lease "
      "1500 ms)\n",
      std::chrono::duration<double, std::milli>(released).count());
  EXPECT_LE(released, std::chrono::milliseconds(500 + 150));
  EXPECT_TRUE(eventually(
      [&] {
        std::lock_guard lock(a.mutex);
        return a.lost == static_cast<int>(kBuckets);
      },
      1000))
      << "an ownership(false) event for each";
  redis.start();
  EXPECT_TRUE(eventually([&] { return a.held() == kBuckets; }, 4000));
}

}  // namespace
}  // namespace parley::cluster
