// Hub: the rooms. Knows which local members each room has on each shard, gives every message its
// place in its room's order on the room's home shard, and fans one shared frame out to members.
// Never does I/O and never takes a lock: each shard's part is touched only by that shard's thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace parley::chat {

// A complete frame as it goes on the wire: the same immutable bytes for every recipient.
using Frame = std::shared_ptr<const std::string>;

// A local member of a room (a WebSocket session). The hub calls deliver() on the member's own
// shard thread; deliver() must only queue, never close or re-enter the hub.
class Member {
 public:
  virtual void deliver(const Frame& frame) = 0;

 protected:
  ~Member() = default;

 private:
  friend class Hub;
  std::size_t hubSlot_ = 0;  // index in its room's member list, kept by the hub
};

class Hub {
 public:
  // Runs `task` on shard `shard`'s thread, after what is already queued there (FIFO per pair
  // of shards: the order guarantee rests on it).
  using PostFn = std::function<void(std::size_t shard, std::function<void()> task)>;
  // Wraps a JSON text into a complete server frame.
  using FrameEncoder = Frame (*)(std::string_view json);
  // Milliseconds since the Unix epoch, for timestamps.
  using ClockFn = std::int64_t (*)();

  Hub(std::size_t shardCount, PostFn post, FrameEncoder encode, ClockFn clock);
  ~Hub();
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  std::size_t homeShard(std::string_view room) const;

  // The calls below run on shard `shard`'s thread, with `shard` the caller's own.
  void join(std::size_t shard, const std::string& room, Member* member);
  void leave(std::size_t shard, const std::string& room, Member* member);
  void publish(std::size_t shard, const std::string& room, std::string username,
               std::string content);

  // Rooms with at least one member (any thread; eventually consistent).
  std::size_t roomCount() const { return roomCount_.load(std::memory_order_relaxed); }
  // Messages given an id (any thread).
  std::uint64_t messagesSequenced() const;

 private:
  struct LocalRoom {
    std::vector<Member*> members;
  };
  struct HomeRoom {
    std::uint64_t lastId = 0;
    std::uint64_t shardsWithMembers = 0;  // bit i: shard i has local members
  };
  struct alignas(64) ShardState {
    std::unordered_map<std::string, LocalRoom> local;
    std::unordered_map<std::string, HomeRoom> home;
    std::atomic<std::uint64_t> sequenced{0};
  };

  // On the home shard.
  void sequence(std::size_t home, const std::string& room, const std::string& username,
                const std::string& content);
  void setShardMembership(std::size_t home, const std::string& room, std::size_t shard,
                          bool hasMembers);
  // On a shard with members.
  void deliverLocal(std::size_t shard, const std::string& room, const Frame& frame);
  void onHome(std::size_t from, std::size_t home, std::function<void()> task);

  std::size_t shardCount_;
  PostFn post_;
  FrameEncoder encode_;
  ClockFn clock_;
  std::unique_ptr<ShardState[]> shards_;
  std::atomic<std::size_t> roomCount_{0};
};

}  // namespace parley::chat
