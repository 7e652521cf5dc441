// Hub: the rooms as net/ sees them: one object to join, leave, publish, type and ask. It only
// wires the parts, each in its own file:
//   RoomRegistry       the local members of each room on each shard, and the fan-out to them
//   MembershipBatcher  join/leave events waiting per room and leaving as one batch
//   RoomOwner          the room's order: sequence -> store -> fan-out, duplicate sends
//                      (DuplicateWindow), presence, typing, the catch-up seam
//                      (HomeShardOwner: the room's home shard)
//   CatchUp            a joiner's history or replay up to the seam, then its presence list
//   RoomQueries        history pages and the room list
// Every call is made on a shard's thread, `shard` being the caller's own; each part keeps one
// state per shard, touched by that shard's thread only, so the rooms hold no lock of their own
// (work crosses threads as posted tasks and store queue pushes). Never does socket I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/RoomVerdict.h"
#include "chat/HubEnvironment.h"
#include "chat/Member.h"
#include "chat/RoomOwner.h"
#include "chat/RoomQueries.h"

namespace parley::chat {

class CatchUp;
class MembershipBatcher;
class RoomRegistry;

class Hub {
 public:
  using Publish = chat::Publish;
  using RoomInfo = chat::RoomInfo;

  explicit Hub(HubEnvironment env);
  ~Hub();
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  // Adds `member` to `room`. A catch-up always follows (history or the replay of `since`, then
  // the presence list): the member holds live frames until its endCatchUp() is called.
  void join(std::size_t shard, const std::string& room, Member* member,
            std::weak_ptr<Member> handle, std::optional<std::uint64_t> since);
  void leave(std::size_t shard, const std::string& room, Member* member);
  // A typing indicator from `username` (already rate-limited by the caller).
  void typing(std::size_t shard, const std::string& room, const std::string& username, bool state);
  void publish(std::size_t shard, const std::string& room, Publish message);
  // An edit or delete of message `edit.id` of `room` (RoomOwner promise 8); `done` runs on
  // `shard`, posted.
  void change(std::size_t shard, const std::string& room, MessageEdit edit, EditDone done);
  // The users in `room`; `done` runs on `shard`, posted.
  void presence(std::size_t shard, const std::string& room,
                std::function<void(std::vector<std::string>)> done);
  // Whether `username` may be in `room` (auth/RoomAccess; everyone may without one). Asked on a
  // join, a subscribe and a REST read, never per message.
  auth::RoomVerdict admit(std::string_view room, std::string_view username) const;
  // The room's access changed: every connection whose user it no longer admits is cut, on every
  // shard (RoomOwner::accessChanged).
  void accessChanged(std::size_t shard, const std::string& room, bool mayRefuse);
  // Periodic work of the rooms homed on `shard`: typing expiry, presence summaries.
  void tick(std::size_t shard);
  // Sends the join/leave batches of `shard`'s rooms that are due at steady-clock millisecond
  // `nowMs`, and asks for the next wake-up (HubEnvironment::wake).
  void flushBatches(std::size_t shard, std::int64_t nowMs);

  // A page of `room` older than `before` (0: the newest); `done` runs on `shard`.
  void history(std::size_t shard, const std::string& room, std::uint64_t before, std::size_t limit,
               std::function<void(HistoryPage)> done);
  // Rooms with members or with stored messages; `done` runs on `shard`.
  void listRooms(std::size_t shard, std::size_t limit,
                 std::function<void(bool ok, std::vector<RoomInfo>)> done);

  // Any thread, eventually consistent.
  std::size_t roomCount() const;  // rooms with members
  std::uint64_t messagesSequenced() const;
  std::uint64_t storeRefusals() const;
  std::uint64_t duplicatesSuppressed() const;
  // Catch-ups that had to ask the writer for their seam / read the store (the others were
  // answered from what the home shard knows).
  std::uint64_t catchUpMarkers() const;
  std::uint64_t catchUpReads() const;

 private:
  HubEnvironment env_;  // the parts keep a reference to it
  std::unique_ptr<MembershipBatcher> batcher_;
  std::unique_ptr<RoomRegistry> registry_;
  // Who may delete any message of a room: the server's API key (room roles plug in here).
  std::unique_ptr<ModerationPolicy> moderation_;
  std::unique_ptr<RoomOwner> owner_;
  std::unique_ptr<CatchUp> catchUp_;
  std::unique_ptr<RoomQueries> queries_;
};

}  // namespace parley::chat
