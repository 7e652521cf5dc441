// ClusterOwner: the RoomOwner of one instance of a cluster (DESIGN.md section 6). Every instance
// plays two parts for a room, both on the room's home shard (HubEnvironment::homeShard), so a
// room's cluster state, like a single server's, is touched by one thread and holds no lock:
//
//  - The relay, on every instance with members of the room: it subscribes to the room's channel,
//    delivers the owner's frames to the local members in id order (id = last + 1; a frame past a
//    gap waits and the gap is filled from PostgreSQL; what was delivered is dropped), answers
//    joins (the seam is the last id it delivered: everything up to it is durable, everything after
//    it reaches the member live), tells the owner who is here, and forwards sends and typing.
//  - The owner, on the one instance whose lease holds the room's bucket (cluster::BucketLeases):
//    it checks the duplicate window, gives the message its id through the store writer (PostgreSQL,
//    whose unique (room, id) makes a stale owner's commit fail instead of forking the room), and
//    only then publishes the stored frame on the room's channel. It counts presence per (user,
//    instance), broadcasts joins, leaves and typing, and answers presence queries.
//
// Every delivery, the owner's own members' included, goes through the room's channel: one path,
// one order. A send the owner cannot take (no lease, Redis down, no answer in time) gets the
// error `cluster_unavailable` with its client_id: nothing was stored under an id the client did
// not see, and a retry with the same client_id is stored at most once (the window, then the
// store's lookup for rooms whose owner changed within the window).
//
// Never touches a member directly (frames leave through the registry's fan-out; a sender's own
// answer is posted to its shard), never blocks a shard (Redis calls are queued on the link's
// thread, store work on the store's threads), never trusts a payload from Redis (malformed
// envelopes are counted and dropped). Why this is one file of this size: the relay and owner
// halves share one per-shard state and one set of envelope kinds; split, each half would reach
// into the other's maps.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "chat/DuplicateWindow.h"
#include "chat/ModerationPolicy.h"
#include "chat/Presence.h"
#include "chat/RoomOwner.h"
#include "chat/RoomRegistry.h"
#include "store/MessageStore.h"
#include "store/StoreStatus.h"

namespace parley::cluster {
class RedisLink;
class BucketLeases;
struct Envelope;
}  // namespace parley::cluster

namespace parley::store {
struct StoredMessage;
struct StoreStatus;
}  // namespace parley::store

namespace parley::chat {

struct HubEnvironment;

struct ClusterOptions {
  std::int64_t sendTimeoutMs = 5000;   // a forwarded send unanswered this long: cluster_unavailable
  std::int64_t joinTimeoutMs = 5000;   // a join whose channel is not in place by then fails
  std::int64_t presenceWaitMs = 1000;  // a join's presence query unanswered: the local users
  std::int64_t presenceRebuildMs = 2500;  // a new owner collects relays' announcements this long
  std::int64_t gapWaitMs = 300;           // a frame past a gap waits this long before a store read
  std::size_t maxHeldPerRoom = 1000;      // frames past a gap kept per room; beyond: read instead
};

struct ClusterCounts {
  std::uint64_t forwarded = 0;         // sends handed to another instance's owner
  std::uint64_t relayed = 0;           // frames delivered from a room channel
  std::uint64_t gapFills = 0;          // store reads that filled a gap in a room's ids
  std::uint64_t filledMessages = 0;    // messages those reads delivered
  std::uint64_t unavailable = 0;       // sends answered cluster_unavailable
  std::uint64_t malformed = 0;         // envelopes from Redis that did not parse
  std::uint64_t bucketsGained = 0;     // lease takeovers by this instance
  std::uint64_t presenceRebuilds = 0;  // owned rooms whose presence was rebuilt from relays
};

class ClusterOwner final : public RoomOwner {
 public:
  // `moderation` answers, on the owner's side, who may delete others' messages; it outlives
  // the owner.
  ClusterOwner(const HubEnvironment& env, RoomRegistry& registry, cluster::RedisLink& link,
               cluster::BucketLeases& leases, const ModerationPolicy& moderation,
               ClusterOptions options);
  ~ClusterOwner() override;
  ClusterOwner(const ClusterOwner&) = delete;
  ClusterOwner& operator=(const ClusterOwner&) = delete;

  // RoomOwner (on the caller's shard).
  void join(std::size_t shard, const std::string& room, const std::string& username, bool firstHere,
            bool wantSeam, JoinDone done) override;
  void leave(std::size_t shard, const std::string& room, const std::string& username,
             bool lastHere) override;
  void publish(std::size_t shard, const std::string& room, Publish message) override;
  void change(std::size_t shard, const std::string& room, MessageEdit edit, EditDone done) override;
  void typing(std::size_t shard, const std::string& room, const std::string& username,
              bool state) override;
  // Here (with `mayRefuse`), every shard's connections to `room` the access no longer admits;
  // then every other instance is told on the control channel to read the rooms again (and,
  // with `mayRefuse`, to do the same).
  void accessChanged(std::size_t shard, const std::string& room, bool mayRefuse) override;
  // Any thread: this instance's part of an eviction (after its access table was brought up to
  // date): `room`, or every room with members here when empty (after Redis came back: a change
  // may have been missed).
  void evictHere(const std::string& room);
  void presence(std::size_t shard, const std::string& room,
                std::function<void(std::vector<std::string>)> done) override;
  void tick(std::size_t shard) override;
  OwnerCounts counts() const override;
  ClusterCounts clusterCounts() const;

  // From the cluster side, on the link's thread (app/Server wires them): each posts the work to
  // the shards it concerns and returns.
  void onMessage(std::string_view channel, std::string_view payload);
  void onSubscribed(std::string_view channel);
  void onLinkState(bool up);
  void onOwnership(std::size_t bucket, bool held);
  void onOwnerChanged(std::size_t bucket, const std::string& owner);
  void onInstancesGone(const std::vector<std::string>& gone);

  // The channel names (also what tests and operators see in Redis).
  std::string roomChannel(std::string_view room) const;
  std::string inboxChannel(std::string_view instance) const;

 private:
  struct WaitingJoin {
    std::size_t shard = 0;
    bool wantSeam = false;
    JoinDone done;
    std::int64_t deadlineMs = 0;
    std::uint64_t query = 0;  // the presence query in flight (0: not sent yet)
    std::int64_t queryDeadlineMs = 0;
    Frame presence;  // the owner's answer, once it came
  };
  // One room as this instance's relay sees it.
  struct RelayRoom {
    ShardMask shards;
    std::size_t members = 0;                               // local connections
    std::unordered_map<std::string, std::uint32_t> users;  // local connections per user
    bool subscribed = false;                               // the channel is in place
    bool lastKnown = false;                                // lastDelivered is set
    std::uint64_t lastDelivered = 0;                       // every id up to it went out
    std::map<std::uint64_t, Frame> held;                   // ids past a gap
    std::int64_t gapSinceMs = 0;                           // when the oldest gap was seen
    bool reading = false;                                  // a store read in flight
    bool readAgain = false;                                // ... and another one wanted
    std::vector<WaitingJoin> joins;                        // until subscribed and answered
    // Sent (from a shard) before the channel was in place: handed on after, in order.
    std::vector<std::pair<std::size_t, Publish>> sends;
    // Users the owner said are typing, until when (steady ms): if the owner dies before its
    // `false`, the relay ends the `true` itself (a little after the owner would have).
    std::unordered_map<std::string, std::int64_t> typingUntil;
    // Edits and deletes of messages not delivered here yet (a gap is being filled): each waits
    // for its message, so no member sees a change before the message it changes.
    std::vector<std::pair<std::uint64_t, Frame>> heldChanges;
  };
  struct OwnedRoom {
    RoomPresence presence;  // "connections" are instances: a user on two is one member
    std::unordered_map<std::string, std::vector<std::string>> userInstances;
    DuplicateWindow recent;
    std::int64_t rememberingSinceMs = 0;  // the store is asked about client_ids older than this
    std::uint32_t inFlight = 0;
    std::int64_t rebuildUntilMs = 0;  // > 0: presence is being rebuilt from announcements
    // Retries of a send still on its way to the store: (origin, request) answered with the
    // original once it is back (at most kMaxAwaiting per client_id).
    std::unordered_map<std::string, std::vector<std::pair<std::string, std::uint64_t>>> awaiting;
  };
  struct Sequenced {  // a send the owner handed to the store
    std::string room;
    std::string username;
    std::string content;
    std::string clientId;
    std::int64_t unixMillis = 0;
    std::int64_t checkClientIdSince = 0;
    std::string origin;  // the instance its sender is on
    std::uint64_t request = 0;
    bool signedIn = false;
    bool wantsAck = false;  // the origin waits for the stored id (the server API)
  };
  struct PendingSend {  // a local sender waiting for the owner's answer
    std::string room;
    std::string username;
    std::string clientId;
    std::size_t shard = 0;
    std::weak_ptr<Member> sender;
    PublishDone done;  // the server API's publish: answered with the outcome
    std::int64_t deadlineMs = 0;
  };
  struct PendingChange {  // an edit or delete waiting for the owner's answer
    std::size_t shard = 0;
    EditDone done;
    std::int64_t deadlineMs = 0;
  };
  struct PresenceQuery {
    std::size_t shard = 0;
    std::function<void(std::vector<std::string>)> done;
    std::int64_t deadlineMs = 0;
  };
  struct alignas(64) ShardState {
    std::unordered_map<std::string, RelayRoom> relays;
    std::unordered_map<std::string, OwnedRoom> owned;
    std::unordered_map<std::uint64_t, PendingSend> sends;
    std::unordered_map<std::uint64_t, PresenceQuery> queries;
    std::unordered_map<std::uint64_t, PendingChange> changes;
    std::uint64_t nextRequest = 0;
    std::vector<Sequenced> toStore;
    bool storeFlushPosted = false;
    // Local sends whose room has no known owner (its bucket is changing hands): handed on, in
    // order, once one is known (onOwnerChanged, tick); each send's deadline bounds the wait.
    std::deque<Sequenced> ownerless;
    std::unordered_set<std::string> ownerlessRooms;  // rooms with a send in `ownerless`
    std::atomic<std::uint64_t> sequenced{0};
    std::atomic<std::size_t> roomsWithMembers{0};
  };

  // What another thread hands a shard, waiting for the shard's one drain task: what arrives
  // while a drain is posted joins it.
  template <typename Item>
  class alignas(64) HandOver {
   public:
    // True when the caller must post the drain.
    bool push(Item item) {
      std::lock_guard lock(mutex_);
      items_.push_back(std::move(item));
      return !std::exchange(posted_, true);
    }
    std::vector<Item> take() {
      std::lock_guard lock(mutex_);
      posted_ = false;
      return std::exchange(items_, {});
    }

   private:
    std::mutex mutex_;  // the other thread and the shard: one push, one swap
    std::vector<Item> items_;
    bool posted_ = false;
  };
  // From the link's thread: messages from Redis.
  struct Inbound {
    bool fromRoom = false;  // a room's channel (else this instance's inbox)
    std::string payload;
  };
  void drainInbound(std::size_t home);
  // From the store writer's thread: one submission's outcome. One commit may answer several
  // submissions (every flush while the writer was busy or lingering): their answers, called
  // back one after the other, are drained together and leave as one Redis message per room.
  struct Stored {
    store::StoreStatus status;
    std::vector<store::StoredMessage> messages;
    std::vector<Sequenced> sent;
  };
  void drainStored(std::size_t home);

  template <typename Task>
  void onHome(std::size_t from, std::size_t home, Task&& task);
  template <typename Task>
  void onEveryShard(Task task);
  std::uint64_t newRequest(std::size_t home);
  bool ownedHere(std::string_view room) const;
  std::string ownerOf(std::string_view room) const;
  void send(const std::string& instance, std::string payload, std::size_t home,
            std::function<void()> unreceived = {});
  // The users with connections here, sorted (what a presence answer falls back to).
  std::vector<std::string> usersHere(std::size_t home, const std::string& room) const;
  void sendTo(std::size_t shard, std::weak_ptr<Member> member, Frame frame);
  void answer(std::size_t shard, JoinDone done, JoinAnswer answer);
  Frame errorFrame(std::string_view code, std::string_view message, std::string_view clientId,
                   std::string_view room) const;

  void publishOnHome(std::size_t home, std::size_t shard, const std::string& room, Publish message);
  // A local send (registered in `sends`) to its owner: this instance's own sequencing, a
  // forward, or the wait for an owner to be known.
  void dispatch(std::size_t home, Sequenced q);
  void releaseOwnerless(std::size_t home);
  // The relay half (home shard).
  void announce(std::size_t home, const std::string& room, const std::string& username,
                bool present);
  void advanceJoins(std::size_t home, const std::string& room, RelayRoom& r);
  void relayFrame(std::size_t home, const std::string& room, std::uint64_t id, Frame frame);
  void deliverInOrder(std::size_t home, const std::string& room, RelayRoom& r);
  void readStore(std::size_t home, const std::string& room, RelayRoom& r);
  void onRead(std::size_t home, const std::string& room, bool ok, bool lastOnly,
              std::uint64_t lastId, std::vector<store::StoredMessage> messages);
  void settleSend(std::size_t home, std::uint64_t request, std::uint64_t id);
  void dropRelay(std::size_t home, const std::string& room);
  void fromRoomChannel(std::size_t home, const std::string& room, const cluster::Envelope& e);
  void relayTyping(std::size_t home, const std::string& room, RelayRoom& r, const std::string& user,
                   bool state);

  // The owner half (home shard).
  void fromInbox(std::size_t home, const cluster::Envelope& e);
  OwnedRoom* ownedRoom(std::size_t home, const std::string& room, bool create);
  void ownerPublish(std::size_t home, Sequenced s);
  void ownerChange(std::size_t home, const cluster::Envelope& e);
  // A local send the cluster could not take (no owner, none received it, no answer in time):
  // counted, and its sender told cluster_unavailable with its client_id. Nothing if it is over.
  void sendUnavailable(std::size_t home, std::uint64_t request);
  // A local send is over: its API caller (if any) hears `result`, its sender (if any) `frame`.
  void finishSend(std::size_t home, std::uint64_t request, PublishResult result, Frame frame);
  void ownerAnnounce(std::size_t home, const std::string& room, const std::string& username,
                     const std::string& instance, bool present);
  void ownerTyping(std::size_t home, const std::string& room, const std::string& username,
                   bool state);
  Frame ownerPresence(std::size_t home, const std::string& room, std::vector<std::string>* users);
  void refuse(std::size_t home, const Sequenced& s, std::string_view code,
              std::string_view message);
  void flushToStore(std::size_t home);
  // What one drain of the writer's answers publishes: each room's stored messages packed for
  // one Redis message (kBatch), in the order the rooms came, and the API's acknowledgements.
  struct Outgoing {
    std::vector<std::pair<std::string, std::string>> batches;  // (room, packed envelopes)
    std::unordered_map<std::string, std::size_t> batchOf;      // room -> index in batches
    std::vector<std::pair<std::string, std::string>> acks;     // (instance, envelope)
  };
  void onStored(std::size_t home, Stored& result, Outgoing& out);
  void broadcast(const std::string& room, std::string payload);
  void removeInstances(std::size_t home, const std::unordered_set<std::string>& gone);

  const HubEnvironment& env_;
  RoomRegistry& registry_;
  cluster::RedisLink& link_;
  cluster::BucketLeases& leases_;
  const ModerationPolicy& moderation_;
  const ClusterOptions options_;
  const std::string self_;
  const std::int64_t startedMs_;
  std::unique_ptr<ShardState[]> shards_;
  std::unique_ptr<HandOver<Inbound>[]> inbound_;
  std::unique_ptr<HandOver<Stored>[]> stored_;
  std::unique_ptr<std::atomic<std::int64_t>[]> bucketSinceMs_;  // when this instance took it
  std::atomic<bool> linkUp_{false};
  std::atomic<std::uint64_t> storeRefusals_{0};
  std::atomic<std::uint64_t> duplicates_{0};
  mutable std::atomic<std::uint64_t> forwarded_{0}, relayed_{0}, gapFills_{0}, filled_{0},
      unavailable_{0}, malformed_{0}, bucketsGained_{0}, rebuilds_{0};
};

}  // namespace parley::chat
