// WsSession: one WebSocket connection after the upgrade: reads and parses client frames, hands
// chat messages to the hub, and writes its outbound queue in gather writes. Owns its socket;
// never blocks, never lets its queue grow past the configured bound (it closes with 4008 instead).
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "chat/Hub.h"
#include "net/WsCodec.h"

namespace parley::net {

class Shard;

// A token's exp (unix seconds) in unix milliseconds; 0 when it is too far to count (such a token
// outlives any connection).
std::int64_t expiresAtMillis(std::int64_t expSeconds);

// A complete text frame around `json`, shared by every recipient (`messageId`: a chat
// message's id, 0 for other frames).
chat::Frame makeTextFrame(std::string_view json, std::uint64_t messageId);

class WsSession final : public std::enable_shared_from_this<WsSession>, public chat::Member {
 public:
  static constexpr std::size_t kMaxWriteFrames = 1024;  // frames per write: Linux's IOV_MAX
  // Takes ownership of `fd`, a connected TCP socket.
  WsSession(Shard& shard, int fd, std::string room, std::string username);
  ~WsSession();

  // Queues the handshake `response` (it leaves with the catch-up frames), joins the room and
  // starts reading; `early` holds bytes the client sent right after its handshake (they arrived
  // with the HTTP request). `since`: replay what the client missed.
  void start(std::string response, std::string early, std::optional<std::uint64_t> since);

  const std::string& username() const override { return username_; }
  void deliver(const chat::Frame& frame) override;
  void endCatchUp(std::vector<chat::Frame> frames, std::uint64_t coveredId) override;
  bool catchingUp() const override { return catchingUp_; }

  // Server-initiated close: drops what is still queued (but a frame half on the wire), sends a
  // close frame, and gives the peer until a deadline to answer before the socket is closed.
  void closeWith(std::uint16_t code, const char* reason);

  // Called by the shard at the end of a loop turn (or when the socket has room again): writes
  // what is queued with sendmsg.
  void flush();
  // Called by the shard with the epoll events of the socket.
  void onEvents(std::uint32_t events);
  void keepAliveTick(std::int64_t nowMs);
  // The connection's token expires at `unixMs`: the session closes with 4001 then.
  void expireAt(std::int64_t unixMs);

 private:
  friend class Shard;
  enum class State : std::uint8_t { Open, Closing, Closed };

  void readLoop();
  // Returns false once the session stopped reading (closing or closed).
  bool consume(char* data, std::size_t len);
  bool onMessage(const WsMessage& msg);
  void sendNow(chat::Frame frame);  // control and error frames for this connection only
  void requestHistory(std::uint64_t before, std::size_t limit);
  // {"type":"auth"}: a fresh token for the same account moves the 4001 deadline.
  void renewToken(const std::string& token);
  bool takeMessageToken();  // control and error frames for this connection only
  void enqueue(const chat::Frame& frame);
  void leaveRoom();
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

  Shard& shard_;
  int fd_;
  WsFrameParser parser_;
  std::string room_;
  std::string username_;

  // Outbound queue: frames from queueHead_ on, the first one already written up to headOffset_.
  std::vector<chat::Frame> queue_;
  std::size_t queueHead_ = 0;
  std::size_t headOffset_ = 0;
  std::size_t queuedBytes_ = 0;
  // Live frames that arrive while the history is being read (catch-up), sent after it.
  std::vector<chat::Frame> held_;
  std::size_t heldBytes_ = 0;
  std::uint64_t coveredId_ = 0;  // the highest id the catch-up history carried

  std::int64_t lastHeardMs_ = 0;
  std::int64_t lastTypingMs_ = 0;  // rate limit of typing frames
  std::int64_t lastRefillMs_ = 0;  // message rate limit: a token bucket
  float messageTokens_ = -1;       // -1: not started (a full bucket)
  std::int64_t closeDeadlineMs_ = 0;
  std::int64_t tokenDeadlineMs_ = 0;  // steady clock; 0: no token
  std::size_t shardSlot_ = 0;
  State state_ = State::Open;
  bool lastTypingState_ = false;
  bool inRoom_ = false;
  bool dirty_ = false;
  bool waitingWritable_ = false;
  bool pingOutstanding_ = false;
  bool closeQueued_ = false;
  bool writeShut_ = false;
  bool parserFailed_ = false;
  bool writeFailed_ = false;
  bool catchingUp_ = false;
  std::uint16_t pendingClose_ = 0;  // decided inside deliver(); carried out at flush
};

}  // namespace parley::net
