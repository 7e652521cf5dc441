// ModerationPolicy: the one question the moderation path asks, "may this actor moderate this
// room?" (delete any message of it, not only its own). Asked by the room's owner on the room's
// home shard, once per edit or delete, before the change goes to the store; the answer travels
// with the change (store::MessageChange::moderator) and the store applies the rule.
// Never reads the store and never blocks: an implementation answers from memory.
//
// Today's only implementation, ServerKeyModeration, answers from what exists: the server's API
// key (PARLEY_API_KEY) may moderate every room, and no user may. Room owners and admins (private
// rooms, issue 18) plug in here as a second implementation that also asks the room's roles,
// which the room's owner keeps; nothing else in the moderation path changes with it.
#pragma once

#include <string>
#include <string_view>

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

}  // namespace parley::chat
