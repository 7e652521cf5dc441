#include "chat/Conversation.h"

#include <algorithm>
#include <limits>

#include "auth/TokenService.h"
#include "chat/CloseCode.h"
#include "chat/Names.h"
#include "chat/TokenRefusal.h"
#include "metrics/Metrics.h"

namespace parley::chat {

EditRefusal editRefusal(EditOutcome outcome) {
  using R = metrics::Rejection;
  switch (outcome) {
    case EditOutcome::NotFound:
      return {R::NotFound, "not_found", "no such message in this room (or it was deleted)"};
    case EditOutcome::NotAllowed:
      return {R::NotAllowed, "not_allowed",
              "only its author, signed in, may edit a message; only its author or a moderator "
              "may delete it"};
    case EditOutcome::NoStore:
      return {R::NoStore, "no_store",
              "this server keeps no messages (--db none): there is nothing to edit or delete"};
    case EditOutcome::StoreUnavailable:
    case EditOutcome::Applied:
      break;
  }
  return {std::nullopt, "store_unavailable",
          "the store could not take the change: nothing was changed; try again"};
}

std::int64_t expiresAtMillis(std::int64_t expSeconds) {
  return expSeconds < std::numeric_limits<std::int64_t>::max() / 1000 ? expSeconds * 1000 : 0;
}

Conversation::Conversation(Transport& transport, std::string username, std::string room,
                           std::uint32_t addressSlot)
    : transport_(transport),
      username_(std::move(username)),
      pathRoom_(*this, std::move(room)),
      addressSlot_(addressSlot) {}

Conversation::~Conversation() = default;

std::weak_ptr<Member> Conversation::handle(RoomSubscription& subscription) {
  // Aliasing: shares the connection's ownership, points at the subscription inside it.
  if (&subscription == &pathRoom_)
    return std::shared_ptr<Member>(transport_.lifetime(), &pathRoom_);
  for (const auto& s : rooms_->list)
    if (s.get() == &subscription) return s;
  return {};
}

RoomSubscription* Conversation::subscription(std::string_view room) {
  if (!multiplexed()) return pathRoom_.room() == room ? &pathRoom_ : nullptr;
  if (!rooms_) return nullptr;
  for (const auto& s : rooms_->list)
    if (s->room() == room) return s.get();
  return nullptr;
}

void Conversation::start(ConversationContext& context, std::optional<std::uint64_t> since) {
  if (!multiplexed()) pathRoom_.join(context, handle(pathRoom_), since);
}

void Conversation::end(ConversationContext& context) {
  pathRoom_.leave(context);
  // The subscriptions stay until the conversation goes: a call into one may be on the stack.
  if (rooms_)
    for (const auto& s : rooms_->list) s->leave(context);
}

void Conversation::onText(ConversationContext& context, std::string_view text) {
  using Kind = ClientRequest::Kind;
  context.metrics.messagesReceived(1);
  ClientRequest req = parseClientFrame(text, context.options.limits);
  const Kind asked = req.kind == Kind::Error ? req.asked : req.kind;
  // About the connection, not a room: unparsable frames, unknown types, token renewals.
  if (asked == Kind::Error || asked == Kind::Auth) {
    if (req.kind == Kind::Auth) return renewToken(context, req.token);
    return refuse(context, req.code, req.message);
  }
  if (!multiplexed()) {
    // The original protocol: everything is about the path's room, and a `room` member is
    // ignored like any other unknown member.
    if (asked == Kind::Subscribe || asked == Kind::Unsubscribe)
      return refuse(context, "unknown_type",
                    "subscribe and unsubscribe are for connections to /ws (no room in the path)");
    return onRoomFrame(context, pathRoom_, req);
  }
  // /ws: every other frame names its room.
  using RoomField = ClientRequest::RoomField;
  if (req.roomField == RoomField::Absent)
    return refuse(context, "invalid_message", "room is required on /ws");
  if (req.roomField == RoomField::NotString)
    return refuse(context, "invalid_room", "room must be a string");
  if (const char* why = roomNameError(req.room))
    return refuse(context, "invalid_room", why, req.room);
  RoomSubscription* subscription = this->subscription(req.room);
  if (asked == Kind::Subscribe) {
    if (req.kind == Kind::Error) return refuse(context, req.code, req.message, req.room);
    return subscribe(context, req.room, req.since);
  }
  if (!subscription)
    return refuse(context, "not_subscribed", "subscribe to the room first", req.room);
  if (asked == Kind::Unsubscribe) return unsubscribe(context, *subscription);
  onRoomFrame(context, *subscription, req);
}

void Conversation::onRoomFrame(ConversationContext& context, RoomSubscription& subscription,
                               ClientRequest& req) {
  const std::string& room = subscription.room();
  switch (req.kind) {
    case ClientRequest::Kind::Chat:
      if (subscription.readOnly())
        return refuse(context, "read_only", "the token may read this room but not write to it",
                      room, req.clientId);
      if (const RateRefusal refused = takeMessageToken(context); refused != RateRefusal::None) {
        // A flood is refused message by message, each refusal said: nothing is dropped silently.
        // The client sees one code whichever limit it hit; operators see which one in
        // parley_rejected_total, to tell a flooding connection from an office behind one NAT
        // address that needs a higher --max-address-message-rate.
        const auto reason = refused == RateRefusal::User ? metrics::Rejection::UserRateLimited
                            : refused == RateRefusal::Address
                                ? metrics::Rejection::AddressRateLimited
                                : metrics::Rejection::RateLimited;
        return refuseAs(context, reason, "rate_limited", "too many messages; this one was not sent",
                        room, req.clientId);
      }
      subscription.setTypingState(false);  // the message ends typing: a new `true` is a change
      context.hub.publish(context.shard, room,
                          Hub::Publish{username_,
                                       std::move(req.content),
                                       std::move(req.clientId),
                                       handle(subscription),
                                       signedIn(),
                                       {}});
      return;
    case ClientRequest::Kind::Edit:
    case ClientRequest::Kind::Delete:
      return changeMessage(context, subscription, req);
    case ClientRequest::Kind::History:
      return requestHistory(context, room, req.before, req.limit);
    case ClientRequest::Kind::Typing:
      // Typing is telling the room something: as good as sending.
      if (subscription.readOnly())
        return refuse(context, "read_only", "the token may read this room but not write to it",
                      room);
      return typing(context, subscription, req.typing);
    case ClientRequest::Kind::Error:
      if (req.asked == ClientRequest::Kind::Edit || req.asked == ClientRequest::Kind::Delete) {
        context.metrics.reject(metrics::rejectionForCode(req.code));
        return reply(
            context.encode(buildEditErrorJson(req.code, req.message, req.messageId, room), 0),
            room);
      }
      return refuse(context, req.code, req.message, room);
    case ClientRequest::Kind::Auth:
    case ClientRequest::Kind::Subscribe:
    case ClientRequest::Kind::Unsubscribe:
      return;  // handled by onText
  }
}

void Conversation::changeMessage(ConversationContext& context, RoomSubscription& subscription,
                                 ClientRequest& req) {
  const std::string& room = subscription.room();
  const std::uint64_t id = req.messageId;
  auto refuseChange = [&](metrics::Rejection why, std::string_view code, std::string_view text) {
    context.metrics.reject(why);
    reply(context.encode(buildEditErrorJson(code, text, id, room), 0), room);
  };
  // With --auth open a name without a token proves nothing: anyone could call themselves Alice
  // and rewrite her words. Only a signed-in connection is anyone's author.
  if (!signedIn())
    return refuseChange(metrics::Rejection::NotAllowed, "not_allowed",
                        "sign in to edit or delete messages");
  // Edits and deletes are writes like messages: the same buckets bound them.
  if (takeMessageToken(context) != RateRefusal::None)
    return refuseChange(metrics::Rejection::RateLimited, "rate_limited",
                        "too many messages; this change was not made");
  MessageEdit edit;
  edit.kind =
      req.kind == ClientRequest::Kind::Edit ? MessageEdit::Kind::Edit : MessageEdit::Kind::Delete;
  edit.id = id;
  edit.content = std::move(req.content);
  edit.actor = Actor{username_, true, false};
  // The answer comes back on this shard: only a refusal is said to this client alone (an
  // applied change reaches every member, this one included, as an edited/deleted frame).
  std::weak_ptr<Member> member = handle(subscription);
  context.hub.change(
      context.shard, room, std::move(edit),
      [member, id, room, encode = context.encode, &metrics = context.metrics](EditOutcome outcome) {
        if (outcome == EditOutcome::Applied) return;
        auto m = member.lock();
        if (!m) return;
        auto [why, code, text] = editRefusal(outcome);
        if (why) metrics.reject(*why);
        m->deliver(encode(buildEditErrorJson(code, text, id, room), 0));
      });
}

void Conversation::subscribe(ConversationContext& context, const std::string& room,
                             std::optional<std::uint64_t> since) {
  if (subscription(room))
    return refuse(context, "already_subscribed", "the connection is in this room already", room);
  const auth::GrantLevel access =
      rooms_ && rooms_->grants ? rooms_->grants->access(room) : auth::GrantLevel::Write;
  if (access == auth::GrantLevel::None)
    return refuse(context, "room_not_granted", "the token does not reach this room", room);
  if (!rooms_) rooms_ = std::make_unique<Subscriptions>();
  if (rooms_->list.size() >= context.options.maxRooms)
    return refuse(context, "too_many_rooms",
                  "the connection is in as many rooms as the server allows: unsubscribe first",
                  room);
  // Checked once here, not per message: a removal or a ban later evicts (RoomOwner::accessChanged).
  if (const auth::RoomVerdict verdict = context.hub.admit(room, username_);
      verdict != auth::RoomVerdict::Allowed)
    return verdict == auth::RoomVerdict::Banned
               ? refuse(context, "banned", "you are banned from this room", room)
               : refuse(context, "not_a_member", "this room is for its members only", room);
  // Its own allocation, owned here alone: when the client leaves the room it goes at once, and
  // the hub's weak handles to it find nothing.
  auto subscription = std::make_shared<RoomSubscription>(*this, room);
  subscription->setReadOnly(access == auth::GrantLevel::Read);
  rooms_->list.push_back(subscription);
  subscription->join(context, subscription, since);
}

void Conversation::unsubscribe(ConversationContext& context, RoomSubscription& subscription) {
  const std::string room = subscription.room();
  subscription.leave(context);
  // What the room had queued for the client already leaves first; nothing of it comes after.
  std::erase_if(rooms_->list, [&](const auto& s) { return s.get() == &subscription; });
  reply(context.encode(buildUnsubscribedJson(room), 0), {});
}

void Conversation::evicted(RoomSubscription& subscription, std::uint16_t closeCode,
                           const char* reason, const Frame& notice) {
  if (!multiplexed()) return transport_.close(closeCode, reason);
  // The notice follows whatever of the room was queued already; nothing of the room after it.
  transport_.send(notice);
  if (rooms_) std::erase_if(rooms_->list, [&](const auto& s) { return s.get() == &subscription; });
}

void Conversation::refuse(ConversationContext& context, std::string_view code,
                          std::string_view message, std::string_view room,
                          std::string_view clientId) {
  refuseAs(context, metrics::rejectionForCode(code), code, message, room, clientId);
}

void Conversation::refuseAs(ConversationContext& context, metrics::Rejection reason,
                            std::string_view code, std::string_view message, std::string_view room,
                            std::string_view clientId) {
  context.metrics.reject(reason);
  reply(context.encode(buildErrorJson(code, message, clientId, room), 0), room);
}

void Conversation::reply(const Frame& frame, std::string_view room) {
  if (!multiplexed()) return pathRoom_.deliver(frame);
  if (RoomSubscription* s = room.empty() ? nullptr : subscription(room)) return s->deliver(frame);
  transport_.send(frame);
}

Conversation::RateRefusal Conversation::takeMessageToken(const ConversationContext& context) {
  const ConversationOptions& options = context.options;
  const double rate = options.maxMessageRate;
  if (rate <= 0 && !options.userRates && !options.addressRates) return RateRefusal::None;
  const std::int64_t now = context.steadyClock();
  if (rate > 0) {
    const double burst = 2 * rate;
    if (messageTokens_ < 0) {
      messageTokens_ = static_cast<float>(burst);
    } else {
      messageTokens_ = static_cast<float>(std::min(
          burst, messageTokens_ + static_cast<double>(now - lastRefillMs_) * rate / 1000.0));
    }
    lastRefillMs_ = now;
    if (messageTokens_ < 1) return RateRefusal::Connection;
    messageTokens_ -= 1;
  }
  // The shared buckets: one atomic compare-and-swap each, on a word other shards may touch too.
  std::uint32_t userSlot = RateBucketTable::kNoSlot;
  if (options.userRates) {
    userSlot = options.userRates->slotOf(username_);
    if (!options.userRates->take(userSlot, now)) {
      if (rate > 0) messageTokens_ += 1;
      return RateRefusal::User;
    }
  }
  if (options.addressRates && !options.addressRates->take(addressSlot_, now)) {
    if (rate > 0) messageTokens_ += 1;
    if (options.userRates) options.userRates->refund(userSlot);
    return RateRefusal::Address;
  }
  return RateRefusal::None;
}

void Conversation::typing(ConversationContext& context, RoomSubscription& subscription,
                          bool state) {
  // A repeat of the same state within the interval adds nothing but load: dropped (the hub
  // only broadcasts changes, and a refresh every few seconds keeps `true` alive).
  const std::int64_t now = context.steadyClock();
  const std::int64_t since = now - lastTypingMs_;
  if (since < kTypingMinGapMs || (state == subscription.typingState() && since < kTypingRepeatMs)) {
    context.metrics.reject(metrics::Rejection::RateLimited);
    return;
  }
  lastTypingMs_ = now;
  subscription.setTypingState(state);
  context.hub.typing(context.shard, subscription.room(), username_, state);
}

void Conversation::requestHistory(ConversationContext& context, const std::string& room,
                                  std::uint64_t before, std::size_t limit) {
  // The answer comes back on this shard, maybe after the connection (or the room) has gone.
  std::weak_ptr<Conversation> weak = std::shared_ptr<Conversation>(transport_.lifetime(), this);
  context.hub.history(
      context.shard, room, before, limit,
      [weak, room, before, encode = context.encode](HistoryPage page) {
        auto self = weak.lock();
        if (!self) return;
        if (!page.ok)
          return self->reply(
              encode(buildErrorJson("history_unavailable",
                                    "history could not be read: " + page.error, {}, room),
                     0),
              room);
        self->reply(encode(buildHistoryJson(page.json, page.hasMore, before, room), 0), room);
      });
}

void Conversation::renewToken(ConversationContext& context, const std::string& token) {
  auto refuseAs = [&](metrics::Rejection why, std::string_view code, std::string_view message) {
    context.metrics.reject(why);
    reply(context.encode(buildErrorJson(code, message), 0), {});
  };
  // The name was settled at the upgrade: an anonymous connection cannot become an account's.
  if (!tokenDeadlineMs_)
    return refuseAs(metrics::Rejection::InvalidMessage, "invalid_message",
                    "this connection joined without a token: reconnect with ?token= to use one");
  auth::TokenCheck check = context.tokens.verify(token, context.unixClock() / 1000);
  if (auto problem = chat::tokenRefusal(check))
    return refuseAs(problem->why, problem->code, problem->message);
  if (check.username != username_)
    return refuseAs(metrics::Rejection::UsernameMismatch, "username_mismatch",
                    "the token is another account's");
  if (!renewRoomLimits(std::move(check.rooms)))
    return refuseAs(metrics::Rejection::RoomNotGranted, "room_not_granted",
                    "the new token does not reach a room this connection is in: unsubscribe "
                    "from it first, or reconnect");
  const std::int64_t expiresAtMs = expiresAtMillis(check.expiresAt);
  if (expiresAtMs)
    expireTokenAt(context, expiresAtMs);
  else
    tokenDeadlineMs_ = std::numeric_limits<std::int64_t>::max();
  context.metrics.auth(metrics::Metrics::AuthEvent::Renewed);
  reply(context.encode(buildAuthJson(username_, expiresAtMs), 0), {});
}

void Conversation::limitRooms(std::unique_ptr<const auth::RoomGrants> rooms) {
  if (!rooms) return;
  if (!multiplexed()) {
    // The upgrade refused a token that does not reach the room at all.
    pathRoom_.setReadOnly(rooms->access(pathRoom_.room()) != auth::GrantLevel::Write);
    return;
  }
  if (!rooms_) rooms_ = std::make_unique<Subscriptions>();
  rooms_->grants = std::move(rooms);
}

bool Conversation::renewRoomLimits(std::unique_ptr<const auth::RoomGrants> rooms) {
  auto accessTo = [&](const RoomSubscription& s) {
    return rooms ? rooms->access(s.room()) : auth::GrantLevel::Write;
  };
  if (!multiplexed()) {
    const auth::GrantLevel access = accessTo(pathRoom_);
    if (access == auth::GrantLevel::None) return false;
    pathRoom_.setReadOnly(access != auth::GrantLevel::Write);
    return true;
  }
  if (rooms_)
    for (const auto& s : rooms_->list)
      if (accessTo(*s) == auth::GrantLevel::None) return false;
  if (!rooms_) {
    if (!rooms) return true;
    rooms_ = std::make_unique<Subscriptions>();
  }
  for (const auto& s : rooms_->list) s->setReadOnly(accessTo(*s) != auth::GrantLevel::Write);
  rooms_->grants = std::move(rooms);
  return true;
}

void Conversation::expireTokenAt(const ConversationContext& context, std::int64_t unixMs) {
  // Kept on the steady clock, like every other deadline: a wall-clock step must not close (or
  // spare) every authenticated connection at once.
  tokenDeadlineMs_ =
      std::max<std::int64_t>(1, context.steadyClock() + (unixMs - context.unixClock()));
}

void Conversation::tick(std::int64_t steadyNowMs) {
  if (tokenDeadlineMs_ && steadyNowMs >= tokenDeadlineMs_)
    transport_.close(close_code::kAuthExpired, "token expired");
}

}  // namespace parley::chat
