// Registered rooms: what RoomAccess answers (private rooms, bans, lookalike names, the reserved
// direct-message names), the rules RoomService applies to each change (who may add, remove, ban
// whom), and the registry's eviction of members the access no longer admits.
#include <gtest/gtest.h>

#include <future>

#include "RoomPartsFixture.h"
#include "auth/AccountDirectory.h"
#include "auth/RoomAccess.h"
#include "auth/RoomService.h"
#include "chat/CloseCode.h"
#include "chat/RoomRegistry.h"
#include "store/AccountStore.h"
#include "store/StoreConnection.h"

namespace parley::auth {
namespace {

using store::RoomRole;

store::RegisteredRoom privateRoom(std::string name, std::vector<std::string> members) {
  store::RegisteredRoom r;
  r.room = std::move(name);
  r.isPrivate = true;
  for (std::size_t i = 0; i < members.size(); ++i)
    r.members.push_back(
        {store::accountKey(members[i]), members[i], i == 0 ? RoomRole::Owner : RoomRole::Member});
  return r;
}

TEST(RoomAccess, PrivateRoomsAdmitMembersOnlyAndBansRefuseAnywhere) {
  RoomAccess access;
  EXPECT_EQ(access.admit("general", "anyone"), RoomVerdict::Allowed);  // nothing registered
  access.putRoom(privateRoom("team", {"Alice", "Bob", "Carol"}));
  store::RegisteredRoom open;
  open.room = "lobby";
  open.members = {{store::accountKey("Alice"), "Alice", RoomRole::Owner}};
  access.putRoom(open);
  EXPECT_EQ(access.admit("team", "Alice"), RoomVerdict::Allowed);
  EXPECT_EQ(access.admit("team", "bob"), RoomVerdict::Allowed);  // Bob, by his key
  EXPECT_EQ(access.admit("team",
                         "\xd0\xa1"
                         "arol"),
            RoomVerdict::Allowed);  // Cyrillic С: Carol's look
  EXPECT_EQ(access.admit("team", "Mallory"), RoomVerdict::NotMember);
  EXPECT_EQ(access.admit("team", "anonymous"), RoomVerdict::NotMember);
  EXPECT_EQ(access.admit("lobby", "Mallory"), RoomVerdict::Allowed);  // public
  EXPECT_EQ(access.admit("general", "Mallory"), RoomVerdict::Allowed);
  access.putBan("lobby", {store::accountKey("Mallory"), "Mallory", 1});
  access.putBan("team", {store::accountKey("Bob"), "Bob", 1});
  EXPECT_EQ(access.admit("lobby", "MALLORY"), RoomVerdict::Banned);
  EXPECT_EQ(access.admit("team", "Bob"), RoomVerdict::Banned);  // and no longer a member
  EXPECT_FALSE(access.roleOf("team", "Bob"));
  access.removeBan("team", store::accountKey("Bob"));
  EXPECT_EQ(access.admit("team", "Bob"), RoomVerdict::NotMember);
  EXPECT_EQ(access.privateRoomsOf("alice"), (std::vector<std::string>{"team"}));
  EXPECT_TRUE(access.privateRoomsOf("Bob").empty());
  EXPECT_EQ(access.roleOf("team", "Alice"), RoomRole::Owner);
}

TEST(RoomAccess, DirectNamesAreOnePerPairAndRefuseStrangersWhetherTheyExistOrNot) {
  const std::string ab = RoomAccess::directRoomName("alice", "bob");
  EXPECT_EQ(ab, RoomAccess::directRoomName("bob", "alice"));
  EXPECT_NE(ab, RoomAccess::directRoomName("alice", "carol"));
  EXPECT_NE(ab, RoomAccess::directRoomName("alic", "ebob"));  // the keys' boundary counts
  EXPECT_EQ(ab.size(), 35u);
  EXPECT_TRUE(ab.starts_with("dm."));
  RoomAccess access;
  EXPECT_EQ(access.admit(ab, "Mallory"), RoomVerdict::NotMember);  // no room yet: same answer
  access.putRoom(privateRoom("other", {"Carol"}));
  EXPECT_EQ(access.admit(ab, "Mallory"), RoomVerdict::NotMember);
  EXPECT_EQ(access.admit("dm.whatever", "Alice"), RoomVerdict::NotMember);
}

// RoomService with --db none: the rules of who may change what, one change at a time.
class RoomServiceTest : public ::testing::Test {
 protected:
  RoomServiceTest() {
    for (const char* name : {"Alice", "Bob", "Carol", "Dave", "Eve"})
      names.add(store::accountKey(name));
  }
  using Call = bool (RoomService::*)(std::string, std::string, std::string, RoomService::Done);
  RoomResult wait(const std::function<bool(RoomService::Done)>& submit) {
    std::promise<RoomResult> p;
    auto f = p.get_future();
    EXPECT_TRUE(submit([&p](RoomResult r) { p.set_value(std::move(r)); }));
    return f.get();
  }
  RoomOutcome create(std::string actor, std::string room, bool isPrivate = true) {
    return wait([&](auto done) { return service.create(actor, room, isPrivate, done); }).outcome;
  }
  RoomResult add(std::string actor, std::string user, RoomRole role = RoomRole::Member) {
    return wait([&](auto done) { return service.addMember(actor, "team", user, role, done); });
  }
  RoomResult remove(std::string actor, std::string user) {
    return wait([&](auto done) { return service.removeMember(actor, "team", user, done); });
  }
  RoomResult ban(std::string actor, std::string user) {
    return wait([&](auto done) { return service.ban(actor, "team", user, done); });
  }
  RoomResult unban(std::string actor, std::string user) {
    return wait([&](auto done) { return service.unban(actor, "team", user, done); });
  }
  RoomResult direct(std::string actor, std::string other) {
    return wait([&](auto done) { return service.openDirect(actor, other, done); });
  }

  AccountDirectory names;
  RoomAccess access;
  RoomService service{nullptr, access, names, [] { return std::int64_t{5'000}; }};
};

TEST_F(RoomServiceTest, OwnersAndAdminsManageMembersWithinTheirRoles) {
  EXPECT_EQ(create("Alice", "team"), RoomOutcome::Ok);
  EXPECT_EQ(create("Bob", "team"), RoomOutcome::RoomExists);
  EXPECT_EQ(create("Nobody", "other"), RoomOutcome::NoSuchUser);
  EXPECT_EQ(add("Alice", "Bob", RoomRole::Admin).outcome, RoomOutcome::Ok);
  EXPECT_EQ(add("alice", "Nobody").outcome, RoomOutcome::NoSuchUser);
  EXPECT_EQ(add("Bob", "Carol", RoomRole::Admin).outcome, RoomOutcome::NotAllowed);  // owner's
  EXPECT_EQ(add("Bob", "Carol").outcome, RoomOutcome::Ok);
  EXPECT_EQ(add("Carol", "Dave").outcome, RoomOutcome::NotAllowed);  // a member adds no one
  EXPECT_EQ(add("Dave", "Dave").outcome, RoomOutcome::NotAMember);   // nor does a stranger
  EXPECT_EQ(add("Bob", "Alice", RoomRole::Member).outcome, RoomOutcome::OwnerFixed);
  EXPECT_EQ(add("Alice", "Bob").outcome, RoomOutcome::Ok);  // the owner demotes an admin
  EXPECT_EQ(access.roleOf("team", "Bob"), RoomRole::Member);
  EXPECT_EQ(add("Alice", "Bob", RoomRole::Admin).outcome, RoomOutcome::Ok);

  add("Alice", "Dave", RoomRole::Admin);
  EXPECT_EQ(remove("Bob", "Dave").outcome, RoomOutcome::NotAllowed);  // admins keep each other
  EXPECT_EQ(remove("Bob", "Alice").outcome, RoomOutcome::OwnerFixed);
  EXPECT_EQ(remove("Alice", "Alice").outcome, RoomOutcome::OwnerFixed);  // the owner stays
  EXPECT_EQ(remove("Bob", "Eve").outcome, RoomOutcome::NoSuchMember);
  RoomResult removed = remove("Bob", "carol");
  EXPECT_EQ(removed.outcome, RoomOutcome::Ok);
  EXPECT_EQ(removed.username, "Carol");  // as registered
  EXPECT_TRUE(removed.evict);
  EXPECT_EQ(access.admit("team", "Carol"), RoomVerdict::NotMember);
  EXPECT_EQ(remove("Dave", "Dave").outcome, RoomOutcome::Ok);  // anyone may leave
}

TEST_F(RoomServiceTest, BansTakeMembersOutAndRefuseThemUntilLifted) {
  ASSERT_EQ(create("Alice", "team"), RoomOutcome::Ok);
  add("Alice", "Bob", RoomRole::Admin);
  add("Alice", "Eve");
  add("Alice", "Dave", RoomRole::Admin);
  EXPECT_EQ(ban("Eve", "Bob").outcome, RoomOutcome::NotAllowed);
  EXPECT_EQ(ban("Bob", "Dave").outcome, RoomOutcome::NotAllowed);  // an admin: the owner's call
  EXPECT_EQ(ban("Bob", "Alice").outcome, RoomOutcome::OwnerFixed);
  EXPECT_EQ(ban("Bob", "Bob").outcome, RoomOutcome::Self);
  RoomResult banned = ban("Bob", "eve");
  EXPECT_EQ(banned.outcome, RoomOutcome::Ok);
  EXPECT_TRUE(banned.evict);
  EXPECT_EQ(banned.username, "eve");  // --db none: the name as given (the key is what counts)
  EXPECT_EQ(access.admit("team", "Eve"), RoomVerdict::Banned);
  EXPECT_FALSE(access.roleOf("team", "Eve"));
  EXPECT_EQ(add("Alice", "Eve").outcome, RoomOutcome::UserBanned);
  EXPECT_EQ(ban("Bob", "Guest42").outcome, RoomOutcome::Ok);  // a name without an account
  EXPECT_EQ(unban("Eve", "Eve").outcome, RoomOutcome::NotAMember);
  EXPECT_EQ(unban("Bob", "Carol").outcome, RoomOutcome::NoSuchBan);
  EXPECT_EQ(unban("Bob", "EVE").outcome, RoomOutcome::Ok);
  EXPECT_EQ(access.admit("team", "Eve"), RoomVerdict::NotMember);  // out, not back in
  EXPECT_EQ(add("Alice", "Eve").outcome, RoomOutcome::Ok);
}

TEST_F(RoomServiceTest, DirectMessagesAreOneRoomPerPairWithFixedMembers) {
  RoomResult ab = direct("Alice", "Bob");
  ASSERT_EQ(ab.outcome, RoomOutcome::Ok);
  EXPECT_TRUE(ab.created);
  EXPECT_EQ(ab.username, "Bob");
  RoomResult ba = direct("bob", "alice");
  EXPECT_EQ(ba.outcome, RoomOutcome::Ok);
  EXPECT_FALSE(ba.created);
  EXPECT_EQ(ba.room, ab.room);
  EXPECT_EQ(access.admit(ab.room, "Alice"), RoomVerdict::Allowed);
  EXPECT_EQ(access.admit(ab.room, "Bob"), RoomVerdict::Allowed);
  EXPECT_EQ(access.admit(ab.room, "Carol"), RoomVerdict::NotMember);
  EXPECT_EQ(direct("Alice", "Nobody").outcome, RoomOutcome::NoSuchUser);
  EXPECT_EQ(direct("Alice", "ALICE").outcome, RoomOutcome::Self);
  EXPECT_EQ(wait([&](auto done) {
              return service.addMember("Alice", ab.room, "Carol", RoomRole::Member, done);
            }).outcome,
            RoomOutcome::DirectRoom);
  EXPECT_EQ(
      wait([&](auto done) { return service.removeMember("Carol", ab.room, "Bob", done); }).outcome,
      RoomOutcome::NotAMember);
  EXPECT_EQ(create("Alice", "public-one", false), RoomOutcome::Ok);
  EXPECT_EQ(access.admit("public-one", "Carol"), RoomVerdict::Allowed);
}

}  // namespace
}  // namespace parley::auth

namespace parley::chat {
namespace {

using roomtest::RecordingMember;
using roomtest::ShardQueues;

// The registry cuts, on its shard, every member the access no longer admits: each is out of
// the room before it is told, told once with 4003 and an `unsubscribed` notice, and its leave
// is handed on; the others stay.
TEST(RoomRegistryEviction, CutsOnlyTheMembersTheAccessRefuses) {
  ShardQueues queues(1);
  HubEnvironment env = roomtest::testEnvironment(queues, 1, nullptr);
  MembershipBatcher batcher(env);
  RoomRegistry registry(env, batcher);
  auth::RoomAccess access;
  store::RegisteredRoom team;
  team.room = "team";
  team.isPrivate = true;
  team.members = {{store::accountKey("Alice"), "Alice", store::RoomRole::Owner},
                  {store::accountKey("Eve"), "Eve", store::RoomRole::Member}};
  access.putRoom(team);
  RecordingMember alice("Alice"), eve("Eve"), eve2("Eve"), bob("Bob");
  registry.add(0, "team", &alice);
  registry.add(0, "team", &eve);
  registry.add(0, "team", &eve2);
  std::vector<std::pair<std::string, bool>> left;
  auto onLeft = [&](const std::string& user, bool last) { left.emplace_back(user, last); };
  registry.evict(0, "team", access, onLeft);
  EXPECT_TRUE(left.empty());  // everyone is still admitted

  access.removeMember("team", store::accountKey("Eve"));
  registry.evict(0, "team", access, onLeft);
  EXPECT_EQ(left.size(), 2u);
  EXPECT_EQ(eve.evictedWith, close_code::kRemovedFromRoom);
  EXPECT_EQ(eve2.evictedWith, close_code::kRemovedFromRoom);
  EXPECT_EQ(alice.evictedWith, 0);
  EXPECT_EQ(
      eve.lines(),
      (std::vector<std::string>{R"({"type":"unsubscribed","room":"team","code":"not_a_member"})"}));
  ASSERT_NE(registry.find(0, "team"), nullptr);
  EXPECT_EQ(registry.find(0, "team")->members, (std::vector<Member*>{&alice}));

  access.putBan("team", {store::accountKey("Alice"), "Alice", 1});
  registry.evict(0, "team", access, onLeft);
  EXPECT_EQ(left.back(), (std::pair<std::string, bool>{"Alice", true}));  // the last one here
  EXPECT_EQ(alice.lines().back(), R"({"type":"unsubscribed","room":"team","code":"banned"})");
  EXPECT_EQ(registry.find(0, "team"), nullptr);
  (void)bob;
}

}  // namespace
}  // namespace parley::chat
