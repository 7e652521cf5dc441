// The hub on simulated shards: each shard is a FIFO task queue, and a seeded random scheduler
// picks which shard runs next, so many interleavings of posts between shards are exercised,
// repeatably. With a store, the real SQLite store and its writer/reader threads take part.
// Members are real conversations (chat/Conversation), so the hold-and-drop rule at the catch-up
// seam under test is the one the server runs; only their transport is a recorder.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <chrono>
#include <deque>
#include <filesystem>
#include <limits>
#include <mutex>
#include <random>
#include <thread>

#include "auth/TokenService.h"
#include "chat/Conversation.h"
#include "chat/Hub.h"
#include "chat/MembershipBatcher.h"
#include "metrics/Metrics.h"
#include "store/StoreReader.h"
#include "store/StoreWriter.h"

namespace parley::chat {
namespace {

class SimulatedShards {
 public:
  explicit SimulatedShards(std::size_t n) : queues_(n) {}

  void post(std::size_t shard, std::function<void()> task) {
    std::lock_guard lock(mutex_);
    queues_[shard].push_back(std::move(task));
  }

  // Runs one task of a randomly chosen shard that has work; false when all are empty.
  bool runOne(std::mt19937& rng) {
    std::function<void()> task;
    {
      std::lock_guard lock(mutex_);
      std::vector<std::size_t> busy;
      for (std::size_t i = 0; i < queues_.size(); ++i)
        if (!queues_[i].empty()) busy.push_back(i);
      if (busy.empty()) return false;
      auto& q = queues_[busy[rng() % busy.size()]];
      task = std::move(q.front());
      q.pop_front();
    }
    task();
    return true;
  }
  void runAll(std::mt19937& rng) {
    while (runOne(rng)) {
    }
  }

 private:
  std::mutex mutex_;
  std::vector<std::deque<std::function<void()>>> queues_;
};

// "prefix" + number without operator+ on a temporary: g++ 12 warns falsely (-Wrestrict,
// GCC bug 105329) on that pattern at -O2.
std::string numbered(std::string prefix, int n) {
  prefix.append(std::to_string(n));
  return prefix;
}

// One JSON document per line: a join/leave batch is frames back to back, as on the wire.
Frame encode(std::string_view json, std::uint64_t id) {
  std::string line(json);
  line.push_back('\n');
  return std::make_shared<const WireFrame>(WireFrame{std::move(line), id, {}});
}

// No timer in a simulated loop: tests flush batches themselves (flushBatches).
void noWake(std::size_t, std::int64_t) {}

std::int64_t fakeClock() { return 1758122625123; }
// The batches' clock: tests set it.
std::int64_t steadyNow = 1'000'000;
std::int64_t testSteady() { return steadyNow; }

// A hub on `loop`'s shards. No timer runs here: batches leave when a test calls flushBatches
// (or `wake` records when the hub asks for one).
Hub makeHub(SimulatedShards& loop, std::size_t shards, store::StoreWriter* writer = nullptr,
            store::StoreReader* reader = nullptr, HubOptions options = {},
            HubEnvironment::WakeFn wake = &noWake) {
  HubEnvironment env;
  env.shardCount = shards;
  env.post = [&loop](std::size_t s, std::function<void()> t) { loop.post(s, std::move(t)); };
  env.wake = std::move(wake);
  env.encode = &encode;
  env.unixClock = &fakeClock;
  env.steadyClock = &testSteady;
  env.writer = writer;
  env.reader = reader;
  env.options = options;
  return Hub(std::move(env));
}

// What the conversations of each simulated shard share, as each Shard of the server makes it
// (no message rate limit: the tests send faster than a person).
class ShardContexts {
 public:
  ShardContexts(Hub& hub, std::size_t shards) {
    for (std::size_t i = 0; i < shards; ++i)
      contexts_.push_back(ConversationContext{hub, i, metrics_, tokens_, ConversationOptions{{}, 0},
                                              &encode, &testSteady, &fakeClock});
  }
  ShardContexts(const ShardContexts&) = delete;
  ShardContexts& operator=(const ShardContexts&) = delete;
  ConversationContext& operator[](std::size_t shard) { return contexts_[shard]; }

 private:
  metrics::Metrics metrics_;
  auth::TokenService tokens_{std::string(32, 's'), 3600};
  std::deque<ConversationContext> contexts_;
};

// One connection in one room: the real Conversation over a transport that records what it is
// asked to send (the catch-up's frames, then what the conversation lets through).
class TestMember final : public Transport, public std::enable_shared_from_this<TestMember> {
 public:
  TestMember(std::string name, std::string room)
      : conversation_(*this, std::move(name), std::move(room)) {}
  const std::string& username() const { return conversation_.username(); }
  // Not caught up yet: from its creation (a join may still be on its way to its shard) until
  // its catch-up has been sent.
  bool catchingUp() const { return !started_ || conversation_.holdsWrites(); }

  void join(ConversationContext& context, std::optional<std::uint64_t> since = std::nullopt) {
    started_ = true;
    conversation_.start(context, since);
  }
  void leave(ConversationContext& context) { conversation_.end(context); }
  // A chat message, as the client sends it (contents here need no JSON escaping).
  void say(ConversationContext& context, const std::string& content) {
    conversation_.onText(context, R"({"content":")" + content + R"("})");
  }

  void send(const Frame& frame) override { record(frame->bytes); }
  bool canHold(std::size_t) override { return true; }
  void sendCatchUp(std::span<const Frame> frames) override {
    for (const auto& f : frames) record(f->bytes);
  }
  void close(std::uint16_t, const char*) override { ADD_FAILURE() << "closed"; }
  std::shared_ptr<void> lifetime() override { return shared_from_this(); }

  // Ids of chat messages seen, from history frames and live frames, in order.
  std::vector<std::uint64_t> ids;
  std::vector<std::string> contents;
  std::vector<std::string> typing;  // "user:state"
  // Live room events in the order seen: "join:u", "leave:u", "msg:content".
  std::vector<std::string> events;

 private:
  void record(const std::string& bytes) {
    for (std::size_t at = 0, end; (end = bytes.find('\n', at)) != std::string::npos; at = end + 1)
      recordOne(std::string_view(bytes).substr(at, end - at));
  }
  void recordOne(std::string_view json) {
    auto v = boost::json::parse(json).as_object();
    const auto type = v.at("type").as_string();
    auto take = [this](const boost::json::object& m) {
      ids.push_back(static_cast<std::uint64_t>(m.at("id").as_int64()));
      contents.emplace_back(m.at("content").as_string());
    };
    if (type == "message") take(v);
    if (type == "history")
      for (auto& m : v.at("messages").as_array()) take(m.as_object());
    if (type == "typing")
      typing.push_back(std::string(v.at("username").as_string()) + ":" +
                       (v.at("state").as_bool() ? "true" : "false"));
    if (type == "message") events.push_back("msg:" + std::string(v.at("content").as_string()));
    if (type == "join" || type == "leave")
      events.push_back(std::string(type) + ":" + std::string(v.at("username").as_string()));
  }

  Conversation conversation_;
  bool started_ = false;
};

struct Placed {
  std::shared_ptr<TestMember> member;
  std::size_t shard;
};

TEST(Hub, EveryMemberOnEveryShardSeesTheSameGaplessOrder) {
  for (unsigned seed = 1; seed <= 20; ++seed) {
    constexpr std::size_t kShards = 3;
    SimulatedShards loop(kShards);
    Hub hub = makeHub(loop, kShards);
    ShardContexts cx(hub, kShards);
    std::mt19937 rng(seed);
    std::vector<Placed> members;
    for (int i = 0; i < 6; ++i) {
      auto m = std::make_shared<TestMember>(numbered("u", i), "room");
      const std::size_t shard = static_cast<std::size_t>(i) % kShards;
      loop.post(shard, [&cx, m, shard] { m->join(cx[shard]); });
      members.push_back({m, shard});
    }
    loop.runAll(rng);
    // Each member sends 20 messages from its own shard, interleaved at random.
    for (int k = 0; k < 20; ++k)
      for (auto& p : members)
        loop.post(p.shard, [&cx, p, k] {
          p.member->say(cx[p.shard], numbered(p.member->username() + "#", k));
        });
    loop.runAll(rng);
    for (auto& p : members) {
      ASSERT_EQ(p.member->ids.size(), 120u) << "seed " << seed;
      for (std::size_t i = 0; i < 120; ++i) ASSERT_EQ(p.member->ids[i], i + 1) << "seed " << seed;
      EXPECT_EQ(p.member->contents, members[0].member->contents) << "seed " << seed;
    }
    for (auto& p : members) p.member->leave(cx[p.shard]);
    loop.runAll(rng);
    EXPECT_EQ(hub.roomCount(), 0u);
  }
}

TEST(Hub, TypingSkipsTheTypersOwnConnectionsAndEndsWithAMessage) {
  SimulatedShards loop(2);
  Hub hub = makeHub(loop, 2);
  ShardContexts cx(hub, 2);
  std::mt19937 rng(7);
  auto alice1 = std::make_shared<TestMember>("alice", "r");
  auto alice2 = std::make_shared<TestMember>("alice", "r");
  auto bob = std::make_shared<TestMember>("bob", "r");
  alice1->join(cx[0]);
  alice2->join(cx[1]);
  bob->join(cx[1]);
  loop.runAll(rng);
  hub.typing(0, "r", "alice", true);
  hub.typing(0, "r", "alice", true);  // a refresh: no second frame
  loop.runAll(rng);
  alice1->say(cx[0], "hello");
  loop.runAll(rng);
  EXPECT_EQ(bob->typing, (std::vector<std::string>{"alice:true", "alice:false"}));
  EXPECT_TRUE(alice1->typing.empty());
  EXPECT_TRUE(alice2->typing.empty());
  EXPECT_EQ(bob->contents, (std::vector<std::string>{"hello"}));
}

// join/leave wait per room and shard for a batch, which leaves on the shard's timer or ahead of
// the room's next other frame. Whatever the interleaving, each member must see the room's
// history as its first member saw it from its own join to the end: nothing missing, repeated or
// reordered. (Before its join it may see a few of the room's last events, in order: a member is
// added on its shard before the home shard registers it, and frames already on their way to the
// shard reach it too.)
TEST(Hub, JoinAndLeaveBatchesKeepTheRoomsOrderForEveryMember) {
  for (unsigned seed = 1; seed <= 30; ++seed) {
    constexpr std::size_t kShards = 3;
    SimulatedShards loop(kShards);
    Hub hub = makeHub(loop, kShards);
    ShardContexts cx(hub, kShards);
    std::mt19937 rng(seed);
    // The witness joins first and stays: it sees the room's whole order.
    auto witness = std::make_shared<TestMember>("witness", "room");
    witness->join(cx[0]);
    loop.runAll(rng);
    std::vector<Placed> members;
    int sent = 0;
    for (int step = 0; step < 60; ++step) {
      const unsigned what = rng() % 10;
      if (what < 4 || members.empty()) {
        auto m = std::make_shared<TestMember>(numbered("u", step), "room");
        const std::size_t shard = rng() % kShards;
        members.push_back({m, shard});
        loop.post(shard, [&cx, m, shard] { m->join(cx[shard]); });
      } else if (what < 7) {
        const Placed& p = members[rng() % members.size()];
        loop.post(p.shard, [&cx, p, k = sent++] { p.member->say(cx[p.shard], numbered("m", k)); });
      } else if (what < 8 && members.size() > 1) {
        const std::size_t i = rng() % members.size();
        const Placed p = members[i];
        members.erase(members.begin() + static_cast<std::ptrdiff_t>(i));
        loop.post(p.shard, [&cx, p] { p.member->leave(cx[p.shard]); });
      } else {
        const std::size_t shard = rng() % kShards;
        // A timer that fires: everything is due (and the clock only grows).
        loop.post(shard, [&hub, shard, step] { hub.flushBatches(shard, 1'000'000'000 + step); });
      }
      // Run a random part of what is queued, so posts overlap.
      for (unsigned k = rng() % 8; k > 0 && loop.runOne(rng); --k) {
      }
    }
    loop.runAll(rng);
    for (std::size_t shard = 0; shard < kShards; ++shard)
      hub.flushBatches(shard, std::numeric_limits<std::int64_t>::max() / 2);
    loop.runAll(rng);

    const auto& all = witness->events;
    ASSERT_FALSE(all.empty());
    EXPECT_EQ(all.front(), "join:witness") << "seed " << seed;
    for (const Placed& p : members) {
      const auto& seen = p.member->events;
      const std::string who = "seed " + std::to_string(seed) + " " + p.member->username();
      const auto own = std::find(seen.begin(), seen.end(), "join:" + p.member->username());
      ASSERT_NE(own, seen.end()) << who;
      const auto ownInAll = std::find(all.begin(), all.end(), *own);
      ASSERT_NE(ownInAll, all.end()) << who;
      EXPECT_TRUE(std::equal(own, seen.end(), ownInAll, all.end()))
          << who << " saw another order: " << ::testing::PrintToString(seen);
      // What it saw before its join: the room's preceding events, in order, each once.
      std::size_t below = static_cast<std::size_t>(ownInAll - all.begin());
      for (auto it = std::make_reverse_iterator(own); it != seen.rend(); ++it) {
        std::size_t k = below;
        while (k > 0 && all[k - 1] != *it) --k;
        ASSERT_GT(k, 0u) << who << ": " << *it << " out of order before its join";
        below = k - 1;
      }
    }
  }
}

TEST(Hub, AQuietRoomsJoinWaitsAQuarterSecondAndACrowdsASecond) {
  SimulatedShards loop(1);
  std::vector<std::int64_t> wakes;
  Hub hub = makeHub(loop, 1, nullptr, nullptr, HubOptions{},
                    [&](std::size_t, std::int64_t due) { wakes.push_back(due); });
  ShardContexts cx(hub, 1);
  std::mt19937 rng(3);
  auto joined = [&](const char* name) {
    auto m = std::make_shared<TestMember>(name, "r");
    m->join(cx[0]);
    return m;
  };
  using Events = std::vector<std::string>;
  steadyNow = 10'000;
  auto a = joined("a");
  loop.runAll(rng);
  // A joiner's own join leaves with its history; with no one else there, nothing waits.
  EXPECT_EQ(a->events, Events{"join:a"});
  EXPECT_TRUE(wakes.empty());

  steadyNow = 20'000;  // a quiet room: the next join waits a quarter second
  auto d = joined("d");
  loop.runAll(rng);
  EXPECT_EQ(a->events, Events{"join:a"});
  ASSERT_EQ(wakes, std::vector<std::int64_t>{20'000 + MembershipBatcher::kBatchMs});
  hub.flushBatches(0, 20'000);  // too early: nothing leaves, the shard is asked again
  EXPECT_EQ(a->events, Events{"join:a"});
  EXPECT_EQ(wakes, (std::vector<std::int64_t>{20'250, 20'250}));
  steadyNow = 20'100;
  auto e = joined("e");
  loop.runAll(rng);
  hub.flushBatches(0, 20'250 - MembershipBatcher::kBatchSlackMs);  // within the slack: one batch
  EXPECT_EQ(a->events, (Events{"join:a", "join:d", "join:e"}));
  EXPECT_EQ(d->events, (Events{"join:d", "join:e"}));  // its part: after its own join
  EXPECT_EQ(e->events, Events{"join:e"});
  EXPECT_EQ(wakes.size(), 2u);  // nothing else waits: no new wake-up

  // Within a second of that batch the room is busy: the next changes wait a second, together.
  // b is still catching up when c joins, so c's join leaves with b's history too.
  steadyNow = 20'400;
  auto b = joined("b");
  auto c = joined("c");
  loop.runAll(rng);
  EXPECT_EQ(wakes.back(), 20'400 + MembershipBatcher::kBatchRepeatMs);
  EXPECT_EQ(a->events.size(), 3u);
  EXPECT_EQ(b->events, (Events{"join:b", "join:c"}));
  EXPECT_EQ(c->events, Events{"join:c"});
  // A message takes the waiting batch along, ahead of it.
  c->say(cx[0], "hi");
  loop.runAll(rng);
  EXPECT_EQ(a->events, (Events{"join:a", "join:d", "join:e", "join:b", "join:c", "msg:hi"}));
  EXPECT_EQ(d->events, (Events{"join:d", "join:e", "join:b", "join:c", "msg:hi"}));
  EXPECT_EQ(b->events, (Events{"join:b", "join:c", "msg:hi"}));
  EXPECT_EQ(c->events, (Events{"join:c", "msg:hi"}));
  hub.flushBatches(0, 21'400);  // the timer still fires; nothing is left to send
  EXPECT_EQ(a->events.size(), 6u);

  steadyNow = 21'000;  // still busy: c joined 600 ms ago
  c->leave(cx[0]);
  loop.runAll(rng);
  EXPECT_EQ(wakes.back(), 22'000);
  hub.flushBatches(0, 22'000);
  for (auto* m : {a.get(), b.get(), d.get(), e.get()}) EXPECT_EQ(m->events.back(), "leave:c");

  steadyNow = 40'000;  // quiet again
  b->leave(cx[0]);
  loop.runAll(rng);
  EXPECT_EQ(wakes.back(), 40'000 + MembershipBatcher::kBatchMs);
}

// With the real SQLite store: members join at random moments while others publish; each one
// must see (history + live) a gapless run of ids with no duplicate, ending at the last id.
// Joins land while messages are in flight (a marker gives the seam) and while none are (the
// home shard knows it): several seeds, so both happen in many orders.
class HubSeam : public ::testing::TestWithParam<unsigned> {};

TEST_P(HubSeam, CatchUpSeamHasNoGapAndNoDuplicateWithARealStore) {
  const auto dir =
      std::filesystem::temp_directory_path() /
      ("parley-hubtest-" + std::to_string(::getpid()) + "-" + std::to_string(GetParam()));
  std::filesystem::remove_all(dir);
  {
    const std::string url = "sqlite:" + (dir / "hub.db").string();
    store::StoreWriter writer(store::openStore(url), store::Retention{});
    store::StoreReader reader(store::openStore(url));
    constexpr std::size_t kShards = 2;
    SimulatedShards loop(kShards);
    HubOptions options;
    options.historyOnJoin = 200;
    Hub hub = makeHub(loop, kShards, &writer, &reader, options);
    ShardContexts cx(hub, kShards);
    std::mt19937 rng(GetParam());
    auto drain = [&](std::function<bool()> done) {
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (!done() && std::chrono::steady_clock::now() < deadline)
        if (!loop.runOne(rng)) std::this_thread::sleep_for(std::chrono::microseconds(200));
    };
    auto sender = std::make_shared<TestMember>("sender", "seam");
    sender->join(cx[0]);
    drain([&] { return !sender->catchingUp(); });

    std::vector<Placed> late;
    constexpr int kMessages = 150;
    auto joinLate = [&](int k) {
      auto m = std::make_shared<TestMember>(numbered("late", k), "seam");
      const std::size_t shard = static_cast<std::size_t>(k / 10) % kShards;
      loop.post(shard, [&cx, m, shard] { m->join(cx[shard]); });
      late.push_back({m, shard});
    };
    for (int k = 0; k < kMessages; ++k) {
      // Every 20th: a join when nothing is on its way to the store (the home shard knows the
      // seam); the others land amid traffic (a marker gives it).
      const bool quiet = k % 20 == 15;
      if (quiet) {
        drain([&] { return sender->ids.size() == static_cast<std::size_t>(k); });
        joinLate(k);
        drain([&] { return !late.back().member->catchingUp(); });
      }
      loop.post(0, [&cx, sender, k] { sender->say(cx[0], numbered("m", k)); });
      if (k % 10 == 5 && !quiet) joinLate(k);
      for (int step = 0; step < 3; ++step) loop.runOne(rng);
    }
    drain([&] { return sender->ids.size() == kMessages; });
    ASSERT_EQ(sender->ids.size(), static_cast<std::size_t>(kMessages));
    drain([&] {
      for (auto& p : late)
        if (p.member->ids.empty() || p.member->ids.back() != kMessages) return false;
      return true;
    });
    // Both kinds of seam were exercised: some joins needed no marker (the sender's is one).
    EXPECT_LT(hub.catchUpMarkers(), late.size() + 1);
    EXPECT_GT(hub.catchUpMarkers(), 1u);
    for (auto& p : late) {
      const auto& ids = p.member->ids;
      ASSERT_FALSE(ids.empty()) << p.member->username();
      EXPECT_EQ(ids.back(), static_cast<std::uint64_t>(kMessages)) << p.member->username();
      for (std::size_t i = 1; i < ids.size(); ++i)
        ASSERT_EQ(ids[i], ids[i - 1] + 1) << p.member->username() << " at " << i;
      EXPECT_EQ(ids.front(), 1u) << p.member->username() << ": the history starts at the start";
    }
  }
  std::filesystem::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Seeds, HubSeam, ::testing::Values(42u, 7u, 1234u, 99u, 2026u));

TEST(Hub, AJoinIntoARoomItsShardKnowsNeedsNoMarkerAndAnEmptyOneNoRead) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("parley-hubtest-known-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  {
    const std::string url = "sqlite:" + (dir / "hub.db").string();
    store::StoreWriter writer(store::openStore(url), store::Retention{});
    store::StoreReader reader(store::openStore(url));
    SimulatedShards loop(1);
    Hub hub = makeHub(loop, 1, &writer, &reader);
    ShardContexts cx(hub, 1);
    std::mt19937 rng(1);
    auto drain = [&](std::function<bool()> done) {
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (!done() && std::chrono::steady_clock::now() < deadline)
        if (!loop.runOne(rng)) std::this_thread::sleep_for(std::chrono::microseconds(200));
      return done();
    };
    auto joined = [&](const char* name, std::optional<std::uint64_t> since = std::nullopt) {
      auto m = std::make_shared<TestMember>(name, "known");
      m->join(cx[0], since);
      EXPECT_TRUE(drain([&] { return !m->catchingUp(); })) << name;
      return m;
    };

    auto a = joined("a");  // a room never seen: the writer is asked, the store has nothing
    EXPECT_EQ(hub.catchUpMarkers(), 1u);
    EXPECT_EQ(hub.catchUpReads(), 0u);
    auto b = joined("b");  // known and empty: answered on the shard
    EXPECT_EQ(hub.catchUpMarkers(), 1u);
    EXPECT_EQ(hub.catchUpReads(), 0u);

    for (int k = 0; k < 3; ++k) a->say(cx[0], numbered("m", k));
    ASSERT_TRUE(drain([&] { return b->ids.size() == 3; }));
    auto c = joined("c");  // known, nothing in flight: no marker, but three messages to read
    EXPECT_EQ(hub.catchUpMarkers(), 1u);
    EXPECT_EQ(hub.catchUpReads(), 1u);
    EXPECT_EQ(c->ids, (std::vector<std::uint64_t>{1, 2, 3}));
    auto d = joined("d", 3);  // resumes with nothing missed: nothing to read
    EXPECT_EQ(hub.catchUpReads(), 1u);
    EXPECT_TRUE(d->ids.empty());

    // A message still on its way to the store sends the next join back to a marker.
    a->say(cx[0], "m3");
    auto e = std::make_shared<TestMember>("e", "known");
    e->join(cx[0]);
    ASSERT_TRUE(drain([&] { return !e->catchingUp() && e->ids.size() == 4; }));
    EXPECT_EQ(hub.catchUpMarkers(), 2u);
    EXPECT_EQ(e->ids, (std::vector<std::uint64_t>{1, 2, 3, 4}));

    // Everyone leaves: the room is forgotten, and the next join asks the writer again.
    for (auto* m : {a.get(), b.get(), c.get(), d.get(), e.get()}) m->leave(cx[0]);
    loop.runAll(rng);
    hub.tick(0);
    auto f = joined("f");
    EXPECT_EQ(hub.catchUpMarkers(), 3u);
    EXPECT_EQ(f->ids, (std::vector<std::uint64_t>{1, 2, 3, 4}));
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace parley::chat
