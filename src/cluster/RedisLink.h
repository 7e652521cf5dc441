// RedisLink: Parley's client over one Redis or a Redis Cluster (detected at start: CLUSTER SLOTS
// answering means a cluster). It routes each command to the master of its key's slot, follows
// MOVED (the slot map is re-read) and ASK (ASKING, then the command, on the named node), retries
// TRYAGAIN/CLUSTERDOWN with backoff within the command's timeout, reconnects with backoff, and
// keeps sharded subscriptions (SSUBSCRIBE on one subscriber connection per node) in place across
// reconnects, slot moves and sunsubscribe pushes. It knows nothing of chat.
//
// It runs on a thread and io_context of its own; Asio stays in RedisLink.cpp. It never blocks
// its thread, never retries a command that may have reached Redis (a LINK error then says so),
// and never keeps more than maxPendingCommands (the rest fail at once).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/RedisAddress.h"
#include "cluster/RedisReply.h"

namespace parley::cluster {

struct RedisLinkOptions {
  std::vector<RedisEndpoint> seeds;
  std::int64_t connectTimeoutMs = 1000;
  std::int64_t commandTimeoutMs = 2000;      // a command unanswered this long fails
  std::int64_t maxReconnectDelayMs = 2000;   // backoff from 50 ms up to this
  std::size_t maxPendingCommands = 100'000;  // beyond: fail at once (bounded)
};

struct RedisLinkCounts {  // any thread, relaxed
  std::uint64_t reconnects = 0, moved = 0, asks = 0, retries = 0, failed = 0, messages = 0;
};

class RedisLink {
 public:
  // All handlers run on the link's own thread and must not block (post elsewhere).
  struct Handlers {
    // A message on a sharded channel (one just unsubscribed may still deliver a few).
    std::function<void(std::string_view channel, std::string_view payload)> message;
    // A sharded subscription is in place (SSUBSCRIBE confirmed): the first time, and again after
    // every reconnect, slot move or sunsubscribe push. What was published while it was not in
    // place is lost: the caller fills gaps from the store.
    std::function<void(std::string_view channel)> subscribed;
    // The link went up (every node of the slot map reachable) or down.
    std::function<void(bool up)> state;
  };
  // Connects to a seed, detects standalone vs Cluster, starts the thread. Throws
  // std::runtime_error at start-up if no seed answers within connectTimeoutMs.
  static std::unique_ptr<RedisLink> start(RedisLinkOptions options, Handlers handlers);
  virtual ~RedisLink() = default;  // stops the thread; pending callbacks get an error reply

  // Any thread. A command for `key` (its slot's master; empty key: any node). `done` (may be
  // null) runs on the link thread once, with the reply or with an Error reply whose text starts
  // "LINK " (timeout, disconnected, queue full).
  using ReplyFn = std::function<void(RedisReply)>;
  virtual void command(std::string_view key, std::vector<std::string> args, ReplyFn done) = 0;
  // SPUBLISH channel payload, routed by the channel's slot; reply: receivers (Integer).
  virtual void publish(std::string_view channel, std::string_view payload, ReplyFn done) = 0;
  // SSUBSCRIBE / SUNSUBSCRIBE, kept across reconnects; idempotent.
  virtual void subscribe(std::string_view channel) = 0;
  virtual void unsubscribe(std::string_view channel) = 0;
  // Runs `task` on the link thread after `ms` (timers for the leases). Dropped at shutdown.
  virtual void after(std::int64_t ms, std::function<void()> task) = 0;
  virtual bool up() const = 0;         // any thread
  virtual bool isCluster() const = 0;  // any thread
  virtual RedisLinkCounts counts() const = 0;
};

}  // namespace parley::cluster
