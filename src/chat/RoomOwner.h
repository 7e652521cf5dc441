// RoomOwner: the one authority over a room: it gives the room's messages their order (through
// the store, when there is one), keeps who is present and who is typing, remembers recent
// client_ids, and answers the seam a joining member's catch-up is cut at. A shard asks it; it
// answers with frames for every shard that has members (RoomRegistry::fanOut, on the room's home
// shard) and through callbacks.
//
// Today's owner is the room's home shard on this server (HomeShardOwner). The cluster's owner,
// the instance that holds the room's bucket, reached through Redis (DESIGN.md section 6), is a
// second implementation of this interface: the registry, the batcher, the catch-up and the
// sessions do not change with it.
//
// Every owner keeps these promises; the rest of the server relies on them:
// 1. One order per room. Each message of a room gets its id from the owner alone, from 1 up,
//    strictly increasing, and every shard receives the room's frames (messages, typing,
//    join/leave) in the order the owner made them: every member sees one order.
// 2. Stored before delivered. With a store, no member gets a message before the store has made it
//    durable. A message the store refused reaches no one; its sender gets a store_unavailable
//    error carrying its client_id.
// 3. No gaps. A refused message uses no id: a room's stored ids are 1, 2, 3, ... without holes.
// 4. Once per client_id. A send whose user and client_id the room saw within the window is not
//    sequenced again: its sender alone gets the original (without its id, so that the sender's
//    catch-up filter cannot drop it), or nothing while the original is on its way to the store
//    (it then arrives as everyone's does).
// 5. The seam rule. The seam answered to a join is an id S such that every message of the room
//    with an id <= S is durable (a read from the store returns it) and every message with an id
//    > S reaches the joining member live: the owner registers the member's shard before it takes
//    S. A later S costs nothing (the member drops live frames at or below it); an earlier one
//    would lose messages.
// 6. Answers on the caller's shard. Every call is made on a shard (`shard`, the caller's own);
//    a callback runs on that shard, posted, never inside the call, whatever thread the owner
//    works on.
// 7. Members untouched. The owner reaches members only through the registry's fan-out, and the
//    sender of a publish through a frame posted to the sender's shard (by its weak handle); it
//    never calls a member on a thread that is not the member's.
//
// Cost: one virtual call per operation (a publish, a join, ...), none per delivered frame.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "chat/Member.h"

namespace parley::chat {

struct Publish {
  std::string username;
  std::string content;
  std::string clientId;          // empty: none given
  std::weak_ptr<Member> sender;  // told about a refusal, or given the original of a retry
};

struct JoinAnswer {
  Frame presence;          // the room's presence list, the joiner included
  std::uint64_t seam = 0;  // when asked for: promise 5 (0: the room has no stored message)
  std::string seamError;   // not empty: the seam could not be taken (the store's reason)
};

struct OwnerCounts {
  std::size_t rooms = 0;             // rooms with members
  std::uint64_t sequenced = 0;       // messages given an id (and stored, with a store)
  std::uint64_t storeRefusals = 0;   // messages the store refused
  std::uint64_t duplicates = 0;      // retries answered with their original
  std::uint64_t seamsFromStore = 0;  // seams the store had to be asked for (the others were known)
};

class RoomOwner {
 public:
  virtual ~RoomOwner() = default;

  // A connection of `username` joined `room` on `shard`; `firstHere`: it is the room's first on
  // that shard, which from now on gets the room's frames. `done` gets the presence list and,
  // when `wantSeam`, the seam its catch-up is cut at.
  using JoinDone = std::function<void(JoinAnswer)>;
  virtual void join(std::size_t shard, const std::string& room, const std::string& username,
                    bool firstHere, bool wantSeam, JoinDone done) = 0;
  // A connection of `username` left `room` on `shard`; `lastHere`: it was the room's last there.
  virtual void leave(std::size_t shard, const std::string& room, const std::string& username,
                     bool lastHere) = 0;
  // A chat message for `room` (the sender's limits are already checked).
  virtual void publish(std::size_t shard, const std::string& room, Publish message) = 0;
  // A typing indicator (already rate-limited by the caller); a message ends it.
  virtual void typing(std::size_t shard, const std::string& room, const std::string& username,
                      bool state) = 0;
  // The users in `room`.
  virtual void presence(std::size_t shard, const std::string& room,
                        std::function<void(std::vector<std::string>)> done) = 0;
  // The room's access changed (auth/RoomAccess already says so): a member was removed from a
  // private room, a user was banned, or the room became private. Every connection to `room`,
  // on every shard (and, for a cluster owner, on every instance), whose user the access no
  // longer admits is taken out of the room and told (Member::evicted: close 4003 on /ws/{room},
  // an `unsubscribed` frame with the code on /ws), and its leave is counted as any leave. This
  // reaches every shard, not only those in the room's mask: a join checked against the old
  // access just before the change is registered on its shard before the owner hears of it, and
  // must be cut too. Posted; nothing runs inside the call.
  virtual void evict(std::size_t shard, const std::string& room) = 0;
  // Periodic work (the shard's sweep, about once a second): typing that ran out, presence
  // summaries of crowded rooms, forgetting rooms nobody is in.
  virtual void tick(std::size_t shard) = 0;
  // Any thread; eventually consistent.
  virtual OwnerCounts counts() const = 0;
};

}  // namespace parley::chat
