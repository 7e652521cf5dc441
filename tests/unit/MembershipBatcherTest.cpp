// The join/leave batcher alone: its record format, the frames a batch is cut into (and the part
// a late member gets), newcomers served at once, the size bound, and how many batches leave per
// loop turn. The Hub's tests cover its timing against a room's other traffic.
#include <gtest/gtest.h>

#include <algorithm>

#include "RoomPartsFixture.h"
#include "chat/MembershipBatcher.h"
#include "chat/RoomRegistry.h"

namespace parley::chat {
namespace {

using roomtest::RecordingMember;
using roomtest::ShardQueues;

TEST(MembershipRecord, RoundTripsEveryFieldAndChainsRecords) {
  // The longest name there can be: 32 characters of 4 bytes each.
  std::string longest;
  for (int i = 0; i < 32; ++i) longest += "\xF0\x9D\x84\x9E";  // U+1D11E
  const MembershipRecord written[] = {{Membership::Join, 1758122625123, "alice"},
                                      {Membership::Leave, -1, longest},
                                      {Membership::Join, 0, "b"}};
  std::string records;
  for (const auto& r : written) appendMembershipRecord(records, r);
  // 1 byte of change, 8 of time, 1 of length, then the name.
  EXPECT_EQ(records.size(), (10 + 5) + (10 + 128) + (10 + 1));

  std::size_t at = 0;
  for (const auto& expected : written) {
    std::size_t next = 0;
    const MembershipRecord r = readMembershipRecord(records, at, next);
    EXPECT_EQ(r.change, expected.change);
    EXPECT_EQ(r.unixMillis, expected.unixMillis);
    EXPECT_EQ(r.username, expected.username);
    EXPECT_EQ(next, at + 10 + expected.username.size());
    at = next;
  }
  EXPECT_EQ(at, records.size());
}

struct Batching {
  explicit Batching(std::size_t shards = 1)
      : queues(shards),
        env(roomtest::testEnvironment(queues, shards, &wakes)),
        batcher(env),
        registry(env, batcher) {
    all.add(0);
  }
  // A change of `room` reaching shard 0, as the owner's fan-out delivers it.
  void change(const std::string& room, Membership what, const std::string& user) {
    registry.fanOutMembership(0, room, all, {what, 1000, user});
  }
  std::vector<std::pair<std::size_t, std::int64_t>> wakes;
  ShardQueues queues;
  HubEnvironment env;
  MembershipBatcher batcher;
  RoomRegistry registry;
  ShardMask all;
};

// Not "u" + std::to_string(i): g++ 12 warns falsely (-Wrestrict, GCC bug 105329) at -O2.
std::string user(int i) {
  std::string name = "u";
  name.append(std::to_string(i));
  return name;
}

TEST(MembershipBatcher, CutsABatchIntoSharedFramesAndALateMemberGetsOnlyItsPart) {
  Batching b;
  RecordingMember early("early"), late("late");
  b.registry.add(0, "room", &early);
  for (int i = 0; i < 20; ++i) b.change("room", Membership::Join, user(i));
  b.registry.add(0, "room", &late);  // its part: the 21st change on
  for (int i = 20; i < 40; ++i) b.change("room", Membership::Leave, user(i));
  EXPECT_TRUE(early.frames.empty());  // all of it waits

  b.batcher.send("room", *b.registry.find(0, "room"), roomtest::steadyNowMs);
  // 40 changes: frames of 16, 16 and 8, in order.
  ASSERT_EQ(early.frames.size(), 3u);
  auto linesOf = [](const Frame& f) { return std::count(f->bytes.begin(), f->bytes.end(), '\n'); };
  EXPECT_EQ(linesOf(early.frames[0]), 16);
  EXPECT_EQ(linesOf(early.frames[1]), 16);
  EXPECT_EQ(linesOf(early.frames[2]), 8);
  const auto all = early.lines();
  ASSERT_EQ(all.size(), 40u);
  EXPECT_NE(all.front().find(R"("type":"join","username":"u0")"), std::string::npos);
  EXPECT_NE(all.back().find(R"("type":"leave","username":"u39")"), std::string::npos);
  // The late member: a copy of the rest of the second frame (changes 21..32), then the third
  // frame itself, shared.
  ASSERT_EQ(late.frames.size(), 2u);
  EXPECT_EQ(late.lines(), std::vector<std::string>(all.begin() + 20, all.end()));
  EXPECT_NE(late.frames[0], early.frames[1]);
  EXPECT_EQ(late.frames[1], early.frames[2]);

  // Nothing is left: sending again sends nothing.
  b.batcher.send("room", *b.registry.find(0, "room"), roomtest::steadyNowMs);
  EXPECT_EQ(early.frames.size(), 3u);
}

TEST(MembershipBatcher, ANewcomerGetsEachChangeAtOnceAndNothingWaitsWhenAllHaveIt) {
  Batching b;
  RecordingMember newcomer("n", /*catchingUp=*/true);
  b.registry.add(0, "room", &newcomer);
  b.change("room", Membership::Join, "n");
  ASSERT_EQ(newcomer.frames.size(), 1u);  // leaves with its history
  EXPECT_TRUE(b.wakes.empty());           // no one else: no batch, no timer

  roomtest::steadyNowMs += 5'000;  // a quiet room again: the next change waits a quarter second
  RecordingMember settled("s");
  b.registry.add(0, "room", &settled);
  RecordingMember second("m", /*catchingUp=*/true);
  b.registry.add(0, "room", &second);
  b.change("room", Membership::Join, "m");
  EXPECT_EQ(second.frames.size(), 1u);
  EXPECT_TRUE(settled.frames.empty());  // its part waits for the batch
  ASSERT_EQ(b.wakes.size(), 1u);
  EXPECT_EQ(b.wakes[0].second, roomtest::steadyNowMs + MembershipBatcher::kBatchMs);
}

TEST(MembershipBatcher, ABatchPastTheSizeBoundLeavesAtOnce) {
  Batching b;
  RecordingMember m("m");
  b.registry.add(0, "room", &m);
  const std::string name(100, 'x');
  std::size_t bytes = 0;
  int changes = 0;
  while (m.frames.empty()) {
    ASSERT_LT(bytes, MembershipBatcher::kBatchMaxBytes);  // below the bound, it waits
    b.change("room", Membership::Join, name);
    bytes += 10 + name.size();
    ++changes;
  }
  EXPECT_GE(bytes, MembershipBatcher::kBatchMaxBytes);
  EXPECT_EQ(m.lines().size(), static_cast<std::size_t>(changes));
}

TEST(MembershipBatcher, SendsAtMostABoundedNumberOfBatchesPerTurn) {
  Batching b;
  constexpr int kRooms = 40;
  std::vector<std::unique_ptr<RecordingMember>> members;
  for (int i = 0; i < kRooms; ++i) {
    members.push_back(std::make_unique<RecordingMember>("m"));
    b.registry.add(0, user(i), members.back().get());
    b.change(user(i), Membership::Join, "x");
  }
  const std::int64_t due = roomtest::steadyNowMs + MembershipBatcher::kBatchMs;
  ASSERT_FALSE(b.wakes.empty());
  EXPECT_EQ(b.wakes.back().second, due);
  auto sent = [&] {
    std::size_t n = 0;
    for (auto& m : members) n += m->frames.size();
    return n;
  };
  b.batcher.flushDue(0, due - MembershipBatcher::kBatchSlackMs - 1, b.registry);  // too early
  EXPECT_EQ(sent(), 0u);
  b.batcher.flushDue(0, due, b.registry);
  EXPECT_EQ(sent(), MembershipBatcher::kBatchesPerTurn);
  EXPECT_EQ(b.queues.waiting(0), 1u);  // the rest, behind what the loop has ready
  b.queues.run(0);
  EXPECT_EQ(sent(), static_cast<std::size_t>(kRooms));
}

}  // namespace
}  // namespace parley::chat
