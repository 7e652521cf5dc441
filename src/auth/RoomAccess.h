// RoomAccess: who may be in which room, in memory, for every shard to ask on a join, a subscribe
// and a REST read: the registered rooms (private rooms, direct-message rooms, public rooms with
// an owner), their members with roles, and their bans. A room that is not registered is public
// and unowned: everyone may be in it, as before rooms could be registered. Names are compared by
// their account key (store::accountKey), as at login, so "eve" and "Еve" (Cyrillic Е) are one.
//
// Written only by the rooms thread (auth/RoomService), after the store took the change, and at
// start-up; read by any thread. Asked once per join or subscribe, never per message: a member
// removed or banned later is cut by eviction (RoomOwner::accessChanged), not by a check on each send
// (docs/decisions/0045-private-rooms.md). Never does I/O.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "auth/RoomVerdict.h"
#include "store/RoomStore.h"
#include "store/StringHash.h"

namespace parley::auth {

class RoomAccess {
 public:
  // Direct-message rooms are named "dm." and 32 hex digits (directRoomName). The prefix is
  // reserved: no public room of that shape springs into being, so every such name answers
  // not_a_member to a stranger whether the pair has a room or not.
  static constexpr std::string_view kDirectPrefix = "dm.";
  static bool isDirectName(std::string_view room) { return room.starts_with(kDirectPrefix); }
  // The room of the two account keys, the same whichever comes first: "dm." and the first 16
  // bytes of SHA-256 over the keys in byte order, in hex.
  static std::string directRoomName(std::string_view keyA, std::string_view keyB);

  // Any thread. While no room is registered, one atomic load; else the user's account key
  // (0.07 µs for a short ASCII name) and a lookup under a shared lock.
  RoomVerdict admit(std::string_view room, std::string_view username) const;
  // The registered room, copied; nothing when `room` is not registered.
  std::optional<store::RegisteredRoom> find(std::string_view room) const;
  // The role of `username` in `room` (nothing: not a member, or not registered).
  std::optional<store::RoomRole> roleOf(std::string_view room, std::string_view username) const;
  // The private rooms `username` is a member of (what GET /api/rooms adds for them), by name.
  std::vector<std::string> privateRoomsOf(std::string_view username) const;
  bool isPrivate(std::string_view room) const;
  std::size_t size() const { return count_.load(std::memory_order_acquire); }

  // The rooms thread (and start-up) only: each after the store took the change.
  void load(std::vector<store::RegisteredRoom> rooms);
  void putRoom(store::RegisteredRoom room);
  void putMember(std::string_view room, store::RoomGrant grant);
  void removeMember(std::string_view room, std::string_view userKey);
  void putBan(std::string_view room, store::RoomBan ban);  // and out of the members
  void removeBan(std::string_view room, std::string_view userKey);

 private:
  struct Entry {
    bool isPrivate = false;
    bool direct = false;
    std::int64_t createdMillis = 0;
    std::map<std::string, store::RoomGrant, std::less<>> members;  // by user key
    std::map<std::string, store::RoomBan, std::less<>> bans;       // by user key
  };
  using Rooms = std::unordered_map<std::string, Entry, store::StringHash, std::equal_to<>>;
  void indexMember(const std::string& room, const Entry& e, const std::string& userKey);
  void unindexMember(std::string_view room, std::string_view userKey);

  mutable std::shared_mutex mutex_;
  Rooms rooms_;
  // The private rooms of each user key, for the room list.
  std::unordered_map<std::string, std::set<std::string, std::less<>>, store::StringHash,
                     std::equal_to<>>
      memberOf_;
  std::atomic<std::size_t> count_{0};  // registered rooms: lets admit() skip the lock at 0
};

}  // namespace parley::auth
