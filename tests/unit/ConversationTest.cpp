// The conversation's own decisions, on one simulated shard with a real hub: the message rate
// bucket, the typing throttle, the held frames and the catch-up seam, token renewal and its
// refusals, history paging answers and bad input. Its transport records what it is asked to
// send; clocks are the test's.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <thread>

#include "auth/RoomAccess.h"
#include "auth/TokenService.h"
#include "chat/CloseCode.h"
#include "chat/Conversation.h"
#include "chat/Hub.h"
#include "metrics/Metrics.h"
#include "store/AccountStore.h"
#include "store/StoreReader.h"
#include "store/StoreWriter.h"

namespace parley::chat {
namespace {

std::int64_t steadyNow = 0;
std::int64_t testSteady() { return steadyNow; }
constexpr std::int64_t kUnixStart = 1'758'122'625'000;  // 2025-09-17T15:23:45Z
std::int64_t unixNow = kUnixStart;
std::int64_t testUnix() { return unixNow; }

// One JSON document per line: a join/leave batch is several frames back to back.
Frame encode(std::string_view json, std::uint64_t id) {
  std::string line(json);
  line.push_back('\n');
  return std::make_shared<const WireFrame>(WireFrame{std::move(line), id, {}});
}
Frame messageFrame(std::uint64_t id) {
  return encode(R"({"type":"message","id":)" + std::to_string(id) + "}", id);
}

const std::string kSecret(32, 'k');

// One shard: a FIFO of tasks, run when the test says so (the store's threads post to it too).
class OneShard {
 public:
  void post(std::function<void()> task) {
    std::lock_guard lock(mutex_);
    tasks_.push_back(std::move(task));
  }
  void runAll() {
    for (;;) {
      std::function<void()> task;
      {
        std::lock_guard lock(mutex_);
        if (tasks_.empty()) return;
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }

 private:
  std::mutex mutex_;
  std::deque<std::function<void()>> tasks_;
};

// The hub and everything a conversation of the shard shares; `reader`/`writer` are null
// without a store.
struct Fixture {
  explicit Fixture(double maxMessageRate = 0, store::StoreWriter* writer = nullptr,
                   store::StoreReader* reader = nullptr, std::size_t maxRooms = 100,
                   const auth::RoomAccess* access = nullptr)
      : hub(environment(writer, reader, access)),
        context{hub,
                0,
                metrics,
                tokens,
                ConversationOptions{{}, maxMessageRate, maxRooms},
                &encode,
                &testSteady,
                &testUnix} {
    steadyNow = 1'000'000;
    unixNow = kUnixStart;
  }
  HubEnvironment environment(store::StoreWriter* writer, store::StoreReader* reader,
                             const auth::RoomAccess* access) {
    HubEnvironment env;
    env.post = [this](std::size_t, std::function<void()> t) { shard.post(std::move(t)); };
    env.wake = [](std::size_t, std::int64_t) {};
    env.encode = &encode;
    env.unixClock = &testUnix;
    env.steadyClock = &testSteady;
    env.writer = writer;
    env.reader = reader;
    env.access = access;
    return env;
  }
  OneShard shard;
  metrics::Metrics metrics;
  auth::TokenService tokens{kSecret, 3600};
  Hub hub;
  ConversationContext context;
};

// A connection: the conversation over a transport that records every frame it is asked to
// send, in order, and how it was closed.
class Connection final : public Transport, public std::enable_shared_from_this<Connection> {
 public:
  Connection(Fixture& f, std::string name, std::string room = "room",
             std::uint32_t addressSlot = RateBucketTable::kNoSlot)
      : f_(f), conversation(*this, std::move(name), std::move(room), addressSlot) {}

  void join(std::optional<std::uint64_t> since = std::nullopt) {
    conversation.start(f_.context, since);
    f_.shard.runAll();
  }
  void say(std::string_view text) {
    conversation.onText(f_.context, text);
    f_.shard.runAll();
  }
  RoomSubscription& subscription() { return *conversation.subscription("room"); }

  // The frames' JSON, and the `type` of each.
  std::vector<std::string> frames;
  std::vector<std::string> types() const {
    std::vector<std::string> t;
    for (const auto& f : frames)
      t.emplace_back(boost::json::parse(f).as_object().at("type").as_string());
    return t;
  }
  boost::json::object last() const { return boost::json::parse(frames.back()).as_object(); }
  std::string lastCode() const { return std::string(last().at("code").as_string()); }
  std::vector<std::uint64_t> messageIds() const {
    std::vector<std::uint64_t> ids;
    for (const auto& f : frames) {
      auto o = boost::json::parse(f).as_object();
      if (o.at("type") == "message") ids.push_back(o.at("id").to_number<std::uint64_t>());
    }
    return ids;
  }

  std::size_t holdLimit = SIZE_MAX;  // canHold() refuses past this many held bytes
  std::vector<std::size_t> catchUpSizes;
  std::uint16_t closedWith = 0;

  void send(const Frame& frame) override { record(frame->bytes); }
  bool canHold(std::size_t bytes) override { return conversation.heldBytes() + bytes <= holdLimit; }
  void sendCatchUp(std::span<const Frame> catchUp) override {
    catchUpSizes.push_back(catchUp.size());
    for (const auto& f : catchUp) record(f->bytes);
  }
  void close(std::uint16_t code, const char*) override {
    closedWith = code;
    conversation.end(f_.context);
  }
  std::shared_ptr<void> lifetime() override { return shared_from_this(); }

 private:
  void record(const std::string& bytes) {
    for (std::size_t at = 0, end; (end = bytes.find('\n', at)) != std::string::npos; at = end + 1)
      frames.push_back(bytes.substr(at, end - at));
  }

  Fixture& f_;

 public:
  Conversation conversation;
};

std::shared_ptr<Connection> joined(Fixture& f, std::string name) {
  auto c = std::make_shared<Connection>(f, std::move(name));
  c->join();
  return c;
}

TEST(Conversation, JoinSendsPresenceThenLiveTraffic) {
  Fixture f;
  auto alice = joined(f, "alice");
  EXPECT_FALSE(alice->conversation.holdsWrites());
  EXPECT_EQ(alice->types(), (std::vector<std::string>{"presence", "join"}));
  alice->say(R"({"content":"hi"})");
  EXPECT_EQ(alice->messageIds(), (std::vector<std::uint64_t>{1}));
  EXPECT_EQ(f.metrics.rejected(metrics::Rejection::RateLimited), 0u);
}

// The buckets across connections: one user's connections share theirs, one address's
// connections theirs; a message one limit refuses costs nothing against the others.
TEST(Conversation, UserAndAddressBucketsSpanConnections) {
  Fixture f;  // no per-connection limit
  RateBucketTable users(1, 2), addresses(1, 3);
  f.context.options.userRates = &users;
  f.context.options.addressRates = &addresses;
  const auto office = addresses.slotOf("10.0.0.1"), home = addresses.slotOf("10.0.0.2");
  auto connect = [&](const char* name, std::uint32_t slot) {
    auto c = std::make_shared<Connection>(f, name, "room", slot);
    c->join();
    return c;
  };
  auto alice1 = connect("alice", office), alice2 = connect("alice", office);
  auto bob = connect("bob", office), carol = connect("carol", home);
  alice1->say(R"({"content":"one"})");
  alice2->say(R"({"content":"two"})");
  EXPECT_EQ(carol->messageIds().size(), 2u);
  alice2->say(R"({"content":"three","client_id":"a3"})");  // alice's burst is spent
  EXPECT_EQ(alice2->lastCode(), "rate_limited");
  EXPECT_EQ(alice2->last().at("client_id"), "a3");
  EXPECT_EQ(f.metrics.rejected(metrics::Rejection::UserRateLimited), 1u);
  bob->say(
      R"({"content":"four"})");  // the office's third and last token (alice's refusal took none)
  EXPECT_EQ(carol->messageIds().size(), 3u);
  bob->say(R"({"content":"five","client_id":"b2"})");
  EXPECT_EQ(bob->lastCode(), "rate_limited");
  EXPECT_EQ(f.metrics.rejected(metrics::Rejection::AddressRateLimited), 1u);
  EXPECT_EQ(f.metrics.rejected(metrics::Rejection::RateLimited), 0u);
  // Bob's user token for the refused message was given back: one left of his two.
  EXPECT_TRUE(users.take(users.slotOf("bob"), steadyNow));
  EXPECT_FALSE(users.take(users.slotOf("bob"), steadyNow));
  // Carol, from another address, is unaffected.
  carol->say(R"({"content":"six"})");
  carol->say(R"({"content":"seven"})");
  EXPECT_EQ(carol->messageIds().size(), 5u);
  // A second later the office has one token again.
  steadyNow += 1000;
  alice1->say(R"({"content":"eight"})");
  EXPECT_EQ(carol->messageIds().size(), 6u);
}

TEST(Conversation, RateBucketRefusesPastTheBurstEachRefusalSaidAndRefills) {
  Fixture f(2);  // two a second, bursts of four
  auto alice = joined(f, "alice");
  for (int i = 0; i < 4; ++i) alice->say(R"({"content":"hi"})");
  EXPECT_EQ(alice->messageIds().size(), 4u);
  alice->say(R"({"content":"one more","client_id":"c5"})");
  EXPECT_EQ(alice->lastCode(), "rate_limited");
  EXPECT_EQ(alice->last().at("client_id"), "c5");  // the client knows which one to resend
  EXPECT_EQ(f.metrics.rejected(metrics::Rejection::RateLimited), 1u);
  EXPECT_EQ(alice->messageIds().size(), 4u);  // delivered to no one

  steadyNow += 600;  // 1.2 tokens
  alice->say(R"({"content":"later"})");
  EXPECT_EQ(alice->messageIds().size(), 5u);
  alice->say(R"({"content":"too soon"})");
  EXPECT_EQ(alice->lastCode(), "rate_limited");
  EXPECT_EQ(f.metrics.rejected(metrics::Rejection::RateLimited), 2u);

  steadyNow += 60'000;  // a long pause refills only up to the burst
  for (int i = 0; i < 5; ++i) alice->say(R"({"content":"burst"})");
  EXPECT_EQ(alice->messageIds().size(), 9u);
  EXPECT_EQ(f.metrics.rejected(metrics::Rejection::RateLimited), 3u);
}

TEST(Conversation, TypingIsThrottledAndAMessageEndsIt) {
  Fixture f;
  auto alice = joined(f, "alice");
  auto bob = joined(f, "bob");
  auto typingSeen = [&] {
    std::vector<std::string> seen;
    for (const auto& frame : bob->frames) {
      auto o = boost::json::parse(frame).as_object();
      if (o.at("type") == "typing") seen.push_back(o.at("state").as_bool() ? "true" : "false");
    }
    return seen;
  };
  auto dropped = [&] { return f.metrics.rejected(metrics::Rejection::RateLimited); };
  alice->say(R"({"type":"typing","state":true})");
  EXPECT_EQ(typingSeen(), (std::vector<std::string>{"true"}));
  steadyNow += 50;  // within 100 ms of the last: dropped, whatever it says
  alice->say(R"({"type":"typing","state":false})");
  EXPECT_EQ(dropped(), 1u);
  steadyNow += 150;  // the same state within a second: dropped
  alice->say(R"({"type":"typing","state":true})");
  EXPECT_EQ(dropped(), 2u);
  steadyNow += 100;  // a change: passes
  alice->say(R"({"type":"typing","state":false})");
  EXPECT_EQ(typingSeen(), (std::vector<std::string>{"true", "false"}));
  steadyNow += 1000;  // the same state after a second: passes (the hub relays only changes)
  alice->say(R"({"type":"typing","state":false})");
  EXPECT_EQ(dropped(), 2u);
  steadyNow += 200;
  alice->say(R"({"type":"typing","state":true})");
  EXPECT_EQ(typingSeen(), (std::vector<std::string>{"true", "false", "true"}));
  // A message ends typing (the hub says so before the message), so `true` right after it is a
  // change again, not a repeat.
  steadyNow += 150;
  alice->say(R"({"content":"done"})");
  EXPECT_EQ(typingSeen(), (std::vector<std::string>{"true", "false", "true", "false"}));
  steadyNow += 150;
  alice->say(R"({"type":"typing","state":true})");
  EXPECT_EQ(typingSeen(), (std::vector<std::string>{"true", "false", "true", "false", "true"}));
  EXPECT_EQ(dropped(), 2u);
  EXPECT_TRUE(alice->types() == (std::vector<std::string>{"presence", "join", "join", "message"}))
      << "the typer's own connection is not told about its typing";
}

TEST(Conversation, HeldFramesFollowTheCatchUpAndTheSeamDropsWhatItCovered) {
  Fixture f;
  auto alice = std::make_shared<Connection>(f, "alice");
  alice->conversation.start(f.context, std::nullopt);  // the hub's answer is not run yet
  ASSERT_TRUE(alice->conversation.holdsWrites());
  RoomSubscription& sub = alice->subscription();
  // Live frames while the history is read: held (after the joiner's own join), counted
  // against the bound.
  const std::size_t ownJoin = alice->conversation.heldBytes();
  EXPECT_GT(ownJoin, 0u);
  sub.deliver(messageFrame(4));
  sub.deliver(messageFrame(5));
  const Frame notice = encode(R"({"type":"notice"})", 0);
  sub.deliver(notice);
  sub.deliver(messageFrame(6));
  EXPECT_TRUE(alice->frames.empty());
  EXPECT_EQ(alice->conversation.heldBytes(),
            ownJoin + 3 * messageFrame(4)->bytes.size() + notice->bytes.size());
  // The history carried everything up to 5.
  sub.endCatchUp({encode(R"({"type":"history","messages":[]})", 0)}, 5);
  EXPECT_FALSE(alice->conversation.holdsWrites());
  EXPECT_EQ(alice->conversation.heldBytes(), 0u);
  EXPECT_EQ(alice->types(), (std::vector<std::string>{"history", "join", "notice", "message"}));
  EXPECT_EQ(alice->messageIds(), (std::vector<std::uint64_t>{6}));
  // A covered message whose fan-out raced the read, arriving late: dropped too.
  sub.deliver(messageFrame(5));
  sub.deliver(messageFrame(7));
  EXPECT_EQ(alice->messageIds(), (std::vector<std::uint64_t>{6, 7}));
  // The hub's own answer comes later: the catch-up is over, so it changes nothing.
  f.shard.runAll();
  EXPECT_EQ(alice->catchUpSizes, (std::vector<std::size_t>{1}));
  EXPECT_EQ(alice->messageIds(), (std::vector<std::uint64_t>{6, 7}));
}

TEST(Conversation, RepliesWaitForTheCatchUpAndHeldFramesObeyTheBound) {
  Fixture f;
  auto alice = std::make_shared<Connection>(f, "alice");
  alice->conversation.start(f.context, std::nullopt);
  // An error while catching up leaves after the catch-up, as every frame does.
  alice->conversation.onText(f.context, "not json");
  alice->holdLimit = alice->conversation.heldBytes() + messageFrame(1)->bytes.size();
  alice->subscription().deliver(messageFrame(1));
  alice->subscription().deliver(messageFrame(2));  // past the bound: refused, not held
  EXPECT_TRUE(alice->frames.empty());
  f.shard.runAll();  // presence ends the catch-up (no store)
  EXPECT_EQ(alice->types(), (std::vector<std::string>{"presence", "join", "error", "message"}));
  EXPECT_EQ(alice->messageIds(), (std::vector<std::uint64_t>{1}));
  EXPECT_EQ(f.metrics.rejected(metrics::Rejection::InvalidJson), 1u);
}

TEST(Conversation, EndLeavesTheRoomOnceAndDropsWhatWasHeld) {
  Fixture f;
  auto bob = joined(f, "bob");
  auto alice = std::make_shared<Connection>(f, "alice");
  alice->conversation.start(f.context, std::nullopt);
  alice->subscription().deliver(messageFrame(1));
  alice->conversation.end(f.context);
  alice->conversation.end(f.context);
  EXPECT_EQ(alice->conversation.heldBytes(), 0u);
  f.shard.runAll();
  f.hub.flushBatches(0, steadyNow + 10'000);
  EXPECT_EQ(f.hub.roomCount(), 1u);
  EXPECT_EQ(bob->types(), (std::vector<std::string>{"presence", "join", "join", "leave"}));
}

TEST(Conversation, TokenRenewalRefusalsAndTheDeadline) {
  Fixture f;
  auto anonymous = joined(f, "anon");
  std::int64_t goodExp = 0;
  const std::string good = f.tokens.issue("alice", unixNow / 1000, goodExp);
  anonymous->say(R"({"type":"auth","token":")" + good + R"("})");
  EXPECT_EQ(anonymous->lastCode(), "invalid_message");  // joined without a token: stays so
  EXPECT_EQ(f.metrics.rejected(metrics::Rejection::InvalidMessage), 1u);

  auto alice = joined(f, "alice");
  alice->conversation.expireTokenAt(f.context, unixNow + 10'000);
  auto renew = [&](const std::string& token) {
    alice->say(R"({"type":"auth","token":")" + token + R"("})");
  };
  std::int64_t exp = 0;
  renew("not.a.token");
  EXPECT_EQ(alice->lastCode(), "invalid_token");
  const std::string stale = f.tokens.issue("alice", unixNow / 1000 - 7200, exp);
  renew(stale);
  EXPECT_EQ(alice->lastCode(), "token_expired");
  renew(f.tokens.issue("bob", unixNow / 1000, exp));
  EXPECT_EQ(alice->lastCode(), "username_mismatch");
  const auth::TokenService other(std::string(32, 'o'), 3600);
  renew(other.issue("alice", unixNow / 1000, exp));
  EXPECT_EQ(alice->lastCode(), "invalid_token");
  EXPECT_EQ(f.metrics.rejected(metrics::Rejection::InvalidToken), 2u);
  EXPECT_EQ(f.metrics.rejected(metrics::Rejection::TokenExpired), 1u);
  EXPECT_EQ(f.metrics.rejected(metrics::Rejection::UsernameMismatch), 1u);

  // Refusals leave the old deadline: 10 s.
  alice->conversation.tick(steadyNow + 9'999);
  EXPECT_EQ(alice->closedWith, 0);
  renew(good);
  EXPECT_EQ(alice->last().at("type"), "auth");
  EXPECT_EQ(alice->last().at("username"), "alice");
  EXPECT_EQ(alice->last().at("expires_at").as_string(), formatTimestamp(goodExp * 1000));
  EXPECT_EQ(f.metrics.rejected(metrics::Rejection::InvalidToken), 2u);
  // The deadline moved to the new token's expiry (an hour), on the steady clock.
  alice->conversation.tick(steadyNow + 10'000);
  alice->conversation.tick(steadyNow + 3'599'999);
  EXPECT_EQ(alice->closedWith, 0);
  alice->conversation.tick(steadyNow + 3'600'000);
  EXPECT_EQ(alice->closedWith, close_code::kAuthExpired);
}

TEST(Conversation, HistoryRequestsWithoutAStoreAnswerAnEmptyPage) {
  Fixture f;
  auto alice = joined(f, "alice");
  alice->say(R"({"type":"history","before":10,"limit":5})");
  EXPECT_EQ(alice->frames.back(),
            R"({"type":"history","messages":[],"has_more":false,"before":10,"room":"room"})");
  alice->say(R"({"type":"history"})");
  EXPECT_EQ(alice->frames.back(),
            R"({"type":"history","messages":[],"has_more":false,"room":"room"})");
  alice->say(R"({"type":"history","limit":0})");
  EXPECT_EQ(alice->lastCode(), "invalid_message");
}

TEST(Conversation, HistoryRequestsPageThroughTheStore) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("parley-conversationtest-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  {
    const std::string url = "sqlite:" + (dir / "c.db").string();
    store::StoreWriter writer(store::openStore(url), store::Retention{});
    store::StoreReader reader(store::openStore(url));
    Fixture f(0, &writer, &reader);
    auto alice = std::make_shared<Connection>(f, "alice");
    auto waitFor = [&](std::function<bool()> done) {
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (!done() && std::chrono::steady_clock::now() < deadline) {
        f.shard.runAll();
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      return done();
    };
    alice->conversation.start(f.context, std::nullopt);
    ASSERT_TRUE(waitFor([&] { return !alice->conversation.holdsWrites(); }));
    for (int i = 1; i <= 5; ++i)
      alice->conversation.onText(f.context, R"({"content":"m)" + std::to_string(i) + R"("})");
    ASSERT_TRUE(waitFor([&] { return alice->messageIds().size() == 5; }));
    const std::size_t before = alice->frames.size();
    alice->conversation.onText(f.context, R"({"type":"history","before":4,"limit":2})");
    ASSERT_TRUE(waitFor([&] { return alice->frames.size() == before + 1; }));
    auto page = alice->last();
    EXPECT_EQ(page.at("type"), "history");
    EXPECT_EQ(page.at("before"), 4);
    EXPECT_EQ(page.at("has_more"), true);
    const auto& messages = page.at("messages").as_array();
    ASSERT_EQ(messages.size(), 2u);
    EXPECT_EQ(messages[0].at("id"), 2);
    EXPECT_EQ(messages[1].at("content"), "m3");
  }
  std::filesystem::remove_all(dir);
}

TEST(Conversation, BadFramesAreAnsweredAndCountedAndTheConversationGoesOn) {
  Fixture f;
  auto alice = joined(f, "alice");
  alice->say("[1,2]");
  EXPECT_EQ(alice->lastCode(), "invalid_message");
  alice->say(R"({"type":"dance"})");
  EXPECT_EQ(alice->lastCode(), "unknown_type");
  alice->say(R"({"content":""})");
  EXPECT_EQ(alice->lastCode(), "empty_content");
  EXPECT_EQ(f.metrics.rejected(metrics::Rejection::InvalidMessage), 1u);
  EXPECT_EQ(f.metrics.rejected(metrics::Rejection::UnknownType), 1u);
  EXPECT_EQ(f.metrics.rejected(metrics::Rejection::EmptyContent), 1u);
  alice->say(R"({"content":"still here"})");
  EXPECT_EQ(alice->messageIds(), (std::vector<std::uint64_t>{1}));
  EXPECT_EQ(alice->closedWith, 0);
}

// A connection to /ws: in no room until it subscribes.
std::shared_ptr<Connection> multiplexed(Fixture& f, std::string name) {
  auto c = std::make_shared<Connection>(f, std::move(name), "");
  c->join();
  return c;
}

// "type:room" of each frame ("type" alone when it names no room).
std::vector<std::string> typesAndRooms(const Connection& c) {
  std::vector<std::string> out;
  for (const auto& f : c.frames) {
    auto o = boost::json::parse(f).as_object();
    std::string t(o.at("type").as_string());
    if (auto* room = o.if_contains("room")) t.append(":").append(room->as_string());
    out.push_back(t);
  }
  return out;
}

TEST(MultiplexedConversation, SubscribeAnswersLikeAJoinAndEveryFrameNamesItsRoom) {
  Fixture f;
  auto bob = joined(f, "bob");  // /ws/room
  auto alice = multiplexed(f, "alice");
  EXPECT_TRUE(alice->frames.empty());
  EXPECT_FALSE(alice->conversation.holdsWrites());  // nothing waits for a catch-up on /ws
  alice->say(R"({"type":"subscribe","room":"room"})");
  alice->say(R"({"type":"subscribe","room":"other"})");
  EXPECT_EQ(typesAndRooms(*alice), (std::vector<std::string>{"presence:room", "join:room",
                                                             "presence:other", "join:other"}));
  alice->say(R"({"room":"room","content":"one"})");
  alice->say(R"({"room":"other","content":"two","type":"message"})");
  alice->say(R"({"room":"room","content":"three"})");
  alice->frames.erase(alice->frames.begin(), alice->frames.begin() + 4);
  EXPECT_EQ(typesAndRooms(*alice),
            (std::vector<std::string>{"message:room", "message:other", "message:room"}));
  EXPECT_EQ(alice->messageIds(), (std::vector<std::uint64_t>{1, 1, 2}));
  // The original endpoint sees the same room, its frames named too.
  EXPECT_EQ(typesAndRooms(*bob),
            (std::vector<std::string>{"presence:room", "join:room", "join:room", "message:room",
                                      "message:room"}));
  EXPECT_EQ(alice->conversation.subscription("other")->room(), "other");
  EXPECT_EQ(alice->conversation.subscription("third"), nullptr);
}

TEST(MultiplexedConversation, BadRoomsAreRefusedAndTheConnectionGoesOn) {
  Fixture f(0, nullptr, nullptr, /*maxRooms=*/2);
  auto alice = multiplexed(f, "alice");
  auto refusal = [&](std::string_view frame) {
    alice->say(frame);
    auto last = alice->last();
    EXPECT_EQ(last.at("type"), "error") << frame;
    // "code:room" (g++ 12 warns falsely, GCC bug 105329, on `":" + std::string(...)`).
    std::string got(last.at("code").as_string());
    if (auto* room = last.if_contains("room")) got.append(":").append(room->as_string());
    return got;
  };

  EXPECT_EQ(refusal(R"({"content":"where?"})"), "invalid_message");
  EXPECT_EQ(refusal(R"({"type":"subscribe"})"), "invalid_message");
  EXPECT_EQ(refusal(R"({"room":7,"content":"x"})"), "invalid_room");
  EXPECT_EQ(refusal(R"({"type":"subscribe","room":"no/slash"})"), "invalid_room:no/slash");
  EXPECT_EQ(refusal(R"({"type":"subscribe","room":""})"), "invalid_room");
  EXPECT_EQ(refusal(R"({"room":"a","content":"x"})"), "not_subscribed:a");
  EXPECT_EQ(refusal(R"({"room":"a","type":"typing","state":true})"), "not_subscribed:a");
  EXPECT_EQ(refusal(R"({"room":"a","type":"history"})"), "not_subscribed:a");
  EXPECT_EQ(refusal(R"({"room":"a","type":"unsubscribe"})"), "not_subscribed:a");
  EXPECT_EQ(refusal(R"({"type":"subscribe","room":"a","since":-3})"), "invalid_message:a");
  alice->say(R"({"type":"subscribe","room":"a"})");
  EXPECT_EQ(refusal(R"({"type":"subscribe","room":"a"})"), "already_subscribed:a");
  alice->say(R"({"type":"subscribe","room":"b"})");
  EXPECT_EQ(refusal(R"({"type":"subscribe","room":"c"})"), "too_many_rooms:c");
  EXPECT_EQ(refusal(R"({"room":"a","content":""})"), "empty_content:a");
  EXPECT_EQ(refusal("nonsense"), "invalid_json");
  EXPECT_EQ(f.metrics.rejected(metrics::Rejection::NotSubscribed), 4u);
  EXPECT_EQ(f.metrics.rejected(metrics::Rejection::AlreadySubscribed), 1u);
  EXPECT_EQ(f.metrics.rejected(metrics::Rejection::TooManyRooms), 1u);
  EXPECT_EQ(f.metrics.rejected(metrics::Rejection::InvalidRoom), 3u);
  alice->say(R"({"room":"b","content":"still here"})");
  EXPECT_EQ(typesAndRooms(*alice).back(), "message:b");
  // Room c fits once b is left.
  alice->say(R"({"type":"unsubscribe","room":"b"})");
  alice->say(R"({"type":"subscribe","room":"c"})");
  EXPECT_EQ(alice->last().at("type"), "join");
  EXPECT_EQ(alice->closedWith, 0);
}

TEST(MultiplexedConversation, UnsubscribeLeavesTheRoomAndWhatItStillHeld) {
  Fixture f;
  auto bob = joined(f, "bob");
  auto alice = multiplexed(f, "alice");
  alice->say(R"({"type":"subscribe","room":"room"})");
  alice->say(R"({"type":"unsubscribe","room":"room"})");
  EXPECT_EQ(alice->frames.back(), R"({"type":"unsubscribed","room":"room"})");
  EXPECT_EQ(alice->conversation.subscription("room"), nullptr);
  bob->say(R"({"content":"after"})");
  EXPECT_TRUE(alice->messageIds().empty());
  // The others see the leave (it went ahead of bob's message, which took the waiting batch).
  const auto seen = typesAndRooms(*bob);
  EXPECT_EQ(std::vector<std::string>(seen.end() - 2, seen.end()),
            (std::vector<std::string>{"leave:room", "message:room"}));
  EXPECT_EQ(f.hub.roomCount(), 1u);

  // Left while catching up: the frames it held go with it, and the catch-up's answer, still on
  // its way, finds nothing.
  alice->frames.clear();
  alice->conversation.onText(f.context, R"({"type":"subscribe","room":"room"})");
  alice->subscription().deliver(messageFrame(9));
  EXPECT_GT(alice->conversation.heldBytes(), 0u);
  alice->conversation.onText(f.context, R"({"type":"unsubscribe","room":"room"})");
  EXPECT_EQ(alice->conversation.heldBytes(), 0u);
  f.shard.runAll();
  EXPECT_EQ(alice->types(), (std::vector<std::string>{"unsubscribed"}));
  EXPECT_TRUE(alice->catchUpSizes.size() == 1) << "only the first subscription caught up";
}

TEST(MultiplexedConversation, HeldFramesArePerRoomAndCountTogether) {
  Fixture f;
  auto alice = multiplexed(f, "alice");
  alice->say(R"({"type":"subscribe","room":"live"})");
  alice->frames.clear();
  alice->conversation.onText(f.context, R"({"type":"subscribe","room":"room"})");
  RoomSubscription& catching = alice->subscription();
  RoomSubscription& live = *alice->conversation.subscription("live");
  EXPECT_TRUE(catching.catchingUp());
  EXPECT_FALSE(alice->conversation.holdsWrites());  // the connection writes on; the room waits
  const std::size_t ownJoin = alice->conversation.heldBytes();
  catching.deliver(messageFrame(3));
  live.deliver(messageFrame(7));  // another room's traffic goes straight through
  EXPECT_EQ(alice->messageIds(), (std::vector<std::uint64_t>{7}));
  // What rooms hold counts against the connection's one bound.
  alice->holdLimit = alice->conversation.heldBytes() + messageFrame(1)->bytes.size();
  catching.deliver(messageFrame(4));
  catching.deliver(messageFrame(5));  // refused: past the bound
  EXPECT_EQ(alice->conversation.heldBytes(), ownJoin + 2 * messageFrame(1)->bytes.size());
  f.shard.runAll();
  EXPECT_EQ(alice->messageIds(), (std::vector<std::uint64_t>{7, 3, 4}));
  EXPECT_EQ(alice->conversation.heldBytes(), 0u);
}

TEST(MultiplexedConversation, TheRateBucketIsTheConnectionsAndTypingStateIsPerRoom) {
  Fixture f(1);  // one a second, bursts of two, across every room
  auto alice = multiplexed(f, "alice");
  alice->say(R"({"type":"subscribe","room":"a"})");
  alice->say(R"({"type":"subscribe","room":"b"})");
  alice->say(R"({"room":"a","content":"1"})");
  alice->say(R"({"room":"b","content":"2"})");
  alice->say(R"({"room":"a","content":"3","client_id":"c3"})");
  EXPECT_EQ(alice->lastCode(), "rate_limited");
  EXPECT_EQ(alice->last().at("room"), "a");
  EXPECT_EQ(alice->last().at("client_id"), "c3");
  EXPECT_EQ(alice->messageIds().size(), 2u);

  auto dropped = [&] { return f.metrics.rejected(metrics::Rejection::RateLimited); };
  const auto before = dropped();
  alice->say(R"({"room":"a","type":"typing","state":true})");
  steadyNow += 50;  // 50 ms after the connection's last typing frame, whatever the room
  alice->say(R"({"room":"b","type":"typing","state":true})");
  EXPECT_EQ(dropped(), before + 1);
  steadyNow += 100;
  alice->say(R"({"room":"b","type":"typing","state":true})");  // b's state was false: a change
  EXPECT_EQ(dropped(), before + 1);
  steadyNow += 150;
  alice->say(R"({"room":"a","type":"typing","state":true})");  // a's, again within a second
  EXPECT_EQ(dropped(), before + 2);
  steadyNow += 1000;
  alice->say(R"({"room":"a","type":"typing","state":true})");  // a refresh after a second
  EXPECT_EQ(dropped(), before + 2);
}

TEST(MultiplexedConversation, OnTheRoomsOwnEndpointRoomIsIgnoredAndSubscribeUnknown) {
  Fixture f;
  auto alice = joined(f, "alice");
  alice->say(R"({"room":"elsewhere","content":"here"})");
  EXPECT_EQ(typesAndRooms(*alice).back(), "message:room");
  alice->say(R"({"type":"subscribe","room":"elsewhere"})");
  EXPECT_EQ(alice->lastCode(), "unknown_type");
  alice->say(R"({"type":"unsubscribe","room":"room"})");
  EXPECT_EQ(alice->lastCode(), "unknown_type");
  EXPECT_FALSE(alice->last().contains("room"));
  EXPECT_EQ(alice->conversation.subscription("elsewhere"), nullptr);
}

TEST(MultiplexedConversation, EndLeavesEveryRoom) {
  Fixture f;
  auto alice = multiplexed(f, "alice");
  alice->say(R"({"type":"subscribe","room":"a"})");
  alice->say(R"({"type":"subscribe","room":"b"})");
  EXPECT_EQ(f.hub.roomCount(), 2u);
  alice->conversation.end(f.context);
  alice->conversation.end(f.context);
  f.shard.runAll();
  EXPECT_EQ(f.hub.roomCount(), 0u);
}

// A private room: a stranger's subscribe is refused with the room named and nothing of it sent;
// once a member is removed (the access changed, then Hub::accessChanged), their /ws/{room} connection
// closes with 4003 and their /ws subscription alone ends, with `unsubscribed` and the reason,
// while their other room goes on and nothing more of the room reaches them.
TEST(MultiplexedConversation, ARoomThatNoLongerAdmitsTheUserDropsItAloneOrCloses4003) {
  auth::RoomAccess access;
  store::RegisteredRoom room;
  room.room = "room";
  room.isPrivate = true;
  for (const char* name : {"alice", "bob"})
    room.members.push_back({store::accountKey(name), name, store::RoomRole::Member});
  access.putRoom(room);
  Fixture f(0, nullptr, nullptr, 100, &access);
  auto alice = joined(f, "alice");
  auto bobPath = joined(f, "bob");
  auto bobMulti = multiplexed(f, "bob");
  bobMulti->say(R"({"type":"subscribe","room":"room"})");
  bobMulti->say(R"({"type":"subscribe","room":"other"})");
  auto mallory = multiplexed(f, "mallory");
  mallory->say(R"({"type":"subscribe","room":"room"})");
  EXPECT_EQ(typesAndRooms(*mallory), (std::vector<std::string>{"error:room"}));
  EXPECT_EQ(mallory->lastCode(), "not_a_member");
  EXPECT_EQ(mallory->conversation.subscription("room"), nullptr);
  EXPECT_EQ(f.metrics.rejected(metrics::Rejection::NotAMember), 1u);

  access.removeMember("room", store::accountKey("bob"));
  f.hub.accessChanged(0, "room", true);
  f.shard.runAll();
  EXPECT_EQ(bobPath->closedWith, close_code::kRemovedFromRoom);
  EXPECT_EQ(bobMulti->last().at("type"), "unsubscribed");
  EXPECT_EQ(bobMulti->last().at("room"), "room");
  EXPECT_EQ(bobMulti->lastCode(), "not_a_member");
  EXPECT_EQ(bobMulti->conversation.subscription("room"), nullptr);
  ASSERT_NE(bobMulti->conversation.subscription("other"), nullptr);
  EXPECT_EQ(alice->closedWith, 0);

  const std::size_t seen = bobMulti->frames.size();
  alice->say(R"({"content":"after"})");
  bobMulti->say(R"({"room":"other","content":"still here"})");
  EXPECT_EQ(typesAndRooms(*bobMulti).back(), "message:other");
  EXPECT_EQ(bobMulti->frames.size(), seen + 1);  // nothing of the room
  bobMulti->say(R"({"type":"subscribe","room":"room"})");
  EXPECT_EQ(bobMulti->lastCode(), "not_a_member");
}

}  // namespace
}  // namespace parley::chat

namespace parley::chat {
namespace {

// Edits and deletes over the WebSocket, with the real SQLite store: who may, what everyone sees,
// what history shows afterwards, and each refusal said with the message's id.
TEST(Conversation, EditsAndDeletesReachEveryMemberAndHistoryKeepsTombstones) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("parley-conversation-edit-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  {
    const std::string url = "sqlite:" + (dir / "c.db").string();
    store::StoreWriter writer(store::openStore(url), store::Retention{});
    store::StoreReader reader(store::openStore(url));
    Fixture f(0, &writer, &reader);
    auto waitFor = [&](std::function<bool()> done) {
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (!done() && std::chrono::steady_clock::now() < deadline) {
        f.shard.runAll();
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      return done();
    };
    auto connect = [&](std::string name, bool signedIn) {
      auto c = std::make_shared<Connection>(f, std::move(name));
      if (signedIn) c->conversation.expireTokenAt(f.context, unixNow + 3'600'000);
      c->conversation.start(f.context, std::nullopt);
      EXPECT_TRUE(waitFor([&] { return !c->conversation.holdsWrites(); }));
      return c;
    };
    auto alice = connect("alice", true);
    auto bob = connect("bob", true);
    auto carol = connect("carol", false);  // --auth open: a name without a token
    auto said = [&](const std::shared_ptr<Connection>& c, std::string_view text) {
      const std::size_t before = c->frames.size();
      c->conversation.onText(f.context, text);
      EXPECT_TRUE(waitFor([&] { return c->frames.size() > before; })) << text;
      return c->last();
    };
    said(alice, R"({"content":"one"})");
    said(alice, R"({"content":"two"})");
    said(carol, R"({"content":"three"})");
    ASSERT_TRUE(waitFor([&] { return bob->messageIds().size() == 3; }));

    unixNow += 5'000;
    auto edited = said(alice, R"({"type":"edit","id":1,"content":"one, fixed"})");
    EXPECT_EQ(
        boost::json::serialize(edited),
        R"({"type":"edited","id":1,"content":"one, fixed","edited_at":"2025-09-17T15:23:50.000Z","room":"room"})");
    ASSERT_TRUE(waitFor([&] { return bob->last().at("type") == "edited"; }));
    EXPECT_EQ(carol->last().at("type"), "edited");

    // Refusals go to the asker alone, with the id.
    auto refused = said(bob, R"({"type":"delete","id":1})");
    EXPECT_EQ(
        boost::json::serialize(refused),
        R"({"type":"error","code":"not_allowed","message":"only its author, signed in, may edit a message; only its author or a moderator may delete it","id":1,"room":"room"})");
    EXPECT_EQ(said(carol, R"({"type":"delete","id":3})").at("code"), "not_allowed");
    EXPECT_EQ(said(carol, R"({"type":"delete","id":3})").at("message"),
              "sign in to edit or delete messages");
    EXPECT_EQ(said(alice, R"({"type":"edit","id":3,"content":"x"})").at("code"), "not_allowed");
    EXPECT_EQ(said(alice, R"({"type":"delete","id":42})").at("code"), "not_found");
    EXPECT_EQ(said(alice, R"({"type":"delete","id":0})").at("code"), "invalid_message");
    EXPECT_EQ(said(alice, R"({"type":"delete"})").at("code"), "invalid_message");
    auto tooLong = said(alice, R"({"type":"edit","id":1,"content":""})");
    EXPECT_EQ(tooLong.at("code"), "empty_content");
    EXPECT_EQ(tooLong.at("id"), 1);

    auto deleted = said(alice, R"({"type":"delete","id":2})");
    EXPECT_EQ(boost::json::serialize(deleted), R"({"type":"deleted","id":2,"room":"room"})");
    ASSERT_TRUE(waitFor([&] { return bob->last().at("type") == "deleted"; }));
    EXPECT_EQ(said(alice, R"({"type":"edit","id":2,"content":"back"})").at("code"), "not_found");
    EXPECT_EQ(f.metrics.rejected(metrics::Rejection::NotAllowed), 4u);

    // History: the edit with its time, the tombstone with its id, the rest as sent.
    auto page = said(bob, R"({"type":"history"})");
    EXPECT_EQ(
        boost::json::serialize(page.at("messages")),
        R"([{"type":"message","username":"alice","content":"one, fixed","timestamp":"2025-09-17T15:23:45.000Z","id":1,"room":"room","edited_at":"2025-09-17T15:23:50.000Z"},)"
        R"({"type":"message","username":"alice","content":"","timestamp":"2025-09-17T15:23:45.000Z","id":2,"room":"room","deleted":true},)"
        R"({"type":"message","username":"carol","content":"three","timestamp":"2025-09-17T15:23:45.000Z","id":3,"room":"room"}])");
    // A newcomer's join history says the same.
    auto dave = connect("dave", true);
    bool sawTombstone = false;
    for (const auto& frame : dave->frames)
      if (frame.find(R"("id":2,"room":"room","deleted":true)") != std::string::npos)
        sawTombstone = true;
    EXPECT_TRUE(sawTombstone);
  }
  std::filesystem::remove_all(dir);
}

TEST(Conversation, WithoutAStoreThereIsNothingToEdit) {
  Fixture f;
  auto alice = std::make_shared<Connection>(f, "alice");
  alice->conversation.expireTokenAt(f.context, unixNow + 3'600'000);
  alice->join();
  alice->say(R"({"content":"hi"})");
  alice->say(R"({"type":"delete","id":1})");
  EXPECT_EQ(alice->lastCode(), "no_store");
  EXPECT_EQ(alice->last().at("id"), 1);
}

}  // namespace
}  // namespace parley::chat
