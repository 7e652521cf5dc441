#include "chat/ModerationPolicy.h"

#include "auth/RoomAccess.h"

namespace parley::chat {

bool RoomRoleModeration::mayModerate(const Actor& actor, std::string_view room) const {
  if (actor.serverKey) return true;
  if (!actor.signedIn || actor.username.empty()) return false;
  const auto role = access_.roleOf(room, actor.username);
  return role && (*role == store::RoomRole::Owner || *role == store::RoomRole::Admin);
}

}  // namespace parley::chat
