// RoomRegistry: the rooms' local members, per shard, and the fan-out that hands a room's frames
// to them. A room's owner (RoomOwner.h) keeps, on the room's home shard, the mask of shards with
// members (ShardMask) and calls fanOut() there; each shard then delivers to its own members.
// Each shard's part is touched by that shard's thread only (no lock). Never sequences, stores or
// judges a frame, and never lets a member call back into it (Member.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "chat/Member.h"
#include "chat/MembershipBatcher.h"

namespace parley::auth {
class RoomAccess;
}

namespace parley::chat {

struct HubEnvironment;

// The shards of this server with members of one room: bit i for shard i (at most 64 shards).
class ShardMask {
 public:
  void add(std::size_t shard) { bits_ |= bit(shard); }
  void remove(std::size_t shard) { bits_ &= ~bit(shard); }
  bool has(std::size_t shard) const { return (bits_ & bit(shard)) != 0; }
  bool empty() const { return bits_ == 0; }
  std::uint64_t bits() const { return bits_; }
  // Calls f(shard) for each shard in the mask, lowest first.
  template <typename F>
  void forEach(F&& f) const {
    for (std::uint64_t m = bits_; m != 0; m &= m - 1)
      f(static_cast<std::size_t>(__builtin_ctzll(m)));
  }

 private:
  static std::uint64_t bit(std::size_t shard) { return std::uint64_t{1} << shard; }
  std::uint64_t bits_ = 0;
};

// A room's members on one shard.
struct LocalRoom {
  std::vector<Member*> members;  // newcomers still catching up are at the end (see add())
  PendingBatch batch;            // joins/leaves waiting to leave together (MembershipBatcher)
};

class RoomRegistry {
 public:
  RoomRegistry(const HubEnvironment& env, MembershipBatcher& batcher);
  ~RoomRegistry();
  RoomRegistry(const RoomRegistry&) = delete;
  RoomRegistry& operator=(const RoomRegistry&) = delete;

  // On `shard`: adds `member` to `room`. True when it is the room's first member on this shard
  // (the owner must add the shard to the room's mask).
  bool add(std::size_t shard, const std::string& room, Member* member);
  enum class Removal : std::uint8_t {
    NotMember,  // nothing changed
    Removed,    // others of the room remain on this shard
    LastHere,   // it was the room's last member on this shard (the owner must drop the shard)
  };
  Removal remove(std::size_t shard, const std::string& room, Member* member);
  // On `shard`: the room's members there, or null.
  LocalRoom* find(std::size_t shard, const std::string& room);

  // On `from` (the room's home shard): `frame` to the room's members on every shard of
  // `shards`, at once on `from`, posted to the others. Posts from one shard to another run in
  // order, so every shard sees the room's frames and join/leave changes in the order `from`
  // made them. Per delivery: one pointer pushed on the member's queue (the frame is shared).
  void fanOut(std::size_t from, const std::string& room, ShardMask shards, const Frame& frame);
  // The same for a join or leave: each shard adds it to the room's waiting batch there.
  void fanOutMembership(std::size_t from, const std::string& room, ShardMask shards,
                        const MembershipRecord& change);

  // On `shard`: takes out of `room` every member whose user `access` no longer admits (removed
  // from a private room, banned), each told so after it is out (Member::evicted: close 4003, or
  // an `unsubscribed` frame on /ws). `left(username, lastHere)` runs for each before it is told,
  // so that the owner counts the leave. Cost: one access check per local member of the room.
  using LeftFn = std::function<void(const std::string& username, bool lastHere)>;
  void evict(std::size_t shard, const std::string& room, const auth::RoomAccess& access,
             const LeftFn& left);

  // On `shard`: adds each room's number of members (connections) on this shard to `counts`.
  void countMembers(std::size_t shard, std::unordered_map<std::string, std::size_t>& counts) const;

 private:
  void deliver(std::size_t shard, const std::string& room, const Frame& frame);
  void addChange(std::size_t shard, const std::string& room, const std::string& record);

  struct alignas(64) ShardState {
    std::unordered_map<std::string, LocalRoom> rooms;
  };

  const HubEnvironment& env_;
  MembershipBatcher& batcher_;
  std::unique_ptr<ShardState[]> shards_;
};

}  // namespace parley::chat
