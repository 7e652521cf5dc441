// RoomVerdict: what a room says to one user who wants to be in it (auth/RoomAccess decides), in a
// header of its own so that the parts that only pass a verdict on need not include the access
// table. Values only.
#pragma once

#include <cstdint>
#include <string_view>

namespace parley::auth {

enum class RoomVerdict : std::uint8_t {
  Allowed,
  NotMember,  // a private room (or a direct-message name) the user is not a member of
  Banned,     // the user is banned from the room
};

// "not_a_member" / "banned" (the error codes of docs/PROTOCOL.md); "" for Allowed.
inline std::string_view verdictCode(RoomVerdict verdict) {
  switch (verdict) {
    case RoomVerdict::NotMember:
      return "not_a_member";
    case RoomVerdict::Banned:
      return "banned";
    case RoomVerdict::Allowed:
      break;
  }
  return "";
}

}  // namespace parley::auth
