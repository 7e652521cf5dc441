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
// 8. Changes in the room's order. An edit or a delete of a stored message (change()) goes to the
//    store after every message of the room sequenced before it and is decided there (the author
//    edits and deletes its own signed-in messages; a moderator, as the ModerationPolicy answers
//    on the home shard, deletes any). Only an applied change is announced: an `edited` or
//    `deleted` frame to every member on every shard, through the registry's fan-out, in the
//    room's order among its messages, with message id 0 (it concerns an old id: a catching-up
//    member must not drop it). `done` gets the outcome on the caller's shard (promise 6).
// 9. A publish with `done` (the server API) is answered once, on the caller's shard: the stored
//    id, the original's id for a retry of its client_id (also when the original is still on
//    its way to the store: the answer then waits for it), or a refusal.
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
#include "chat/ModerationPolicy.h"

namespace parley::chat {

// How a publish ended, for a caller without a connection (the server API).
struct PublishResult {
  enum class Outcome : std::uint8_t { Stored, Duplicate, StoreUnavailable };
  Outcome outcome = Outcome::StoreUnavailable;
  std::uint64_t id = 0;  // Stored: the new id; Duplicate: the original's
};
using PublishDone = std::function<void(PublishResult)>;

struct Publish {
  std::string username;
  std::string content;
  std::string clientId;          // empty: none given
  std::weak_ptr<Member> sender;  // told about a refusal, or given the original of a retry
  bool signedIn = false;         // the sender's name is proven: its author may change it later
  PublishDone done;              // empty for a connection (the sender hears through `sender`)
};

// An edit or a delete of message `id` of a room.
struct MessageEdit {
  enum class Kind : std::uint8_t { Edit, Delete };
  Kind kind = Kind::Delete;
  std::uint64_t id = 0;
  std::string content;  // Edit: the new text, already checked against the content limits
  Actor actor;
};
enum class EditOutcome : std::uint8_t {
  Applied,           // stored and announced to the room
  NotFound,          // no such message in the room, or it is deleted
  NotAllowed,        // not the actor's own signed-in message (nor, for a delete, a moderator)
  StoreUnavailable,  // the store refused: nothing changed
  NoStore,           // --db none: messages are not kept, so there is nothing to change
};
using EditDone = std::function<void(EditOutcome)>;

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
  // An edit or delete of a stored message of `room` (promise 8); `done` runs on `shard`.
  virtual void change(std::size_t shard, const std::string& room, MessageEdit edit,
                      EditDone done) = 0;
  // A typing indicator (already rate-limited by the caller); a message ends it.
  virtual void typing(std::size_t shard, const std::string& room, const std::string& username,
                      bool state) = 0;
  // The users in `room`.
  virtual void presence(std::size_t shard, const std::string& room,
                        std::function<void(std::vector<std::string>)> done) = 0;
  // The room's access changed (auth/RoomAccess already says so). With `mayRefuse` (a member was
  // removed from a private room, a user was banned, or the room became private), every
  // connection to `room`, on every shard (and, for a cluster owner, on every instance), whose
  // user the access no longer admits is taken out of the room and told (Member::evicted: close
  // 4003 on /ws/{room}, an `unsubscribed` frame with the code on /ws), and its leave is counted
  // as any leave. This reaches every shard, not only those in the room's mask: a join checked
  // against the old access just before the change is registered on its shard before the owner
  // hears of it, and must be cut too. Without it (a new member, a lifted ban, a room created)
  // nobody is cut: a single server has nothing to do, a cluster owner tells the other instances
  // to read the access again. Posted; nothing runs inside the call.
  virtual void accessChanged(std::size_t shard, const std::string& room, bool mayRefuse) = 0;
  // Periodic work (the shard's sweep, about once a second): typing that ran out, presence
  // summaries of crowded rooms, forgetting rooms nobody is in.
  virtual void tick(std::size_t shard) = 0;
  // Any thread; eventually consistent.
  virtual OwnerCounts counts() const = 0;
};

}  // namespace parley::chat
