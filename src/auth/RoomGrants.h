// RoomGrants: the rooms a token from the application reaches, and how ("parley_rooms":
// {"team-a":"write","news":"read","proj-*":"write"}). A name ending in '*' is a prefix ("*"
// alone: every room). An exact name wins over a prefix, a longer prefix over a shorter one.
// Never decides what a refusal looks like (the token paths do) and never checks room names:
// a grant for a name no room can have simply reaches nothing.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace parley::auth {

enum class GrantLevel : std::uint8_t { None, Read, Write };

class RoomGrants {
 public:
  // Adds one grant. Returns false (and adds nothing) for an empty name or a '*' anywhere but
  // at the end: a pattern Parley does not understand must refuse the token, not reach more.
  bool add(std::string_view pattern, GrantLevel access);

  GrantLevel access(std::string_view room) const;
  std::size_t size() const { return exact_.size() + prefixes_.size(); }

  bool operator==(const RoomGrants&) const = default;

 private:
  // A few entries per token: a linear scan beats any index at this size.
  std::vector<std::pair<std::string, GrantLevel>> exact_;
  std::vector<std::pair<std::string, GrantLevel>> prefixes_;  // without the '*'
};

}  // namespace parley::auth
