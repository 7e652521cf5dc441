// Shard: one thread's event loop and everything that lives on it (sessions, scratch buffer,
// the end-of-turn flush). Never touched from another thread except through post() on io().
//
// WebSocket sessions are not Asio sockets: each is registered once, edge-triggered, in the
// shard's own epoll set, which Asio watches as one descriptor. An idle connection then costs
// its session object and nothing else (no reactor state, no pending operation per socket).
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "chat/Conversation.h"
#include "net/ConnectionGate.h"
#include "net/NetOptions.h"

namespace parley::auth {
class AccountDirectory;
class OriginPolicy;
class TokenService;
}  // namespace parley::auth
namespace parley::chat {
class Hub;
}
namespace parley::http {
class Router;
}
namespace parley::metrics {
class Metrics;
}

namespace parley::net {

class SendRing;
class WsSession;

// What every shard shares: read-only options, the hub (whose per-shard parts are thread-owned),
// the router of plain HTTP requests, and the lock-free metrics.
struct ServerContext {
  const NetOptions& options;
  const chat::ConversationOptions& conversation;  // what a client may say
  chat::Hub& hub;
  http::Router& router;
  metrics::Metrics& metrics;
  const auth::TokenService& tokens;
  const auth::AccountDirectory& accountNames;  // --auth open: these names need their token
  const auth::OriginPolicy& origins;           // which web pages may upgrade
  ConnectionGate& gate;                        // counts every TCP connection, from accept
  std::atomic<bool> stopping{false};
};

class Shard {
 public:
  Shard(std::size_t index, ServerContext& ctx);
  ~Shard();

  // Runs the loop on the calling thread until stopped. Opens the SendRing first (on this
  // thread: the ring has a single issuer) unless --io-uring is off or the kernel has none.
  void run();

  boost::asio::io_context& io() { return io_; }
  std::size_t index() const { return index_; }
  ServerContext& ctx() { return ctx_; }
  // What the conversations of this shard's connections share (chat/Conversation).
  chat::ConversationContext& conversations() { return conversations_; }

  // Scratch space every session of this shard reads into: an idle connection owns no buffer.
  std::span<char> readBuffer() { return {readBuffer_.data(), readBuffer_.size()}; }

  // Registers an open session (its socket in the shard's epoll set); the shard holds it until
  // remove(). Returns false when the socket cannot be watched.
  bool add(std::shared_ptr<WsSession> session, int fd);  // `fd` stays the session's
  // The session's socket is already closed (which took it out of the epoll set). It is kept
  // alive until the current handler is over: an event for it may still be in the batch.
  void remove(WsSession* session);
  std::size_t sessionCount() const { return sessions_.size(); }

  // Queues `session` for the end-of-turn flush: every frame it got during this loop turn leaves
  // in one gather write (corking).
  void markDirty(std::shared_ptr<WsSession> session);
  // The hub's join/leave batches: calls Hub::flushBatches at steady millisecond `dueMs`.
  void wakeAt(std::int64_t dueMs);
  void countDelivered(std::uint64_t n) { delivered_ += n; }
  // A session's bytes held in incomplete frames went from `before` to `after`. Returns false
  // (and counts nothing) when growth would take the shard past --max-partial-frame-memory.
  bool holdPartial(std::size_t before, std::size_t after) {
    if (after > before && ctx_.options.maxPartialBytesPerShard != 0 &&
        partialBytes_ - before + after > ctx_.options.maxPartialBytesPerShard)
      return false;
    partialBytes_ = partialBytes_ - before + after;
    return true;
  }
  std::size_t partialBytes() const { return partialBytes_; }
  void countWrite() { ++writes_; }

  void startTimers();
  // Closes every WebSocket of the shard with `code` (shutdown: 1001).
  void closeAll(std::uint16_t code, const char* reason);
  // Closes the WebSockets of `username` (exactly that name, as connections carry it) with
  // `code`; returns how many were open.
  std::size_t closeUser(std::string_view username, std::uint16_t code, const char* reason);

 private:
  void flushDirty();
  void flushThroughRing();
  void sweep();
  void armSweep();
  void waitForEvents();
  void dispatchEvents();

  std::size_t index_;
  ServerContext& ctx_;
  chat::ConversationContext conversations_;
  boost::asio::io_context io_{1};
  std::vector<char> readBuffer_;
  // The shard's epoll set: Asio owns the descriptor (and closes it); epoll_ctl and epoll_wait
  // use its native_handle().
  boost::asio::posix::stream_descriptor epollWatch_;
  std::vector<std::shared_ptr<WsSession>> sessions_;
  std::vector<std::shared_ptr<WsSession>> retired_;  // removed during the current handler
  std::vector<std::shared_ptr<WsSession>> dirty_;
  std::vector<std::shared_ptr<WsSession>> flushing_;
  std::unique_ptr<SendRing> ring_;   // null: every session writes with sendmsg itself
  std::vector<WsSession*> ready_;    // of flushing_: those with something to write
  std::vector<WsSession*> sending_;  // of ready_: those in the ring's current submission
  bool flushPosted_ = false;
  boost::asio::steady_timer batchTimer_;
  boost::asio::steady_timer sweepTimer_;
  std::uint64_t delivered_ = 0;
  std::uint64_t writes_ = 0;
  std::size_t partialBytes_ = 0;  // held by the sessions' parsers between reads (holdPartial)
};

std::int64_t steadyMillis();
std::int64_t unixMillis();

}  // namespace parley::net
