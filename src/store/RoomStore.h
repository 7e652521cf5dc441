// RoomStore: the registered rooms (private rooms, direct-message rooms, public rooms with an
// owner), their members with their roles, and their bans, beside the messages in the same
// database. What auth/RoomService writes through and loads at start-up. Blocking calls made only
// from the rooms thread (and at start-up): never from an event loop. Users are named by their
// account key (store::accountKey), so that lookalike names are one person here as at login.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/StoreStatus.h"

namespace parley::store {

enum class RoomRole : std::uint8_t { Member = 1, Admin = 2, Owner = 3 };

inline std::string_view roomRoleName(RoomRole role) {
  switch (role) {
    case RoomRole::Owner:
      return "owner";
    case RoomRole::Admin:
      return "admin";
    case RoomRole::Member:
      break;
  }
  return "member";
}

inline std::optional<RoomRole> parseRoomRole(std::string_view name) {
  if (name == "member") return RoomRole::Member;
  if (name == "admin") return RoomRole::Admin;
  if (name == "owner") return RoomRole::Owner;
  return std::nullopt;
}

struct RoomGrant {
  std::string userKey;   // accountKey(username)
  std::string username;  // as registered
  RoomRole role = RoomRole::Member;
  friend bool operator==(const RoomGrant&, const RoomGrant&) = default;
};

struct RoomBan {
  std::string userKey;
  std::string username;  // as the ban named it (registered spelling when there is an account)
  std::int64_t createdMillis = 0;
  friend bool operator==(const RoomBan&, const RoomBan&) = default;
};

struct RegisteredRoom {
  std::string room;
  bool isPrivate = false;  // only members join, read or see it
  bool direct = false;     // a direct-message room: its two members are fixed
  std::int64_t createdMillis = 0;
  std::vector<RoomGrant> members;  // load order: by user key
  std::vector<RoomBan> bans;       // load order: by user key
  friend bool operator==(const RegisteredRoom&, const RegisteredRoom&) = default;
};

class RoomStore {
 public:
  virtual ~RoomStore() = default;

  // Registers `room` with its first members (its `bans` are ignored) in one transaction, unless
  // a room of that name is registered already (`created` false then, and nothing changes).
  virtual StoreStatus createRoom(const RegisteredRoom& room, bool& created) = 0;
  // Adds a member to a registered room, or changes the member's role.
  virtual StoreStatus putMember(std::string_view room, const RoomGrant& grant) = 0;
  virtual StoreStatus removeMember(std::string_view room, std::string_view userKey) = 0;
  // Bans a user from a registered room and takes them out of its members, in one transaction.
  virtual StoreStatus putBan(std::string_view room, const RoomBan& ban) = 0;
  virtual StoreStatus removeBan(std::string_view room, std::string_view userKey) = 0;
  // Every registered room with its members and bans, by name (start-up).
  virtual StoreStatus loadRooms(std::vector<RegisteredRoom>& out) = 0;
};

}  // namespace parley::store
