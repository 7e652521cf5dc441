// Conversation: one connection's chat: what its client may say and what it is sent. Parses the
// client's text frames, applies the message rate bucket and the typing throttle, asks the hub
// for history pages, renews the connection's token (and closes it with 4001 past the token's
// deadline), and keeps the connection's room subscription, which holds live frames while the
// room catches up. Never does I/O and never sees a socket: frames go out through its Transport.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "chat/Hub.h"
#include "chat/Protocol.h"
#include "chat/RoomSubscription.h"
#include "chat/Transport.h"

namespace parley::auth {
class TokenService;
}
namespace parley::metrics {
class Metrics;
}

namespace parley::chat {

struct ConversationOptions {
  ProtocolLimits limits;
  double maxMessageRate = 30;  // chat messages per second per connection (bursts of twice); 0: off
};

// What every conversation of one shard shares. It is handed to each call that needs it rather
// than kept by each conversation: an idle connection pays for no pointer to it.
struct ConversationContext {
  Hub& hub;
  std::size_t shard;  // the shard these conversations (and this context) live on
  metrics::Metrics& metrics;
  const auth::TokenService& tokens;
  ConversationOptions options;
  HubEnvironment::FrameEncoder encode;  // JSON -> a text frame
  HubEnvironment::ClockFn steadyClock;  // milliseconds, for deadlines and rates
  HubEnvironment::ClockFn unixClock;    // milliseconds, for token expiry
};

// A token's exp (unix seconds) in unix milliseconds; 0 when it is too far to count (such a token
// outlives any connection).
std::int64_t expiresAtMillis(std::int64_t expSeconds);

class Conversation {
 public:
  // At most one typing frame per kTypingMinGapMs, and the same state again at most once per
  // kTypingRepeatMs: the hub broadcasts only changes, so repeats are load and nothing else.
  static constexpr std::int64_t kTypingMinGapMs = 100;
  static constexpr std::int64_t kTypingRepeatMs = 1000;

  // `transport` outlives the conversation (it holds it). `room`: the connection's room.
  Conversation(Transport& transport, std::string username, std::string room);
  Conversation(const Conversation&) = delete;
  Conversation& operator=(const Conversation&) = delete;

  const std::string& username() const { return username_; }
  Transport& transport() { return transport_; }

  // The connection's token expires at `unixMs`: past that the conversation closes it (4001),
  // unless a renewal ({"type":"auth"}) moved the deadline. A connection without a token has no
  // deadline, and cannot take one later.
  void expireTokenAt(const ConversationContext& context, std::int64_t unixMs);
  // Joins the room: the catch-up (the replay of `since`, or the join history, then presence)
  // comes first, then live traffic.
  void start(ConversationContext& context, std::optional<std::uint64_t> since);
  // One text frame from the client (already valid UTF-8).
  void onText(ConversationContext& context, std::string_view text);
  // The shard's sweep: past the token's deadline, closes the connection with 4001.
  void tick(std::int64_t steadyNowMs);
  // The connection is ending: leaves the room and drops what was held. Idempotent.
  void end(ConversationContext& context);

  // While the connection's first catch-up runs, the transport holds its writes back: the
  // handshake's answer leaves with the history and presence, in one write.
  bool holdsWrites() const { return subscription_.catchingUp(); }
  // Live frames held back while a room catches up: they count against the outbound bound.
  std::size_t heldBytes() const { return heldBytes_; }
  // The subscription to `room`, or null.
  RoomSubscription* subscription(std::string_view room);

 private:
  friend class RoomSubscription;  // keeps heldBytes_

  void sendError(ConversationContext& context, std::string_view code, std::string_view message,
                 std::string_view clientId = {});
  // A frame for this client alone (an error, an answer): it follows the room's catch-up, as
  // every frame after the handshake does.
  void reply(const Frame& frame) { subscription_.deliver(frame); }
  bool takeMessageToken(const ConversationContext& context);
  void typing(ConversationContext& context, bool state);
  void requestHistory(ConversationContext& context, std::uint64_t before, std::size_t limit);
  void renewToken(ConversationContext& context, const std::string& token);
  // This subscription as the hub holds it: weakly, through the connection's lifetime.
  std::weak_ptr<Member> handle(RoomSubscription& subscription);

  Transport& transport_;
  std::string username_;
  RoomSubscription subscription_;
  std::size_t heldBytes_ = 0;
  std::int64_t tokenDeadlineMs_ = 0;  // steady clock; 0: no token
  std::int64_t lastTypingMs_ = 0;     // the typing throttle
  std::int64_t lastRefillMs_ = 0;     // the message rate limit: a token bucket
  float messageTokens_ = -1;          // -1: not started (a full bucket)
  bool lastTypingState_ = false;
};

}  // namespace parley::chat
