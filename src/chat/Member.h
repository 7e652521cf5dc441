// Member: a local member of a room (one WebSocket connection's end of it) as the room parts see
// it, and WireFrame, the immutable frame every recipient of a broadcast shares.
// The room parts call a member on its own shard's thread only; a member's calls must only queue,
// never close the connection or call back into the rooms (the fan-out loop walks the member list).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace parley::chat {

// A complete frame as it goes on the wire: the same immutable bytes for every recipient.
struct WireFrame {
  std::string bytes;
  std::uint64_t messageId = 0;  // chat messages only: lets a catching-up member drop duplicates
  std::string skipUser;         // typing frames: not for the typer's own connections
};
using Frame = std::shared_ptr<const WireFrame>;

class Member {
 public:
  virtual const std::string& username() const = 0;
  virtual void deliver(const Frame& frame) = 0;
  // Ends the catch-up that join() started: send `frames` (history, then presence) first, then
  // the live frames held since join whose id is above `coveredId`. A message frame with an id
  // at or below `coveredId` may still arrive after this call (its fan-out raced the read): the
  // member must drop it too.
  virtual void endCatchUp(std::vector<Frame> frames, std::uint64_t coveredId) = 0;
  // Between join and endCatchUp: what it is given now leaves with its history, in one write.
  virtual bool catchingUp() const = 0;
  // The room no longer admits this member's user (removed from a private room, or banned): the
  // registry has already taken it out of the room, and nothing of the room follows. It drops
  // what it holds and tells its client: a connection to /ws/{room} closes with `closeCode` and
  // `reason`; a /ws subscription sends `notice` (an `unsubscribed` frame with the code) and
  // ends. Called on the member's shard, outside any fan-out; the member may be gone on return.
  virtual void evicted(std::uint16_t closeCode, const char* reason, const Frame& notice) = 0;

 protected:
  ~Member() = default;

 private:
  // Bookkeeping of the room parts, kept in the member so that leaving and batching cost no
  // lookup (8 bytes per connection).
  friend class RoomRegistry;
  friend class MembershipBatcher;
  std::uint32_t registrySlot_ = 0;  // index in its room's member list on its shard
  std::uint32_t batchFrom_ = 0;     // where its part of the room's waiting join/leave batch begins
};

}  // namespace parley::chat
