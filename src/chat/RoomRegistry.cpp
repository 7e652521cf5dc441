#include "chat/RoomRegistry.h"

#include <cassert>
#include <utility>

#include "auth/RoomAccess.h"
#include "chat/CloseCode.h"
#include "chat/HubEnvironment.h"
#include "chat/Protocol.h"

namespace parley::chat {

RoomRegistry::RoomRegistry(const HubEnvironment& env, MembershipBatcher& batcher)
    : env_(env), batcher_(batcher), shards_(std::make_unique<ShardState[]>(env.shardCount)) {
  assert(env.shardCount >= 1 && env.shardCount <= 64);
}

RoomRegistry::~RoomRegistry() = default;

bool RoomRegistry::add(std::size_t shard, const std::string& room, Member* member) {
  LocalRoom& local = shards_[shard].rooms[room];
  member->registrySlot_ = static_cast<std::uint32_t>(local.members.size());
  // Its part of the room's waiting batch: the changes that arrive from now on.
  member->batchFrom_ = static_cast<std::uint32_t>(local.batch.records.size());
  local.members.push_back(member);
  return local.members.size() == 1;
}

RoomRegistry::Removal RoomRegistry::remove(std::size_t shard, const std::string& room,
                                           Member* member) {
  auto& rooms = shards_[shard].rooms;
  auto it = rooms.find(room);
  if (it == rooms.end()) return Removal::NotMember;
  auto& members = it->second.members;
  const std::size_t slot = member->registrySlot_;
  if (slot >= members.size() || members[slot] != member) return Removal::NotMember;
  members[slot] = members.back();
  members[slot]->registrySlot_ = static_cast<std::uint32_t>(slot);
  members.pop_back();
  if (!members.empty()) return Removal::Removed;
  rooms.erase(it);
  return Removal::LastHere;
}

LocalRoom* RoomRegistry::find(std::size_t shard, const std::string& room) {
  auto& rooms = shards_[shard].rooms;
  auto it = rooms.find(room);
  return it == rooms.end() ? nullptr : &it->second;
}

void RoomRegistry::fanOut(std::size_t from, const std::string& room, ShardMask shards,
                          const Frame& frame) {
  shards.forEach([&](std::size_t shard) {
    if (shard == from)
      deliver(shard, room, frame);
    else
      env_.post(shard, [this, shard, room, frame] { deliver(shard, room, frame); });
  });
}

void RoomRegistry::fanOutMembership(std::size_t from, const std::string& room, ShardMask shards,
                                    const MembershipRecord& change) {
  std::string record;
  appendMembershipRecord(record, change);
  shards.forEach([&](std::size_t shard) {
    if (shard == from)
      addChange(shard, room, record);
    else
      env_.post(shard, [this, shard, room, record] { addChange(shard, room, record); });
  });
}

void RoomRegistry::deliver(std::size_t shard, const std::string& room, const Frame& frame) {
  LocalRoom* local = find(shard, room);
  if (!local) return;
  // Whatever happened in the room before this frame reaches its members before it.
  if (!local->batch.records.empty()) batcher_.send(room, *local, env_.steadyClock());
  if (frame->skipUser.empty()) {
    for (Member* m : local->members) m->deliver(frame);
    return;
  }
  for (Member* m : local->members)
    if (m->username() != frame->skipUser) m->deliver(frame);
}

void RoomRegistry::addChange(std::size_t shard, const std::string& room,
                             const std::string& record) {
  if (LocalRoom* local = find(shard, room)) batcher_.add(shard, room, *local, record);
}

void RoomRegistry::evict(std::size_t shard, const std::string& room, const auth::RoomAccess& access,
                         const LeftFn& left) {
  LocalRoom* local = find(shard, room);
  if (!local) return;
  // Judged first, told after: telling a member ends it (and maybe its connection), which changes
  // the list. Each connection is in a room at most once, so no member of this list ends another.
  std::vector<std::pair<Member*, auth::RoomVerdict>> out;
  for (Member* m : local->members)
    if (auto verdict = access.admit(room, m->username()); verdict != auth::RoomVerdict::Allowed)
      out.emplace_back(m, verdict);
  Frame notices[2];  // built once per verdict
  for (auto& [m, verdict] : out) {
    const bool banned = verdict == auth::RoomVerdict::Banned;
    Frame& notice = notices[banned ? 1 : 0];
    if (!notice) notice = env_.encode(buildUnsubscribedJson(room, auth::verdictCode(verdict)), 0);
    const std::string username = m->username();
    const bool lastHere = remove(shard, room, m) == Removal::LastHere;
    left(username, lastHere);
    m->evicted(close_code::kRemovedFromRoom,
               banned ? "banned from the room" : "no longer a member of the room", notice);
  }
}

void RoomRegistry::countMembers(std::size_t shard,
                                std::unordered_map<std::string, std::size_t>& counts) const {
  for (const auto& [room, local] : shards_[shard].rooms) counts[room] += local.members.size();
}

}  // namespace parley::chat
