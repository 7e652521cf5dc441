// RedisLink against one real redis-server: commands, pipelining order, timeouts, the bounded
// queue, reconnects after kill -9, sharded pub/sub and its resubscription.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "RedisServers.h"
#include "cluster/RedisLink.h"

namespace parley::cluster {
namespace {

using testing::call;
using testing::eventually;
using testing::RedisServer;
using Clock = std::chrono::steady_clock;

// What the handlers saw, for the tests to wait on.
struct Seen {
  std::mutex mutex;
  std::vector<std::pair<std::string, std::string>> messages;
  std::vector<std::string> subscribed;
  std::vector<bool> states;
  RedisLink::Handlers handlers() {
    RedisLink::Handlers h;
    h.message = [this](std::string_view c, std::string_view p) {
      std::lock_guard lock(mutex);
      messages.emplace_back(c, p);
    };
    h.subscribed = [this](std::string_view c) {
      std::lock_guard lock(mutex);
      subscribed.emplace_back(c);
    };
    h.state = [this](bool up) {
      std::lock_guard lock(mutex);
      states.push_back(up);
    };
    return h;
  }
  std::size_t subscribedCount(std::string_view channel) {
    std::lock_guard lock(mutex);
    return static_cast<std::size_t>(std::count(subscribed.begin(), subscribed.end(), channel));
  }
  std::size_t messageCount() {
    std::lock_guard lock(mutex);
    return messages.size();
  }
  bool sawState(bool up) {
    std::lock_guard lock(mutex);
    return std::find(states.begin(), states.end(), up) != states.end();
  }
};

RedisLinkOptions optionsFor(const RedisServer& redis) {
  RedisLinkOptions o;
  o.seeds = {{"127.0.0.1", redis.port()}};
  o.connectTimeoutMs = 500;
  o.commandTimeoutMs = 1000;
  o.maxReconnectDelayMs = 200;
  return o;
}

TEST(RedisLink, DetectsStandaloneAndAnswersCommands) {
  RedisServer redis;
  Seen seen;
  auto link = RedisLink::start(optionsFor(redis), seen.handlers());
  EXPECT_FALSE(link->isCluster());
  EXPECT_TRUE(eventually([&] { return link->up(); }, 2000));
  EXPECT_EQ(call(*link, "k", {"SET", "k", std::string("v\0w\r\n", 5)}).text, "OK");
  const RedisReply got = call(*link, "k", {"GET", "k"});
  EXPECT_EQ(got.kind, RedisReply::Kind::String);
  EXPECT_EQ(got.text, std::string("v\0w\r\n", 5)) << "binary-safe both ways";
  EXPECT_EQ(call(*link, "nothing", {"GET", "nothing"}).kind, RedisReply::Kind::Nil);
  EXPECT_EQ(call(*link, "n", {"INCRBY", "n", "41"}).integer, 41);
  const RedisReply err = call(*link, "k", {"INCR", "k"});
  EXPECT_TRUE(err.error());
  EXPECT_EQ(err.text.rfind("ERR", 0), 0u) << err.text;
  call(*link, "l", {"RPUSH", "l", "a", "b"});
  const RedisReply list = call(*link, "l", {"LRANGE", "l", "0", "-1"});
  ASSERT_EQ(list.kind, RedisReply::Kind::Array);
  ASSERT_EQ(list.elements.size(), 2u);
  EXPECT_EQ(list.elements[1].text, "b");
  EXPECT_EQ(call(*link, "", {"PING"}).text, "PONG") << "an empty key goes to any node";
  EXPECT_TRUE(seen.sawState(true));
}

TEST(RedisLink, StartFailsWhenNoSeedAnswers) {
  RedisLinkOptions o;
  o.seeds = {{"127.0.0.1", testing::freePort()}, {"127.0.0.1", testing::freePort()}};
  o.connectTimeoutMs = 300;
  const auto t0 = Clock::now();
  EXPECT_THROW(RedisLink::start(o, {}), std::runtime_error);
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(2));
}

// One thread's commands to one slot are answered in the order they were given; many in flight
// at once (pipelined) on one connection.
TEST(RedisLink, PipelinesInOrder) {
  RedisServer redis;
  auto link = RedisLink::start(optionsFor(redis), {});
  constexpr int kCommands = 50'000;
  std::atomic<int> answered{0};
  std::atomic<int> outOfOrder{0};
  std::promise<void> all;
  const auto t0 = Clock::now();
  for (int i = 0; i < kCommands; ++i) {
    link->command("list", {"RPUSH", "list", std::to_string(i)}, [&, i](RedisReply r) {
      // RPUSH answers the new length: i + 1 exactly when the pushes ran in order.
      if (r.kind != RedisReply::Kind::Integer || r.integer != i + 1) ++outOfOrder;
      if (answered.fetch_add(1) + 1 == kCommands) all.set_value();
    });
  }
  ASSERT_EQ(all.get_future().wait_for(std::chrono::seconds(30)), std::future_status::ready);
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_EQ(outOfOrder.load(), 0);
  std::printf("[ figures  ] %d pipelined RPUSH on one link: %.0f commands/s\n", kCommands,
              kCommands / seconds);
  EXPECT_EQ(link->counts().failed, 0u);
}

TEST(RedisLink, CommandsTimeOutWhenRedisHangsAndRecoverAfter) {
  RedisServer redis;
  RedisLinkOptions o = optionsFor(redis);
  o.commandTimeoutMs = 300;
  auto link = RedisLink::start(o, {});
  ASSERT_EQ(call(*link, "k", {"SET", "k", "1"}).text, "OK");
  redis.pause();
  const auto t0 = Clock::now();
  const RedisReply r = call(*link, "k", {"GET", "k"});
  const auto waited = Clock::now() - t0;
  redis.resume();
  EXPECT_TRUE(r.error());
  EXPECT_EQ(r.text.rfind("LINK timeout", 0), 0u) << r.text;
  EXPECT_GE(waited, std::chrono::milliseconds(250));
  EXPECT_LT(waited, std::chrono::milliseconds(1500));
  // The connection was dropped (a pipelined reply cannot be skipped) and is made again.
  EXPECT_TRUE(eventually([&] { return call(*link, "k", {"GET", "k"}).text == "1"; }, 3000));
}

TEST(RedisLink, FailsAtOnceBeyondItsBound) {
  RedisServer redis;
  RedisLinkOptions o = optionsFor(redis);
  o.maxPendingCommands = 10;
  auto link = RedisLink::start(o, {});
  redis.pause();  // nothing is answered: the first ten wait, the rest are refused at once
  std::atomic<int> full{0}, other{0};
  for (int i = 0; i < 50; ++i)
    link->command("k", {"GET", "k"}, [&](RedisReply r) {
      ++(r.text.rfind("LINK queue full", 0) == 0 ? full : other);
    });
  EXPECT_TRUE(eventually([&] { return full.load() == 40; }, 1000));
  redis.resume();
  EXPECT_TRUE(eventually([&] { return other.load() == 10; }, 3000));
}

TEST(RedisLink, DestroyingTheLinkAnswersWhatIsPending) {
  RedisServer redis;
  auto link = RedisLink::start(optionsFor(redis), {});
  redis.pause();
  std::atomic<int> errors{0};
  for (int i = 0; i < 20; ++i)
    link->command("k", {"GET", "k"}, [&](RedisReply r) {
      if (r.error() && r.text.rfind("LINK ", 0) == 0) ++errors;
    });
  std::atomic<bool> ran{false};
  link->after(10'000, [&] { ran = true; });
  link.reset();
  redis.resume();
  EXPECT_EQ(errors.load(), 20);
  EXPECT_FALSE(ran.load()) << "timers are dropped at shutdown";
}

TEST(RedisLink, AfterRunsOnTheLinkThread) {
  RedisServer redis;
  auto link = RedisLink::start(optionsFor(redis), {});
  std::promise<std::thread::id> timerThread, replyThread;
  const auto t0 = Clock::now();
  link->after(50, [&] { timerThread.set_value(std::this_thread::get_id()); });
  link->command("", {"PING"},
                [&](RedisReply) { replyThread.set_value(std::this_thread::get_id()); });
  const auto a = timerThread.get_future().get();
  EXPECT_GE(Clock::now() - t0, std::chrono::milliseconds(45));
  EXPECT_EQ(a, replyThread.get_future().get());
  EXPECT_NE(a, std::this_thread::get_id());
}

// kill -9 and restart: commands fail with LINK errors while Redis is away (at once, not after a
// timeout), `state` says down then up, and the link comes back by itself.
TEST(RedisLink, ReconnectsAfterKillAndRestart) {
  RedisServer redis;
  Seen seen;
  auto link = RedisLink::start(optionsFor(redis), seen.handlers());
  ASSERT_TRUE(eventually([&] { return link->up(); }, 2000));
  ASSERT_EQ(call(*link, "k", {"SET", "k", "1"}).text, "OK");
  redis.kill9();
  ASSERT_TRUE(eventually([&] { return !link->up(); }, 2000));
  EXPECT_TRUE(seen.sawState(false));
  for (int i = 0; i < 5; ++i) {
    const auto t0 = Clock::now();
    const RedisReply r = call(*link, "k", {"GET", "k"});
    EXPECT_TRUE(r.error());
    EXPECT_EQ(r.text.rfind("LINK ", 0), 0u) << r.text;
    EXPECT_LT(Clock::now() - t0, std::chrono::milliseconds(600)) << r.text;
  }
  redis.start();
  ASSERT_TRUE(eventually([&] { return link->up(); }, 3000));
  {
    std::lock_guard lock(seen.mutex);
    ASSERT_GE(seen.states.size(), 3u);
    EXPECT_TRUE(seen.states.back());
  }
  EXPECT_EQ(call(*link, "k", {"SET", "k", "2"}).text, "OK");
  EXPECT_GE(link->counts().reconnects, 1u);
  EXPECT_GE(link->counts().failed, 5u);
}

TEST(RedisLink, ShardedPubSubInOrderAndUnsubscribe) {
  RedisServer redis;
  Seen seen;
  auto subscriber = RedisLink::start(optionsFor(redis), seen.handlers());
  auto publisher = RedisLink::start(optionsFor(redis), {});
  subscriber->subscribe("parley:room:{pb1}:a");
  subscriber->subscribe("parley:room:{pb1}:a");  // idempotent
  ASSERT_TRUE(eventually([&] { return seen.subscribedCount("parley:room:{pb1}:a") == 1; }, 2000));
  constexpr int kMessages = 2000;
  for (int i = 0; i < kMessages; ++i)
    publisher->publish("parley:room:{pb1}:a", std::to_string(i), nullptr);
  ASSERT_TRUE(eventually([&] { return seen.messageCount() == kMessages; }, 5000));
  {
    std::lock_guard lock(seen.mutex);
    for (int i = 0; i < kMessages; ++i) {
      ASSERT_EQ(seen.messages[i].first, "parley:room:{pb1}:a");
      ASSERT_EQ(seen.messages[i].second, std::to_string(i)) << "publish order kept";
    }
  }
  EXPECT_EQ(
      call(*publisher, "parley:room:{pb1}:a", {"SPUBLISH", "parley:room:{pb1}:a", "x"}).integer, 1);
  // (Redis counted a receiver once the message was on the subscriber's socket; the link's own
  // count follows when its thread has read it.)
  EXPECT_TRUE(eventually([&] { return subscriber->counts().messages == kMessages + 1u; }, 2000));
  subscriber->unsubscribe("parley:room:{pb1}:a");
  EXPECT_TRUE(eventually(
      [&] {
        std::promise<RedisReply> p;
        publisher->publish("parley:room:{pb1}:a", "y", [&](RedisReply r) { p.set_value(r); });
        return p.get_future().get().integer == 0;
      },
      2000))
      << "nobody receives after SUNSUBSCRIBE";
}

// One hop: SPUBLISH on one link to the handler of another, on an idle machine-ish.
TEST(RedisLink, PubSubHopLatency) {
  RedisServer redis;
  std::mutex mutex;
  std::condition_variable cv;
  Clock::time_point got;
  bool arrived = false;
  RedisLink::Handlers h;
  h.message = [&](std::string_view, std::string_view) {
    std::lock_guard lock(mutex);
    got = Clock::now();
    arrived = true;
    cv.notify_all();
  };
  std::atomic<int> subscribed{0};
  h.subscribed = [&](std::string_view) { ++subscribed; };
  auto subscriber = RedisLink::start(optionsFor(redis), h);
  auto publisher = RedisLink::start(optionsFor(redis), {});
  subscriber->subscribe("hop");
  ASSERT_TRUE(eventually([&] { return subscribed.load() == 1; }, 2000));
  std::vector<double> micros;
  for (int i = 0; i < 400; ++i) {
    std::unique_lock lock(mutex);
    arrived = false;
    const auto t0 = Clock::now();
    publisher->publish("hop", std::string(150, 'x'), nullptr);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(2), [&] { return arrived; }));
    micros.push_back(std::chrono::duration<double, std::micro>(got - t0).count());
  }
  std::sort(micros.begin(), micros.end());
  std::printf("[ figures  ] pub/sub hop (150 B, link to link): p50 %.0f us, p99 %.0f us\n",
              micros[micros.size() / 2], micros[micros.size() * 99 / 100]);
}

// After kill -9 and restart the subscription is made again, `subscribed` says so, and messages
// flow again; what was published while it was down is lost (the caller fills from its store).
TEST(RedisLink, ResubscribesAfterRestart) {
  RedisServer redis;
  Seen seen;
  auto subscriber = RedisLink::start(optionsFor(redis), seen.handlers());
  subscriber->subscribe("c1");
  subscriber->subscribe("c2");
  ASSERT_TRUE(eventually(
      [&] { return seen.subscribedCount("c1") == 1 && seen.subscribedCount("c2") == 1; }, 2000));
  redis.kill9();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  redis.start();
  ASSERT_TRUE(eventually(
      [&] { return seen.subscribedCount("c1") == 2 && seen.subscribedCount("c2") == 2; }, 4000));
  auto publisher = RedisLink::start(optionsFor(redis), {});
  EXPECT_EQ(call(*publisher, "c2", {"SPUBLISH", "c2", "after"}).integer, 1);
  ASSERT_TRUE(eventually([&] { return seen.messageCount() == 1; }, 2000));
  std::lock_guard lock(seen.mutex);
  EXPECT_EQ(seen.messages[0].second, "after");
}

}  // namespace
}  // namespace parley::cluster
