// WsSession: one WebSocket connection after the upgrade: bytes in (RFC 6455 frames), the
// outbound queue written in gather writes, backpressure, keep-alive pings and the close
// handshake, as Beast's websocket_session is. What the client's text frames mean, and which
// frames it is sent, is its Conversation's (chat/), which it holds and carries frames for.
// Owns its socket; never blocks, never lets its queue grow past the configured bound (it closes
// with 4008 instead).
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "chat/Conversation.h"
#include "chat/Transport.h"
#include "net/ConnectionGate.h"
#include "net/FileDescriptor.h"
#include "net/WsCodec.h"

namespace parley::net {

class Shard;

// A complete text frame around `json`, shared by every recipient (`messageId`: a chat
// message's id, 0 for other frames).
chat::Frame makeTextFrame(std::string_view json, std::uint64_t messageId);

class WsSession final : public std::enable_shared_from_this<WsSession>, public chat::Transport {
 public:
  static constexpr std::size_t kMaxWriteFrames = 1024;  // frames per write: Linux's IOV_MAX
  // Takes ownership of `fd`, a connected TCP socket.
  // `admission`: what the ConnectionGate counted this connection as. `addressSlot`: the client
  // address's slot in the per-address message rate table (chat::RateBucketTable), or kNoSlot.
  WsSession(Shard& shard, FileDescriptor fd, Admission admission, std::string room,
            std::string username, std::uint32_t addressSlot = chat::RateBucketTable::kNoSlot);
  ~WsSession();

  // Queues the handshake `response` (it leaves with the catch-up frames), starts the
  // conversation (which joins the room) and starts reading; `early` holds bytes the client sent
  // right after its handshake (they arrived with the HTTP request). `since`: replay what the
  // client missed. `tokenExpiresAtMs`: when the connection's token expires (unix ms; 0: none).
  // `rooms`: the rooms the token reaches (null: every room).
  void start(std::string response, std::string early, std::optional<std::uint64_t> since,
             std::int64_t tokenExpiresAtMs, std::unique_ptr<const auth::RoomGrants> rooms = {});

  // chat::Transport: the conversation's frames and decisions.
  void send(const chat::Frame& frame) override;
  bool canHold(std::size_t bytes) override;
  void sendCatchUp(std::span<const chat::Frame> frames) override;
  void close(std::uint16_t code, const char* reason) override { beginClose(code, reason); }
  std::shared_ptr<void> lifetime() override { return shared_from_this(); }

  // Server-initiated close: drops what is still queued (but a frame half on the wire), sends a
  // close frame, and gives the peer until a deadline to answer before the socket is closed.
  void closeWith(std::uint16_t code, const char* reason) { beginClose(code, reason); }

  // Called by the shard at the end of a loop turn (or when the socket has room again): writes
  // what is queued with sendmsg.
  void flush();
  // Called by the shard with the epoll events of the socket.
  void onEvents(std::uint32_t events);
  void keepAliveTick(std::int64_t nowMs);
  // Bytes this connection holds in an incomplete frame or message (counted in the shard's bound).
  std::size_t partialBytes() const { return parser_.heldBytes(); }

 private:
  friend class Shard;
  enum class State : std::uint8_t { Open, Closing, Closed };

  chat::ConversationContext& conversationContext();
  void readLoop();
  // Returns false once the session stopped reading (closing or closed).
  bool consume(char* data, std::size_t len);
  bool onMessage(const WsMessage& msg);
  // Puts the session on the shard's dirty list once: its queue is written at the end of the turn.
  void markDirty();
  void enqueue(const chat::Frame& frame);
  // Decided inside a delivery (the hub may be walking a member list): carried out at flush.
  void closeLater(std::uint16_t code);
  void beginClose(std::uint16_t code, const char* reason);
  void finish(std::uint16_t countedCode);
  void consumeWritten(std::size_t bytes);
  enum class WriteResult : std::uint8_t { Done, Blocked, Failed };
  // Gather-writes the queue until it is empty or the socket is full. Touches nothing but the
  // socket and the queue, so it is safe inside the hub's fan-out loop.
  WriteResult writeQueued();
  void afterWrite(WriteResult result);

  // The end-of-turn flush in two halves, for the shard's SendRing (flush() is both in one):
  // prepareFlush() acts on what the turn decided (a failed write, a pending close) and says
  // whether there is something to write; the shard then gathers the queue into a batched send
  // and hands its result to wrote(). Nothing else touches the queue in between.
  bool prepareFlush();
  bool writable() const;
  std::size_t queuedFrames() const { return queue_.size() - queueHead_; }
  std::size_t gather(std::span<iovec> iov) const;
  void wrote(int result);  // bytes written, or -errno
  // Gives the connection's place in the gate back and closes the socket (once).
  void closeSocket();
  // Closes with 1008 for what its partial frame did (too slow, or too much for the shard): the
  // held bytes go at once, and what follows is discarded like after a protocol error.
  // `counted`: what the shard's bound counts for this session now.
  void dropPartial(const char* reason, std::size_t counted);

  Shard& shard_;
  FileDescriptor fd_;
  // The flags share the descriptor's word: each byte here is paid by every idle connection.
  State state_ = State::Open;
  bool dirty_ : 1 = false;
  bool waitingWritable_ : 1 = false;
  bool pingOutstanding_ : 1 = false;
  bool closeQueued_ : 1 = false;
  bool writeShut_ : 1 = false;
  bool parserFailed_ : 1 = false;  // or closed for a partial frame: input is discarded
  bool writeFailed_ : 1 = false;
  bool consuming_ : 1 = false;      // inside parser_.feed() (finish() then leaves the count to it)
  std::uint16_t pendingClose_ = 0;  // decided inside send(); carried out at flush
  WsFrameParser parser_;

  // Outbound queue: frames from queueHead_ on, the first one already written up to headOffset_.
  std::vector<chat::Frame> queue_;
  std::size_t queueHead_ = 0;
  std::size_t headOffset_ = 0;
  std::size_t queuedBytes_ = 0;

  std::int64_t lastHeardMs_ = 0;
  std::int64_t closeDeadlineMs_ = 0;
  std::uint32_t shardSlot_ = 0;  // its index in the shard's session list
  Admission admission_;          // its place in the connection gate, given back at close
  chat::Conversation conversation_;
};

}  // namespace parley::net
