// ModerationPolicy: the one question the moderation path asks, "may this actor moderate this
// room?" (delete any message of it, not only its own). Asked by the room's owner on the room's
// home shard, once per edit or delete, before the change goes to the store; the answer travels
// with the change (store::MessageChange::moderator) and the store applies the rule.
// Never reads the store and never blocks: an implementation answers from memory.
//
// ServerKeyModeration: the server's API key (PARLEY_API_KEY) may moderate every room, and no
// user may (a server without registered rooms). RoomRoleModeration: the key, and a signed-in
// user whose role in the room (auth::RoomAccess, registered rooms) is owner or admin.
#pragma once

#include <string>
#include <string_view>

namespace parley::auth {
class RoomAccess;
}

namespace parley::chat {

// Who asks for an edit or a delete.
struct Actor {
  std::string username;    // the connection's or the token's name; empty for the API key
  bool signedIn = false;   // the name is proven (a token): only then is it an author
  bool serverKey = false;  // the request carried the server's API key
};

class ModerationPolicy {
 public:
  virtual ~ModerationPolicy() = default;
  // On `room`'s home shard.
  virtual bool mayModerate(const Actor& actor, std::string_view room) const = 0;
};

// The server's API key moderates every room; no user does (there are no room roles yet).
class ServerKeyModeration final : public ModerationPolicy {
 public:
  bool mayModerate(const Actor& actor, std::string_view) const override { return actor.serverKey; }
};

// The key, and a registered room's owners and admins (signed in: a name without a token proves
// nothing). `access` outlives the policy.
class RoomRoleModeration final : public ModerationPolicy {
 public:
  explicit RoomRoleModeration(const auth::RoomAccess& access) : access_(access) {}
  bool mayModerate(const Actor& actor, std::string_view room) const override;

 private:
  const auth::RoomAccess& access_;
};

}  // namespace parley::chat
