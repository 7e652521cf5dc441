// HomeShardOwner: the RoomOwner of a single server. Each room's state lives on its home shard
// (HubEnvironment::homeShard): the shards with members, the sequence, presence and typing, the
// duplicate-send window, and what it knows of the room's last durable id. Work for a room goes to
// that shard (inline when the caller is already there); messages sequenced in one loop turn go
// to the store writer as one batch, and come back, committed, to be fanned out in commit order.
// Each shard's part is touched by its own thread only (no lock of its own; the counters are
// relaxed atomics). Never touches a member: frames leave through the registry's fan-out.
// HomeShardOwner.cpp passes 600 lines and stays one file: membership, typing, the seam, sequencing
// and edits all read and change the same per-shard HomeRoom (its inFlight and markers decide both
// a join's seam and when a room may be forgotten); split, each part would reach into the others'.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "chat/DuplicateWindow.h"
#include "chat/Presence.h"
#include "chat/RoomOwner.h"
#include "chat/RoomRegistry.h"

namespace parley::store {
struct MessageChange;
struct StoredMessage;
struct StoreStatus;
}  // namespace parley::store

namespace parley::chat {

struct HubEnvironment;

class HomeShardOwner final : public RoomOwner {
 public:
  // `moderation` answers who may delete any message of a room; it outlives the owner.
  HomeShardOwner(const HubEnvironment& env, RoomRegistry& registry,
                 const ModerationPolicy& moderation);
  ~HomeShardOwner() override;
  HomeShardOwner(const HomeShardOwner&) = delete;
  HomeShardOwner& operator=(const HomeShardOwner&) = delete;

  void join(std::size_t shard, const std::string& room, const std::string& username, bool firstHere,
            bool wantSeam, JoinDone done) override;
  void leave(std::size_t shard, const std::string& room, const std::string& username,
             bool lastHere) override;
  void publish(std::size_t shard, const std::string& room, Publish message) override;
  void change(std::size_t shard, const std::string& room, MessageEdit edit, EditDone done) override;
  void typing(std::size_t shard, const std::string& room, const std::string& username,
              bool state) override;
  void presence(std::size_t shard, const std::string& room,
                std::function<void(std::vector<std::string>)> done) override;
  void accessChanged(std::size_t shard, const std::string& room, bool mayRefuse) override;
  void tick(std::size_t shard) override;
  OwnerCounts counts() const override;

 private:
  struct HomeRoom {
    std::uint64_t lastId = 0;  // the sequence when there is no store
    ShardMask shards;          // shards with members: where the room's frames go
    std::size_t members = 0;   // connections
    RoomPresence presence;
    DuplicateWindow recent;
    // With a store: the room's last durable id, once a marker told it; exact while inFlight is
    // 0, because only this home shard stores the room's messages. A join then needs no marker.
    std::uint64_t durableLastId = 0;
    std::uint32_t inFlight = 0;  // this room's messages handed to the store, not yet back
    std::uint32_t markers = 0;   // seam markers in the writer's queue for this room
    bool durableKnown = false;
    // Retries from the server API whose original is still on its way to the store: answered
    // with its id when it comes back (promise 9). Empty but for those moments.
    std::vector<std::pair<std::string, PublishDone>> awaitingOriginal;
  };
  struct Pending {
    std::string room;
    std::string username;
    std::string content;
    std::string clientId;
    std::int64_t unixMillis = 0;
    std::size_t originShard = 0;
    std::weak_ptr<Member> sender;
    PublishDone done;  // the server API's publish: answered on originShard
    bool signedIn = false;
    // > 0: the room's memory cannot vouch that this client_id is new: the writer asks the store
    // for a send at or after this time (StoredMessage::checkClientIdSince).
    std::int64_t checkClientIdSince = 0;
  };
  struct StoredBatch;  // a commit's outcome, waiting to be fanned out (HomeShardOwner.cpp)
  struct alignas(64) ShardState {
    std::unordered_map<std::string, HomeRoom> rooms;  // the rooms homed here
    std::vector<Pending> toStore;  // sequenced this loop turn, handed to the store at its end
    bool storeFlushPosted = false;
    // Commits come back whole; they are fanned out a few rooms per task, in order, so the
    // shard writes (and reads) between them instead of sending one burst per commit.
    std::deque<std::shared_ptr<StoredBatch>> stored;
    std::size_t storedNext = 0;  // the next message of stored.front()
    bool storedDrainPosted = false;
    // Home rooms with typing users, a summary due, or (empty) client ids still remembered.
    std::unordered_set<std::string> ticking;
    std::atomic<std::uint64_t> sequenced{0};
    std::atomic<std::size_t> roomsWithMembers{0};
  };

  // Runs `task` on the room's home shard: inline when the caller is there (with one shard, or a
  // room whose members share its home, a message never crosses a thread).
  template <typename Task>
  void onHome(std::size_t from, std::size_t home, Task&& task);
  // On the home shard.
  Frame memberJoined(std::size_t home, const std::string& room, std::size_t shard, bool firstHere,
                     const std::string& username);
  void memberLeft(std::size_t home, const std::string& room, std::size_t shard, bool lastHere,
                  const std::string& username);
  void answerSeam(std::size_t home, const std::string& room, std::size_t shard, Frame presence,
                  JoinDone done);
  void sequence(std::size_t home, Pending p);
  void flushToStore(std::size_t home);
  void drainStored(std::size_t home);
  void onStored(std::size_t home, const store::StoreStatus& status, const store::StoredMessage& m,
                Pending& p);
  void broadcastTyping(std::size_t home, const std::string& room, HomeRoom& r,
                       const std::string& username, bool state);
  void broadcastMembership(std::size_t home, const std::string& room, HomeRoom& r,
                           Membership change, const std::string& username);
  void sendTo(std::size_t shard, std::weak_ptr<Member> member, Frame frame);
  // Answers a publish's `done` (if any) on `shard`, and the API retries waiting for `key`.
  void answerPublish(std::size_t shard, PublishDone done, PublishResult result);
  void answerAwaiting(HomeRoom* r, const std::string& key, PublishResult result);
  // On the home shard: an edit or delete goes to the store behind the room's messages.
  void submitChange(std::size_t home, std::size_t shard, const std::string& room, MessageEdit edit,
                    EditDone done);
  void onChanged(std::size_t home, const store::StoreStatus& status,
                 const store::MessageChange& change, std::size_t shard, EditDone& done);
  void answer(std::size_t shard, JoinDone done, JoinAnswer answer);
  // An empty room stays while anything may still come back to it: its messages from the store
  // (so inFlight stays exact), a seam marker (so the marker's answer is about this very room),
  // or client ids a reconnecting sender may retry. The tick forgets it afterwards.
  static bool removable(const HomeRoom& r) {
    return r.members == 0 && r.recent.empty() && r.inFlight == 0 && r.markers == 0;
  }

  const HubEnvironment& env_;
  const ModerationPolicy& moderation_;
  // When this owner began remembering client_ids (unix ms): within the window after it, a send
  // its memory does not know may still be a retry of one stored before a restart.
  const std::int64_t rememberingSinceMs_;
  RoomRegistry& registry_;
  std::unique_ptr<ShardState[]> shards_;
  std::atomic<std::uint64_t> storeRefusals_{0};
  std::atomic<std::uint64_t> duplicates_{0};
  std::atomic<std::uint64_t> seamsFromStore_{0};
};

}  // namespace parley::chat
