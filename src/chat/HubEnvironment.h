// HubEnvironment: everything the room parts get from outside, in one struct that app/Server.cpp
// fills in: how to run a task on a shard, when to wake a shard, how JSON becomes a wire frame,
// the clocks, the store's threads, and the options. Plain values and function pointers, so chat/
// never includes net/, Asio or a store implementation; tests fill it with simulated shards.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

#include "chat/DuplicateLimits.h"
#include "chat/Member.h"
#include "chat/Presence.h"

namespace parley::auth {
class RoomAccess;
}
namespace parley::store {
class StoreWriter;
class StoreReader;
}  // namespace parley::store

namespace parley::chat {

class ModerationPolicy;
class RoomOwner;
class RoomRegistry;

struct HubOptions {
  std::size_t historyOnJoin = 50;  // messages sent on join (0: none)
  std::size_t maxReplay = 1000;    // most messages replayed for ?since=
  std::size_t replayPage = 200;    // messages per history frame of a replay
  DuplicateLimits duplicates;      // how long and how many client_ids are remembered
  PresenceOptions presence;
};

struct HubEnvironment {
  // Runs `task` on shard `shard`'s thread, after what is already queued there. Tasks posted by
  // one thread to one shard run in the order posted: a room's order across shards rests on it.
  using PostFn = std::function<void(std::size_t shard, std::function<void()> task)>;
  // Asks shard `shard` to call Hub::flushBatches at steady-clock millisecond `dueMs` (or soon
  // after); called on that shard's thread.
  using WakeFn = std::function<void(std::size_t shard, std::int64_t dueMs)>;
  // A complete text frame around `json` (`messageId`: a chat message's id, 0 for other frames).
  using FrameEncoder = Frame (*)(std::string_view json, std::uint64_t messageId);
  using ClockFn = std::int64_t (*)();

  std::size_t shardCount = 1;  // 1..64: the shards with members of a room are a 64-bit mask
  PostFn post;
  WakeFn wake;
  FrameEncoder encode = nullptr;
  ClockFn unixClock = nullptr;    // message and event timestamps (Unix ms)
  ClockFn steadyClock = nullptr;  // when join/leave batches leave (steady ms)
  // Both null when messages are not stored (--db none).
  store::StoreWriter* writer = nullptr;
  store::StoreReader* reader = nullptr;
  // Who may be in which room (private rooms, bans). Null: every room is open to everyone.
  const auth::RoomAccess* access = nullptr;
  HubOptions options;
  // Who owns the rooms' order: null for this server's home shards (HomeShardOwner); a cluster
  // instance gives the factory of its ClusterOwner (app/Server.cpp).
  using OwnerFactory = std::function<std::unique_ptr<RoomOwner>(
      const HubEnvironment&, RoomRegistry&, const ModerationPolicy&)>;
  OwnerFactory makeOwner;

  // The shard that keeps a room's state on this server (its order, with the home-shard owner).
  std::size_t homeShard(std::string_view room) const {
    return std::hash<std::string_view>{}(room) % shardCount;
  }
};

}  // namespace parley::chat
