// Hub: the rooms. Knows the local members of each room on each shard, gives every message its
// place in its room's order (through the store when there is one), and fans ONE shared frame out.
// Never does socket I/O and never takes a lock: each shard's part is touched by its thread only.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "chat/Presence.h"

namespace parley::store {
class StoreWriter;
class StoreReader;
struct StoredMessage;
struct StoreStatus;
}  // namespace parley::store

namespace parley::chat {

// A complete frame as it goes on the wire: the same immutable bytes for every recipient.
struct WireFrame {
  std::string bytes;
  std::uint64_t messageId = 0;  // chat messages only: lets a catching-up member drop duplicates
  std::string skipUser;         // typing frames: not for the typer's own connections
};
using Frame = std::shared_ptr<const WireFrame>;

// A local member of a room (a WebSocket session). The hub calls it on the member's own shard
// thread only; the calls must only queue, never close or re-enter the hub.
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

 protected:
  ~Member() = default;

 private:
  friend class Hub;
  std::uint32_t hubSlot_ = 0;    // index in its room's member list, kept by the hub
  std::uint32_t batchFrom_ = 0;  // where its part of the room's pending batch begins
};

struct HubOptions {
  std::size_t historyOnJoin = 50;  // messages sent on join (0: none)
  std::size_t maxReplay = 1000;    // most messages replayed for ?since=
  std::size_t replayPage = 200;    // messages per history frame of a replay
  std::int64_t idempotencyWindowMs = 10 * 60 * 1000;
  std::size_t idempotencyPerRoom = 1000;
  PresenceOptions presence;
};

// The answer to a paging request: ok, the page (oldest first), and whether older ones exist.
struct HistoryPage {
  bool ok = true;
  std::string error;
  std::string json;  // the messages as a JSON array
  bool hasMore = false;
};

class Hub {
 public:
  using PostFn = std::function<void(std::size_t shard, std::function<void()> task)>;
  using FrameEncoder = Frame (*)(std::string_view json, std::uint64_t messageId);
  using ClockFn = std::int64_t (*)();
  // Asks shard `shard` to call flushBatches() at steady-clock millisecond `dueMs` (or soon
  // after); called on that shard's thread.
  using WakeFn = std::function<void(std::size_t shard, std::int64_t dueMs)>;

  // `writer` and `reader` are null when messages are not stored (--db none).
  // `clock` gives message timestamps (Unix ms); `steadyClock` the batches' times (steady ms).
  Hub(std::size_t shardCount, PostFn post, WakeFn wake, FrameEncoder encode, ClockFn clock,
      ClockFn steadyClock, store::StoreWriter* writer, store::StoreReader* reader,
      HubOptions options);
  ~Hub();
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  std::size_t homeShard(std::string_view room) const;
  bool durable() const { return writer_ != nullptr; }

  // The calls below run on shard `shard`'s thread, with `shard` the caller's own.

  // Adds `member` to `room`. A catch-up always follows (history or the replay of `since`, then
  // the presence list): the member holds live frames until its endCatchUp() is called.
  void join(std::size_t shard, const std::string& room, Member* member,
            std::weak_ptr<Member> handle, std::optional<std::uint64_t> since);
  void leave(std::size_t shard, const std::string& room, Member* member);
  // A typing indicator from `username` (already rate-limited by the caller).
  void typing(std::size_t shard, const std::string& room, const std::string& username, bool state);
  // Periodic work of the rooms homed on `shard`: typing expiry, presence summaries.
  void tick(std::size_t shard);
  // Sends the join/leave batches of `shard`'s rooms that are due at steady-clock millisecond
  // `nowMs` (within kBatchSlackMs), and asks for the next wake-up.
  void flushBatches(std::size_t shard, std::int64_t nowMs);
  // A room's join/leave after a quiet second waits this long for company; one less than a
  // second after the room's previous change or batch waits kBatchRepeatMs (from the first of
  // its batch).
  static constexpr std::int64_t kBatchMs = 250;
  static constexpr std::int64_t kBatchRepeatMs = 1000;
  static constexpr std::int64_t kBatchSlackMs = 25;
  // Changes per frame of a batch (see sendBatch).
  static constexpr std::size_t kBatchChunkRecords = 16;
  // Batches sent per loop turn; more that are due wait for the next turn.
  static constexpr std::size_t kBatchesPerTurn = 32;
  // A batch this big leaves at once (a reconnect storm in a room of 1,000).
  static constexpr std::size_t kBatchMaxBytes = 64 * 1024;
  // The users in `room`; `done` runs on `shard`.
  void presence(std::size_t shard, const std::string& room,
                std::function<void(std::vector<std::string>)> done);

  struct Publish {
    std::string username;
    std::string content;
    std::string clientId;
    std::weak_ptr<Member> sender;  // told about a refusal, or given the original of a retry
  };
  void publish(std::size_t shard, const std::string& room, Publish message);

  // A page of `room` older than `before` (0: the newest); `done` runs on `shard`.
  void history(std::size_t shard, const std::string& room, std::uint64_t before, std::size_t limit,
               std::function<void(HistoryPage)> done);

  struct RoomInfo {
    std::string room;
    std::size_t members = 0;
    std::uint64_t lastId = 0;
  };
  // Rooms with members or with stored messages (most recently active first, at most `limit`
  // from the store); `done` runs on `shard`.
  void listRooms(std::size_t shard, std::size_t limit,
                 std::function<void(bool ok, std::vector<RoomInfo>)> done);

  // Any thread, eventually consistent.
  std::size_t roomCount() const { return roomCount_.load(std::memory_order_relaxed); }
  // Rooms with members and their member counts (connections), from a snapshot the home shards
  // keep up to date on join and leave (never on the message path).
  std::vector<std::pair<std::string, std::size_t>> memberCounts() const;
  std::uint64_t messagesSequenced() const;
  std::uint64_t storeRefusals() const { return storeRefusals_.load(std::memory_order_relaxed); }
  std::uint64_t duplicatesSuppressed() const { return duplicates_.load(std::memory_order_relaxed); }
  // Catch-ups that had to ask the writer for their seam / read the store (the others were
  // answered from what the home shard knows).
  std::uint64_t catchUpMarkers() const { return catchUpMarkers_.load(std::memory_order_relaxed); }
  std::uint64_t catchUpReads() const { return catchUpReads_.load(std::memory_order_relaxed); }

 private:
  struct LocalRoom {
    std::vector<Member*> members;
    // The joins/leaves that reached this shard since the room's last batch, as records (~20
    // bytes each, a quarter of their frames: a crowd's batch waits up to a second); a member
    // gets them from its batchFrom_ on (those that arrived after it was added).
    std::string batch;
    std::int64_t batchDueMs = 0;   // when `batch` leaves (steady ms); 0 while empty
    std::int64_t lastBatchMs = 0;  // when the previous batch left
    std::int64_t lastEventMs = 0;  // when the previous join/leave reached the shard
  };
  struct BatchDue {
    std::int64_t dueMs;
    std::string room;
  };
  struct RecentSend {
    Frame frame;  // null while the original is still on its way to the store
    std::int64_t atMs = 0;
  };
  struct HomeRoom {
    std::uint64_t lastId = 0;             // the sequence when there is no store
    std::uint64_t shardsWithMembers = 0;  // bit i: shard i has local members
    std::size_t members = 0;              // connections
    RoomPresence presence;
    std::unordered_map<std::string, RecentSend> recent;  // "user\n client_id" -> the original
    std::list<std::string> recentOrder;  // a list: an empty one allocates nothing (a deque does)
    // With a store: the room's last durable id, once a marker told it; exact while inFlight is
    // 0, because only this home shard stores the room's messages. A join then needs no marker.
    std::uint64_t durableLastId = 0;
    std::uint32_t inFlight = 0;  // this room's messages handed to the store, not yet back
    std::uint32_t markers = 0;   // seam markers in the writer's queue for this room
    bool durableKnown = false;
  };
  struct Pending {
    std::string room;
    std::string username;
    std::string content;
    std::string clientId;
    std::int64_t unixMillis = 0;
    std::size_t originShard = 0;
    std::weak_ptr<Member> sender;
  };
  struct StoredBatch;  // a commit's outcome, waiting to be fanned out (Hub.cpp)
  struct alignas(64) ShardState {
    std::unordered_map<std::string, LocalRoom> local;
    // Rooms with a batch waiting, each list in order of due time (one fixed delay each). An
    // entry whose room left early (a message took the batch along) is skipped: dueMs differs.
    std::deque<BatchDue> batchSoon;    // kBatchMs
    std::deque<BatchDue> batchRepeat;  // kBatchRepeatMs
    std::int64_t wakeMs = 0;           // the wake-up asked for (0: none)
    std::unordered_map<std::string, HomeRoom> home;
    std::vector<Pending> toStore;  // sequenced this loop turn, handed to the store at its end
    bool storeFlushPosted = false;
    // Commits come back whole; they are fanned out a few messages per task, in order, so the
    // shard writes (and reads) between them instead of sending one burst per commit.
    std::deque<std::shared_ptr<StoredBatch>> stored;
    std::size_t storedNext = 0;  // the next message of stored.front()
    bool storedDrainPosted = false;
    // Home rooms with typing users, a summary due, or (empty) client ids still remembered.
    std::unordered_set<std::string> ticking;
    std::atomic<std::uint64_t> sequenced{0};
  };

  void onHome(std::size_t from, std::size_t home, std::function<void()> task);
  // On the home shard.
  void sequence(std::size_t home, Pending p);
  // Return the presence frame for the joiner.
  Frame memberJoined(std::size_t home, const std::string& room, std::size_t shard, bool firstHere,
                     const std::string& username);
  void memberLeft(std::size_t home, const std::string& room, std::size_t shard, bool lastHere,
                  const std::string& username);
  void broadcastTyping(std::size_t home, const std::string& room, HomeRoom& r,
                       const std::string& username, bool state);
  void broadcastMembership(std::size_t home, const std::string& room, HomeRoom& r, const char* type,
                           const std::string& username);
  void flushToStore(std::size_t home);
  void drainStored(std::size_t home);
  void onStored(std::size_t home, const store::StoreStatus& status, const store::StoredMessage& m,
                Pending& p);
  void fanOut(std::size_t home, const std::string& room, std::uint64_t shardMask,
              const Frame& frame);
  // (this->*deliver)(shard, room, what) on every shard of `shardMask`: at once on `home`,
  // posted to the others. Posts leave in order on each home->shard queue, so every shard sees
  // the room's frames and join/leave changes in the order the home shard made them.
  template <typename What>
  void toShards(std::size_t home, std::uint64_t shardMask,
                void (Hub::*deliver)(std::size_t, const std::string&, const What&),
                const std::string& room, const What& what);
  void remember(HomeRoom& r, const std::string& key, Frame frame, std::int64_t now);
  void forgetExpired(HomeRoom& r, std::int64_t now);
  void startCatchUp(std::size_t shard, const std::string& room, std::weak_ptr<Member> handle,
                    std::optional<std::uint64_t> since, Frame presence);
  // The catch-up below the seam `bound` (everything above arrives live); reads the store only
  // when there is something to read.
  void catchUpTo(std::size_t shard, const std::string& room, std::weak_ptr<Member> handle,
                 std::optional<std::uint64_t> since, Frame presence, std::uint64_t bound);
  void failCatchUp(std::size_t shard, const std::weak_ptr<Member>& handle,
                   std::optional<std::uint64_t> since, const Frame& presence, std::string why);
  // An empty room stays while anything may still come back to it: its messages from the store
  // (so inFlight stays exact), a seam marker (so the marker's answer is about this very room),
  // or client ids a reconnecting sender may retry. The tick forgets it afterwards.
  static bool removable(const HomeRoom& r) {
    return r.members == 0 && r.recent.empty() && r.inFlight == 0 && r.markers == 0;
  }
  // On any shard.
  void deliverLocal(std::size_t shard, const std::string& room, const Frame& frame);
  // A join/leave (a record: see Hub.cpp) waits for the room's batch on the shard.
  void addToBatch(std::size_t shard, const std::string& room, const std::string& record);
  void sendBatch(LocalRoom& local, std::int64_t nowMs);
  // The wire frames of `records`; `marks` gets (record offset, wire offset) of each one.
  std::string batchWire(std::string_view records,
                        std::vector<std::pair<std::uint32_t, std::uint32_t>>* marks) const;
  void askWake(std::size_t shard);
  void sendTo(std::size_t shard, std::weak_ptr<Member> member, Frame frame);

  std::size_t shardCount_;
  PostFn post_;
  WakeFn wake_;
  FrameEncoder encode_;
  ClockFn clock_;
  ClockFn steadyClock_;
  store::StoreWriter* writer_;
  store::StoreReader* reader_;
  HubOptions options_;
  std::unique_ptr<ShardState[]> shards_;
  std::atomic<std::size_t> roomCount_{0};
  mutable std::mutex countsMutex_;  // join/leave only
  std::unordered_map<std::string, std::size_t> counts_;
  std::atomic<std::uint64_t> storeRefusals_{0};
  std::atomic<std::uint64_t> duplicates_{0};
  std::atomic<std::uint64_t> catchUpMarkers_{0};
  std::atomic<std::uint64_t> catchUpReads_{0};
};

}  // namespace parley::chat
