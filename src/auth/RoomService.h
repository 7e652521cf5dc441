// RoomService: every change to who may be in a registered room, made on the rooms thread of its
// own: creating private rooms and direct-message rooms, adding, changing and removing members,
// banning and lifting bans. It decides who may make each change (the rules in
// docs/PROTOCOL.md, "Private rooms"), writes it through to the store (when there is one), then
// to RoomAccess, and answers. One thread makes every change, so two admins acting at once are
// served one after the other, each against what the other did. Never does socket I/O, never
// blocks a shard, and never closes a connection itself: the caller evicts when told to
// (RoomResult::evict) through the room's owner.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "store/BoundedWorker.h"
#include "store/RoomStore.h"

namespace parley::store {
class StoreConnection;
}

namespace parley::auth {

class AccountDirectory;
class RoomAccess;

enum class RoomOutcome {
  Ok,
  RoomExists,    // create: the room is registered, or has stored messages
  NoSuchRoom,    // a public room nobody registered: it has no members or bans to manage
  NotAMember,    // the caller is not a member of the private room (or the dm. name is not theirs)
  NotAllowed,    // the caller's role does not allow this change
  NoSuchUser,    // the user named has no account
  NoSuchMember,  // remove: the user is not a member
  NoSuchBan,     // unban: the user is not banned
  UserBanned,    // add: the user is banned from the room (lift the ban first)
  DirectRoom,    // a direct-message room's members are fixed
  OwnerFixed,    // the owner cannot be removed, banned, demoted, nor leave
  Self,          // a direct message or a ban aimed at oneself
  Unavailable,   // the store failed, or the service is stopping
};

struct RoomResult {
  RoomOutcome outcome = RoomOutcome::Unavailable;
  std::string room;
  std::string username;  // the user acted on, as registered
  store::RoomRole role = store::RoomRole::Member;
  bool created = false;  // openDirect: the room is new
  // Ok, and connections to the room may now be refused: the caller evicts
  // (RoomOwner::accessChanged).
  bool evict = false;
  std::string error;  // Unavailable: why, for the log
};

class RoomService {
 public:
  // The actor for the server API (PARLEY_API_KEY): manages every registered room as its owner
  // would. Not a possible user name (a control character).
  static constexpr std::string_view kServerActor = "\x01server";

  using Done = std::function<void(RoomResult)>;  // called on the service's thread

  // `rooms`: the service's own store connection (its RoomStore and AccountStore), or null with
  // --db none (rooms then live in memory and go with the process, like the messages).
  // `access` is loaded from it here (start-up: throws if the store cannot be read). `names`
  // says which names have accounts when there is no store. `nowMillis`: unix ms.
  RoomService(std::unique_ptr<store::StoreConnection> rooms, RoomAccess& access,
              const AccountDirectory& names, std::function<std::int64_t()> nowMillis,
              std::size_t maxQueued = 256);
  ~RoomService();  // answers what is still queued with Unavailable, then stops
  RoomService(const RoomService&) = delete;
  RoomService& operator=(const RoomService&) = delete;

  // Any thread. False when the queue is full (`done` is then never called): answer "busy".
  // `actor` is the signed-in caller's name; `room` and user names are already valid.
  bool create(std::string actor, std::string room, bool isPrivate, Done done);
  bool openDirect(std::string actor, std::string other, Done done);
  bool addMember(std::string actor, std::string room, std::string user, store::RoomRole role,
                 Done done);
  bool removeMember(std::string actor, std::string room, std::string user, Done done);
  bool ban(std::string actor, std::string room, std::string user, Done done);
  bool unban(std::string actor, std::string room, std::string user, Done done);
  // Any thread: reads every registered room from the store again into the access table, then
  // calls `then` on the service's thread (ok: the read succeeded). For a cluster, whose other
  // instances change rooms in the shared store: each instance's table learns of it this way.
  bool reload(std::function<void(bool ok)> then);

 private:
  using Work = std::function<RoomResult()>;
  struct Job {
    Work work;
    Done done;
  };
  bool submit(Work work, Done done);
  static void run(Job& job, bool stopping);

  // On the service's thread.
  RoomResult doCreate(const std::string& actor, const std::string& room, bool isPrivate);
  RoomResult doOpenDirect(const std::string& actor, const std::string& other);
  RoomResult doAddMember(const std::string& actor, const std::string& room, const std::string& user,
                         store::RoomRole role);
  RoomResult doRemoveMember(const std::string& actor, const std::string& room,
                            const std::string& user);
  RoomResult doBan(const std::string& actor, const std::string& room, const std::string& user);
  RoomResult doUnban(const std::string& actor, const std::string& room, const std::string& user);
  // The account of `name` as registered; nothing when it has none; `failed` on a store error.
  std::optional<std::string> accountName(const std::string& name, RoomResult& failed);
  // The caller's standing in a room they want to manage: Ok with their role, or the refusal.
  RoomOutcome managerRole(const std::string& actor, const std::string& room,
                          std::optional<store::RoomRole>& role, bool& direct);

  std::unique_ptr<store::StoreConnection> store_;
  RoomAccess& access_;
  const AccountDirectory& names_;
  std::function<std::int64_t()> nowMillis_;
  store::BoundedWorker<Job> worker_;  // last: joined before what its jobs use goes
};

}  // namespace parley::auth
