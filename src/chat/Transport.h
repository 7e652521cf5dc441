// Transport: what a conversation needs from the connection under it (a WebSocket session in
// net/, a recording fake in the tests): queue a frame for this client, close with a code. Knows
// nothing of sockets, queues' insides or threads; every call is on the connection's own shard
// thread and may only queue or decide, never write, close a socket or re-enter the hub.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "chat/Member.h"

namespace parley::chat {

class Transport {
 public:
  // Queues `frame` for the client (it leaves with this loop turn's other frames). The outbound
  // bound applies: past it the transport drops the frame and closes with 4008 later (never
  // inside this call: the hub may be walking a member list).
  virtual void send(const Frame& frame) = 0;
  // The conversation holds back `bytes` more (live frames while a room catches up): they count
  // against the same bound. False when they do not fit, or the connection is closing; the
  // frame is then dropped, and the transport closes with 4008 as send() would.
  virtual bool canHold(std::size_t bytes) = 0;
  // A room's catch-up is complete: `frames` (its history, then its presence) are queued
  // whatever the bound (a long replay is what the client asked for), and what was held back
  // for the connection's first catch-up (the handshake's answer) goes out with them.
  virtual void sendCatchUp(std::span<const Frame> frames) = 0;
  // Closes the connection with `code` (chat/CloseCode.h) and `reason`; the conversation's
  // end() follows from inside.
  virtual void close(std::uint16_t code, const char* reason) = 0;
  // What keeps the connection, and so the conversation in it, alive. The hub's handles and the
  // answers still to come (history pages) hold it weakly.
  virtual std::shared_ptr<void> lifetime() = 0;

 protected:
  ~Transport() = default;
};

}  // namespace parley::chat
