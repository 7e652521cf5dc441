#include "chat/Conversation.h"

#include <algorithm>
#include <limits>

#include "auth/TokenService.h"
#include "chat/CloseCode.h"
#include "chat/TokenRefusal.h"
#include "metrics/Metrics.h"

namespace parley::chat {

std::int64_t expiresAtMillis(std::int64_t expSeconds) {
  return expSeconds < std::numeric_limits<std::int64_t>::max() / 1000 ? expSeconds * 1000 : 0;
}

Conversation::Conversation(Transport& transport, std::string username, std::string room)
    : transport_(transport),
      username_(std::move(username)),
      subscription_(*this, std::move(room)) {}

std::weak_ptr<Member> Conversation::handle(RoomSubscription& subscription) {
  // Aliasing: shares the connection's ownership, points at the subscription inside it.
  return std::shared_ptr<Member>(transport_.lifetime(), &subscription);
}

RoomSubscription* Conversation::subscription(std::string_view room) {
  return subscription_.room() == room ? &subscription_ : nullptr;
}

void Conversation::start(ConversationContext& context, std::optional<std::uint64_t> since) {
  subscription_.join(context, handle(subscription_), since);
}

void Conversation::end(ConversationContext& context) { subscription_.leave(context); }

void Conversation::onText(ConversationContext& context, std::string_view text) {
  context.metrics.messagesReceived(1);
  ClientRequest req = parseClientFrame(text, context.options.limits);
  switch (req.kind) {
    case ClientRequest::Kind::Chat:
      if (!takeMessageToken(context)) {
        // A flood is refused message by message, each refusal said: nothing is dropped silently.
        context.metrics.reject(metrics::Rejection::RateLimited);
        return sendError(context, "rate_limited", "too many messages; this one was not sent",
                         req.clientId);
      }
      lastTypingState_ = false;  // the message ends typing, so a new `true` is a change
      context.hub.publish(context.shard, subscription_.room(),
                          Hub::Publish{username_, std::move(req.content), std::move(req.clientId),
                                       handle(subscription_)});
      return;
    case ClientRequest::Kind::History:
      return requestHistory(context, req.before, req.limit);
    case ClientRequest::Kind::Auth:
      return renewToken(context, req.token);
    case ClientRequest::Kind::Typing:
      return typing(context, req.typing);
    case ClientRequest::Kind::Error:
      context.metrics.reject(metrics::rejectionForCode(req.code));
      return sendError(context, req.code, req.message);
  }
}

void Conversation::sendError(ConversationContext& context, std::string_view code,
                             std::string_view message, std::string_view clientId) {
  reply(context.encode(buildErrorJson(code, message, clientId), 0));
}

bool Conversation::takeMessageToken(const ConversationContext& context) {
  const double rate = context.options.maxMessageRate;
  if (rate <= 0) return true;
  const double burst = 2 * rate;
  const std::int64_t now = context.steadyClock();
  if (messageTokens_ < 0) {
    messageTokens_ = static_cast<float>(burst);
  } else {
    messageTokens_ = static_cast<float>(
        std::min(burst, messageTokens_ + static_cast<double>(now - lastRefillMs_) * rate / 1000.0));
  }
  lastRefillMs_ = now;
  if (messageTokens_ < 1) return false;
  messageTokens_ -= 1;
  return true;
}

void Conversation::typing(ConversationContext& context, bool state) {
  // A repeat of the same state within the interval adds nothing but load: dropped (the hub
  // only broadcasts changes, and a refresh every few seconds keeps `true` alive).
  const std::int64_t now = context.steadyClock();
  const std::int64_t since = now - lastTypingMs_;
  if (since < kTypingMinGapMs || (state == lastTypingState_ && since < kTypingRepeatMs)) {
    context.metrics.reject(metrics::Rejection::RateLimited);
    return;
  }
  lastTypingMs_ = now;
  lastTypingState_ = state;
  context.hub.typing(context.shard, subscription_.room(), username_, state);
}

void Conversation::requestHistory(ConversationContext& context, std::uint64_t before,
                                  std::size_t limit) {
  // The answer comes back on this shard, maybe after the connection has gone.
  std::weak_ptr<Conversation> weak = std::shared_ptr<Conversation>(transport_.lifetime(), this);
  context.hub.history(
      context.shard, subscription_.room(), before, limit,
      [weak, before, encode = context.encode](HistoryPage page) {
        auto self = weak.lock();
        if (!self) return;
        if (!page.ok)
          return self->reply(encode(
              buildErrorJson("history_unavailable", "history could not be read: " + page.error),
              0));
        self->reply(encode(buildHistoryJson(page.json, page.hasMore, before), 0));
      });
}

void Conversation::renewToken(ConversationContext& context, const std::string& token) {
  auto refuse = [&](metrics::Rejection why, std::string_view code, std::string_view message) {
    context.metrics.reject(why);
    sendError(context, code, message);
  };
  // The name was settled at the upgrade: an anonymous connection cannot become an account's.
  if (!tokenDeadlineMs_)
    return refuse(metrics::Rejection::InvalidMessage, "invalid_message",
                  "this connection joined without a token: reconnect with ?token= to use one");
  const auth::TokenCheck check = context.tokens.verify(token, context.unixClock() / 1000);
  if (auto problem = chat::tokenRefusal(check))
    return refuse(problem->why, problem->code, problem->message);
  if (check.username != username_)
    return refuse(metrics::Rejection::UsernameMismatch, "username_mismatch",
                  "the token is another account's");
  const std::int64_t expiresAtMs = expiresAtMillis(check.expiresAt);
  if (expiresAtMs)
    expireTokenAt(context, expiresAtMs);
  else
    tokenDeadlineMs_ = std::numeric_limits<std::int64_t>::max();
  context.metrics.auth(metrics::Metrics::AuthEvent::Renewed);
  reply(context.encode(buildAuthJson(username_, expiresAtMs), 0));
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
