// RedisConnection: one TCP connection to one Redis node, driven on its owner's io_context (the
// RedisLink thread; never used from another thread). Commands are formatted by hiredis's
// redisFormatCommandArgv and pipelined: appended to one buffer, written by one write per batch
// while the previous write is in flight. Replies are parsed by hiredis's redisReader straight
// into RedisReply values and matched to their commands in FIFO order. hiredis's async API is
// never used: in 0.14 it asserts on the first sharded pub/sub message and has no timeouts
// (docs/decisions/0043-redis-link.md).
//
// A subscriber connection (options.subscriber) also takes push messages: arrays named smessage
// (and message/pmessage) go to the push handler only; ssubscribe/sunsubscribe arrays go to the
// push handler and also complete the command at the head of the queue when it expects one.
//
// Timeouts: connecting (connectTimeoutMs), and a command unanswered for commandTimeoutMs after it
// was given: the connection is then broken for good (a pipelined reply cannot be skipped), so
// it closes and every pending command gets an error. Every `done` runs exactly once, on the
// io_context's thread, never inside send(): with the reply, or with an Error reply whose text
// starts "LINK " (timeout, closed, connect failure). It must never reconnect by itself: the
// owner decides when and where (RedisLink's backoff).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/RedisAddress.h"
#include "cluster/RedisReply.h"

namespace boost::asio {
class io_context;
}

namespace parley::cluster {

struct RedisConnectionOptions {
  std::int64_t connectTimeoutMs = 1000;
  std::int64_t commandTimeoutMs = 2000;
  bool subscriber = false;  // sharded pub/sub connection: takes push messages
};

class RedisConnection {
 public:
  using ReplyFn = std::function<void(RedisReply)>;
  struct Handlers {
    std::function<void()> connected;
    // Once, when the connection ends for any reason but the destructor (never after it).
    std::function<void(std::string_view why)> closed;
    std::function<void(RedisReply& push)> push;  // subscriber connections only
  };
  // What answers a command: a reply, or (subscriber) one ssubscribe/sunsubscribe push.
  enum class Expect : std::uint8_t { Reply, Subscribe, Unsubscribe };

  RedisConnection(boost::asio::io_context& io, RedisEndpoint endpoint,
                  RedisConnectionOptions options, Handlers handlers);
  // Closes without calling `closed`; every pending `done` still runs with "LINK closed".
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  void connect();
  // Commands given before the connection is up wait in its buffer and are written once it is.
  void send(const std::vector<std::string>& args, ReplyFn done, Expect expect = Expect::Reply);
  void close(std::string_view why);

  bool connected() const;
  bool closed() const;
  std::size_t pending() const;  // commands sent and not yet answered
  const RedisEndpoint& endpoint() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;  // shared with its own pending Asio operations
};

}  // namespace parley::cluster
