// The room registry alone: members per room per shard (first and last on a shard, which is what
// a room's shard mask follows), the fan-out to the shards of a mask, and the order it keeps.
#include <gtest/gtest.h>

#include "RoomPartsFixture.h"
#include "chat/RoomRegistry.h"

namespace parley::chat {
namespace {

using roomtest::RecordingMember;
using roomtest::ShardQueues;
using Lines = std::vector<std::string>;

struct Rooms {
  explicit Rooms(std::size_t shards)
      : queues(shards),
        env(roomtest::testEnvironment(queues, shards, nullptr)),
        batcher(env),
        registry(env, batcher) {}
  ShardQueues queues;
  HubEnvironment env;
  MembershipBatcher batcher;
  RoomRegistry registry;
};

TEST(ShardMask, HoldsEachShardOnceAndWalksThemInOrder) {
  ShardMask mask;
  EXPECT_TRUE(mask.empty());
  mask.add(63);
  mask.add(0);
  mask.add(5);
  mask.add(5);
  EXPECT_TRUE(mask.has(0) && mask.has(5) && mask.has(63));
  EXPECT_FALSE(mask.has(1));
  std::vector<std::size_t> seen;
  mask.forEach([&](std::size_t s) { seen.push_back(s); });
  EXPECT_EQ(seen, (std::vector<std::size_t>{0, 5, 63}));
  mask.remove(5);
  mask.remove(5);
  mask.remove(0);
  EXPECT_EQ(mask.bits(), std::uint64_t{1} << 63);
  mask.remove(63);
  EXPECT_TRUE(mask.empty());
}

TEST(RoomRegistry, SaysWhenARoomGainsItsFirstAndLosesItsLastMemberOnAShard) {
  Rooms r(2);
  RecordingMember a("a"), b("b"), c("c"), d("d");
  EXPECT_TRUE(r.registry.add(0, "room", &a));
  EXPECT_FALSE(r.registry.add(0, "room", &b));
  EXPECT_FALSE(r.registry.add(0, "room", &c));
  EXPECT_TRUE(r.registry.add(1, "room", &d));   // another shard: its own first
  EXPECT_TRUE(r.registry.add(0, "other", &d));  // another room: its own first

  using Removal = RoomRegistry::Removal;
  // Removing from the middle moves the last member into the hole; each still leaves exactly once.
  EXPECT_EQ(r.registry.remove(0, "room", &a), Removal::Removed);
  EXPECT_EQ(r.registry.remove(0, "room", &a), Removal::NotMember);
  EXPECT_EQ(r.registry.remove(0, "other", &b), Removal::NotMember);
  EXPECT_EQ(r.registry.remove(1, "room", &b), Removal::NotMember);
  EXPECT_EQ(r.registry.remove(0, "room", &c), Removal::Removed);
  EXPECT_EQ(r.registry.remove(0, "room", &b), Removal::LastHere);
  EXPECT_EQ(r.registry.find(0, "room"), nullptr);
  ASSERT_NE(r.registry.find(1, "room"), nullptr);
  EXPECT_EQ(r.registry.remove(1, "room", &d), Removal::LastHere);
  EXPECT_EQ(r.registry.remove(0, "other", &d), Removal::LastHere);
}

TEST(RoomRegistry, FansOutToTheMasksShardsOnlyAtOnceAtHomeInOrderElsewhere) {
  Rooms r(3);
  RecordingMember home("home"), near("near"), far("far"), elsewhere("elsewhere");
  r.registry.add(0, "room", &home);
  r.registry.add(1, "room", &elsewhere);  // on a shard the mask leaves out
  r.registry.add(2, "room", &near);
  r.registry.add(2, "room", &far);
  ShardMask mask;
  mask.add(0);
  mask.add(2);
  const Frame one = roomtest::lineFrame(R"({"n":1})", 1);
  const Frame two = roomtest::lineFrame(R"({"n":2})", 2);
  r.registry.fanOut(0, "room", mask, one);
  r.registry.fanOut(0, "room", mask, two);
  // The home shard's members have both already; the other shard's wait for its loop.
  EXPECT_EQ(home.lines(), (Lines{R"({"n":1})", R"({"n":2})"}));
  EXPECT_TRUE(near.frames.empty());
  EXPECT_EQ(r.queues.waiting(1), 0u);
  r.queues.run(2);
  for (auto* m : {&near, &far}) {
    ASSERT_EQ(m->frames.size(), 2u);
    EXPECT_EQ(m->frames[0], one);  // the same frame, not a copy
    EXPECT_EQ(m->frames[1], two);
  }
  r.queues.run(1);
  EXPECT_TRUE(elsewhere.frames.empty());
}

TEST(RoomRegistry, AFrameForOneUserSkipsThatUsersConnections) {
  Rooms r(1);
  RecordingMember alice1("alice"), alice2("alice"), bob("bob");
  for (auto* m : {&alice1, &alice2, &bob}) r.registry.add(0, "room", m);
  auto typing = std::make_shared<WireFrame>();
  typing->bytes = "typing\n";
  typing->skipUser = "alice";
  ShardMask mask;
  mask.add(0);
  r.registry.fanOut(0, "room", mask, typing);
  EXPECT_TRUE(alice1.frames.empty());
  EXPECT_TRUE(alice2.frames.empty());
  EXPECT_EQ(bob.frames.size(), 1u);
}

TEST(RoomRegistry, AWaitingJoinOrLeaveLeavesAheadOfTheRoomsNextFrame) {
  Rooms r(1);
  RecordingMember a("a"), b("b");
  r.registry.add(0, "room", &a);
  r.registry.add(0, "room", &b);
  ShardMask mask;
  mask.add(0);
  r.registry.fanOutMembership(0, "room", mask, {Membership::Leave, 5, "c"});
  EXPECT_TRUE(a.frames.empty());  // waiting for company
  r.registry.fanOut(0, "room", mask, roomtest::lineFrame(R"({"type":"message"})", 1));
  const Lines expected{
      R"({"type":"leave","username":"c","timestamp":"1970-01-01T00:00:00.005Z","room":"room"})",
      R"({"type":"message"})"};
  EXPECT_EQ(a.lines(), expected);
  EXPECT_EQ(b.lines(), expected);
}

TEST(RoomRegistry, CountsEachRoomsMembersOnEachShard) {
  Rooms r(2);
  RecordingMember a("a"), b("b"), c("c");
  r.registry.add(0, "x", &a);
  r.registry.add(0, "x", &b);
  r.registry.add(1, "x", &c);
  r.registry.add(1, "y", &a);
  std::unordered_map<std::string, std::size_t> counts;
  r.registry.countMembers(0, counts);
  r.registry.countMembers(1, counts);
  EXPECT_EQ(counts, (std::unordered_map<std::string, std::size_t>{{"x", 3}, {"y", 1}}));
}

}  // namespace
}  // namespace parley::chat
