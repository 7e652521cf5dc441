#include "chat/Hub.h"

#include <utility>

#include "auth/RoomAccess.h"
#include "chat/CatchUp.h"
#include "chat/HomeShardOwner.h"
#include "chat/MembershipBatcher.h"
#include "chat/RoomRegistry.h"

namespace parley::chat {

Hub::Hub(HubEnvironment env)
    : env_(std::move(env)),
      batcher_(std::make_unique<MembershipBatcher>(env_)),
      registry_(std::make_unique<RoomRegistry>(env_, *batcher_)),
      // The single server's owner, or the cluster's (HubEnvironment::makeOwner); both ask the
      // moderation policy who may delete others' messages.
      moderation_(env_.access ? std::unique_ptr<ModerationPolicy>(
                                    std::make_unique<RoomRoleModeration>(*env_.access))
                              : std::make_unique<ServerKeyModeration>()),
      owner_(env_.makeOwner ? env_.makeOwner(env_, *registry_, *moderation_)
                            : std::make_unique<HomeShardOwner>(env_, *registry_, *moderation_)),
      catchUp_(std::make_unique<CatchUp>(env_)),
      queries_(std::make_unique<RoomQueries>(env_, *registry_)) {}

Hub::~Hub() = default;

void Hub::join(std::size_t shard, const std::string& room, Member* member,
               std::weak_ptr<Member> handle, std::optional<std::uint64_t> since) {
  const bool firstHere = registry_->add(shard, room, member);
  // The owner answers on this shard once the member is registered where the room's order is
  // kept: every message after the seam reaches it live, every one before is in the read.
  owner_->join(shard, room, member->username(), firstHere, catchUp_->needsSeam(since),
               [this, shard, room, handle = std::move(handle), since](JoinAnswer answer) mutable {
                 catchUp_->finish(shard, room, std::move(handle), since, std::move(answer));
               });
}

void Hub::leave(std::size_t shard, const std::string& room, Member* member) {
  const RoomRegistry::Removal removal = registry_->remove(shard, room, member);
  if (removal == RoomRegistry::Removal::NotMember) return;
  owner_->leave(shard, room, member->username(), removal == RoomRegistry::Removal::LastHere);
}

void Hub::typing(std::size_t shard, const std::string& room, const std::string& username,
                 bool state) {
  owner_->typing(shard, room, username, state);
}

void Hub::publish(std::size_t shard, const std::string& room, Publish message) {
  owner_->publish(shard, room, std::move(message));
}

void Hub::change(std::size_t shard, const std::string& room, MessageEdit edit, EditDone done) {
  owner_->change(shard, room, std::move(edit), std::move(done));
}

void Hub::presence(std::size_t shard, const std::string& room,
                   std::function<void(std::vector<std::string>)> done) {
  owner_->presence(shard, room, std::move(done));
}

void Hub::tick(std::size_t shard) { owner_->tick(shard); }

auth::RoomVerdict Hub::admit(std::string_view room, std::string_view username) const {
  return env_.access ? env_.access->admit(room, username) : auth::RoomVerdict::Allowed;
}

void Hub::accessChanged(std::size_t shard, const std::string& room, bool mayRefuse) {
  owner_->accessChanged(shard, room, mayRefuse);
}

void Hub::flushBatches(std::size_t shard, std::int64_t nowMs) {
  batcher_->flushDue(shard, nowMs, *registry_);
}

void Hub::history(std::size_t shard, const std::string& room, std::uint64_t before,
                  std::size_t limit, std::function<void(HistoryPage)> done) {
  queries_->history(shard, room, before, limit, std::move(done));
}

void Hub::listRooms(std::size_t shard, std::size_t limit,
                    std::function<void(bool ok, std::vector<RoomInfo>)> done) {
  queries_->listRooms(shard, limit, std::move(done));
}

std::size_t Hub::roomCount() const { return owner_->counts().rooms; }
std::uint64_t Hub::messagesSequenced() const { return owner_->counts().sequenced; }
std::uint64_t Hub::storeRefusals() const { return owner_->counts().storeRefusals; }
std::uint64_t Hub::duplicatesSuppressed() const { return owner_->counts().duplicates; }
std::uint64_t Hub::catchUpMarkers() const { return owner_->counts().seamsFromStore; }
std::uint64_t Hub::catchUpReads() const { return catchUp_->reads(); }

}  // namespace parley::chat
