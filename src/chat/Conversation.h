// Conversation: one connection's chat: what its client may say and what it is sent. Parses the
// client's text frames, applies the message rate bucket and the typing throttle, asks the hub
// for history pages, renews the connection's token (and closes it with 4001 past the token's
// deadline), and keeps the connection's room subscriptions, which hold live frames while their
// room catches up. Never does I/O and never sees a socket: frames go out through its Transport.
//
// Two shapes, one type: a connection to /ws/{room} is in the path's room for life (the original
// protocol: client frames name no room); a connection to /ws subscribes and unsubscribes
// (docs/PROTOCOL.md, "One connection, many rooms"), and its room-scoped frames name their room.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/RoomGrants.h"
#include "chat/Hub.h"
#include "chat/Protocol.h"
#include "chat/RateBucketTable.h"
#include "chat/RoomSubscription.h"
#include "chat/Transport.h"

namespace parley::auth {
class TokenService;
}
namespace parley::metrics {
class Metrics;
enum class Rejection : unsigned;
}  // namespace parley::metrics

namespace parley::chat {

struct ConversationOptions {
  ProtocolLimits limits;
  double maxMessageRate = 30;  // chat messages per second per connection (bursts of twice); 0: off
  std::size_t maxRooms = 100;  // subscriptions of one connection to /ws
  // The limits across connections (docs/PROTOCOL.md, "Limits"): tables shared by every shard,
  // owned by app/Server. Null: that limit is off.
  RateBucketTable* userRates = nullptr;     // per user name, all their connections together
  RateBucketTable* addressRates = nullptr;  // per client address, all its connections together
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

// How a refused edit or delete is said: its rejection reason, error code and sentence (the
// WebSocket's error frame and the REST answer use the same ones).
struct EditRefusal {
  std::optional<metrics::Rejection> why;  // none for store_unavailable (not the client's doing)
  std::string_view code;
  std::string_view message;
};
EditRefusal editRefusal(EditOutcome outcome);

// A token's exp (unix seconds) in unix milliseconds; 0 when it is too far to count (such a token
// outlives any connection).
std::int64_t expiresAtMillis(std::int64_t expSeconds);

class Conversation {
 public:
  // At most one typing frame per kTypingMinGapMs on the connection, and the same state again in
  // a room at most once per kTypingRepeatMs: the hub broadcasts only changes, so repeats are
  // load and nothing else.
  static constexpr std::int64_t kTypingMinGapMs = 100;
  static constexpr std::int64_t kTypingRepeatMs = 1000;

  // `transport` outlives the conversation (it holds it). `room`: the path's room of a
  // connection to /ws/{room}; empty for /ws. `addressSlot`: the client address's slot in the
  // address rate table (RateBucketTable::slotOf, computed once at the upgrade), or kNoSlot.
  Conversation(Transport& transport, std::string username, std::string room,
               std::uint32_t addressSlot = RateBucketTable::kNoSlot);
  Conversation(const Conversation&) = delete;
  Conversation& operator=(const Conversation&) = delete;
  ~Conversation();

  const std::string& username() const { return username_; }
  Transport& transport() { return transport_; }

  // The connection's token expires at `unixMs`: past that the conversation closes it (4001),
  // unless a renewal ({"type":"auth"}) moved the deadline. A connection without a token has no
  // deadline, and cannot take one later.
  void expireTokenAt(const ConversationContext& context, std::int64_t unixMs);
  // The connection's token reaches only the rooms of `rooms` (its parley_rooms), before start():
  // on /ws/{room}, the path's room (checked at the upgrade) may be read-only; on /ws, every
  // subscribe is checked against them.
  void limitRooms(std::unique_ptr<const auth::RoomGrants> rooms);
  // Joins the path's room (on /ws/{room}): the catch-up (the replay of `since`, or the join
  // history, then presence) comes first, then live traffic. On /ws: nothing yet.
  void start(ConversationContext& context, std::optional<std::uint64_t> since);
  // One text frame from the client (already valid UTF-8).
  void onText(ConversationContext& context, std::string_view text);
  // The room of `subscription` no longer admits the user (RoomSubscription::evicted, already out
  // of the room): on /ws/{room} the connection closes with `closeCode`; on /ws the subscription
  // ends (freed here) after `notice` is queued, and the connection's other rooms go on.
  void evicted(RoomSubscription& subscription, std::uint16_t closeCode, const char* reason,
               const Frame& notice);
  // The shard's sweep: past the token's deadline, closes the connection with 4001.
  void tick(std::int64_t steadyNowMs);
  // The connection is ending: leaves every room and drops what was held. Idempotent.
  void end(ConversationContext& context);

  // While the connection's first catch-up (its path's room) runs, the transport holds its
  // writes back: the handshake's answer leaves with the history and presence, in one write.
  bool holdsWrites() const { return pathRoom_.catchingUp(); }
  // Live frames held back while rooms catch up: they count against the outbound bound.
  std::size_t heldBytes() const { return heldBytes_; }
  // The subscription to `room` (the path's room, or one subscribed on /ws), or null.
  RoomSubscription* subscription(std::string_view room);

 private:
  friend class RoomSubscription;  // keeps heldBytes_
  // What a connection to /ws has beyond the common: its subscriptions and the rooms its token
  // is limited to. One allocation, made at the first subscribe (or when a limited token
  // arrives): a connection to /ws/{room} never has one.
  struct Subscriptions {
    std::vector<std::shared_ptr<RoomSubscription>> list;
    std::unique_ptr<const auth::RoomGrants> grants;  // null: every room
  };

  // A connection to /ws: rooms come and go by subscribe and unsubscribe.
  bool multiplexed() const { return pathRoom_.room().empty(); }
  // A frame about `subscription`'s room, its room already checked.
  void onRoomFrame(ConversationContext& context, RoomSubscription& subscription,
                   ClientRequest& req);
  void subscribe(ConversationContext& context, const std::string& room,
                 std::optional<std::uint64_t> since);
  void unsubscribe(ConversationContext& context, RoomSubscription& subscription);
  // An error frame, counted. About `room` (empty: about the connection): it carries the room,
  // and follows that room's catch-up.
  void refuse(ConversationContext& context, std::string_view code, std::string_view message,
              std::string_view room = {}, std::string_view clientId = {});
  // A frame for this client alone (an error, an answer). One about a subscribed room follows
  // that room's catch-up; on /ws/{room} every one follows the path room's, as every frame after
  // the handshake does.
  void reply(const Frame& frame, std::string_view room);
  // refuse(), counted under `reason` rather than under the code's own name.
  void refuseAs(ConversationContext& context, metrics::Rejection reason, std::string_view code,
                std::string_view message, std::string_view room, std::string_view clientId);
  // Which limit refused a chat message, if any.
  enum class RateRefusal : std::uint8_t { None, Connection, User, Address };
  // The connection's bucket, then the user's, then the address's; a token taken from one is
  // given back when a later one refuses, so a refused message costs nothing.
  RateRefusal takeMessageToken(const ConversationContext& context);
  void typing(ConversationContext& context, RoomSubscription& subscription, bool state);
  // {"type":"edit"} and {"type":"delete"}: asked of the room's owner; a refusal comes back as
  // an error frame carrying the message's id.
  void changeMessage(ConversationContext& context, RoomSubscription& subscription,
                     ClientRequest& req);
  // A connection that joined with a token: its name is proven (only then may it edit or
  // delete its own messages). tokenDeadlineMs_ is set exactly then: no byte more per connection.
  bool signedIn() const { return tokenDeadlineMs_ != 0; }
  void requestHistory(ConversationContext& context, const std::string& room, std::uint64_t before,
                      std::size_t limit);
  void renewToken(ConversationContext& context, const std::string& token);
  // A renewal's token carries `rooms` (null: every room): false, changing nothing, when it does
  // not reach a room the connection is in; otherwise each room's read/write follows it, and on
  // /ws so does every later subscribe.
  bool renewRoomLimits(std::unique_ptr<const auth::RoomGrants> rooms);
  // `subscription` as the hub holds it: weakly. The path's room through the connection's
  // lifetime (an aliasing handle: no allocation); a /ws subscription through its own, so that
  // hub work still on its way to a room the client left finds nothing.
  std::weak_ptr<Member> handle(RoomSubscription& subscription);

  Transport& transport_;
  std::string username_;
  RoomSubscription pathRoom_;             // /ws/{room}: the room; /ws: unused (no room)
  std::unique_ptr<Subscriptions> rooms_;  // /ws: subscriptions and limits (null before either)
  std::size_t heldBytes_ = 0;
  std::int64_t tokenDeadlineMs_ = 0;  // steady clock; 0: no token
  std::int64_t lastTypingMs_ = 0;     // the typing throttle
  std::int64_t lastRefillMs_ = 0;     // the message rate limit: a token bucket
  float messageTokens_ = -1;          // -1: not started (a full bucket)
  // In the padding after the float: an idle connection pays no byte for it. (The user's slot is
  // hashed from the name per sent message instead: ~10 ns, and 4 bytes less per connection.)
  std::uint32_t addressSlot_;
};

}  // namespace parley::chat
