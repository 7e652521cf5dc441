#include "net/WsSession.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <limits>

#include "auth/TokenService.h"
#include "chat/Protocol.h"
#include "chat/TokenRefusal.h"
#include "metrics/Metrics.h"
#include "net/Shard.h"

namespace parley::net {

namespace {

constexpr int kReadRoundsPerTurn = 8;  // then yield to the other connections of the shard
constexpr std::int64_t kTypingIntervalMs = 1000;  // same state again: at most once a second
constexpr std::int64_t kTypingMinGapMs = 100;     // any typing frame: at most ten a second

chat::Frame makeFrame(WsOpcode opcode, std::string_view payload, std::uint64_t messageId = 0) {
  return std::make_shared<const chat::WireFrame>(
      chat::WireFrame{buildFrame(opcode, payload), messageId, {}});
}

const chat::Frame& pingFrame() {
  static const chat::Frame frame = makeFrame(WsOpcode::Ping, {});
  return frame;
}

}  // namespace

chat::Frame makeTextFrame(std::string_view json, std::uint64_t messageId) {
  return makeFrame(WsOpcode::Text, json, messageId);
}

WsSession::WsSession(Shard& shard, int fd, std::string room, std::string username)
    : shard_(shard),
      fd_(fd),
      parser_(shard.ctx().options.maxFrameBytes),
      room_(std::move(room)),
      username_(std::move(username)) {}

WsSession::~WsSession() {
  if (fd_ >= 0) ::close(fd_);
}

void WsSession::start(std::string response, std::string early, std::optional<std::uint64_t> since) {
  // Nothing to set on the socket: it is non-blocking (accept4, or Asio's for a kept-alive HTTP
  // connection), and TCP_NODELAY came from the listening socket (Listener).
  lastHeardMs_ = steadyMillis();
  // Counted as open by startWebSocket (HttpSession.cpp), before its 101 went out.
  if (!shard_.add(shared_from_this(), fd_)) {
    shard_.ctx().metrics.connectionClosed();
    ::close(std::exchange(fd_, -1));
    state_ = State::Closed;
    return;
  }
  enqueue(std::make_shared<const chat::WireFrame>(chat::WireFrame{std::move(response), 0, {}}));
  // Live frames are held until the history (if any) and the presence list have gone out.
  catchingUp_ = true;
  shard_.ctx().hub.join(shard_.index(), room_, this,
                        std::weak_ptr<chat::Member>(shared_from_this()), since);
  inRoom_ = true;
  if (!early.empty() && !consume(early.data(), early.size())) return;
  // No read here: adding the socket to the epoll set (edge-triggered) reports data that is
  // already waiting, so the first event reads it. A read now would mostly say EAGAIN.
  // A shutdown that began while this connection was being upgraded did not see it.
  if (shard_.ctx().stopping.load()) closeWith(close_code::GoingAway, "server shutting down");
}

void WsSession::onEvents(std::uint32_t events) {
  if (state_ == State::Closed) return;
  if ((events & EPOLLOUT) && waitingWritable_) {
    waitingWritable_ = false;
    flush();
  }
  // Errors and hang-ups are read too: recv() says what happened.
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) readLoop();
}

void WsSession::readLoop() {
  if (state_ == State::Closed) return;
  const auto buf = shard_.readBuffer();
  const int fd = fd_;
  for (int round = 0; round < kReadRoundsPerTurn; ++round) {
    const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n > 0) {
      lastHeardMs_ = steadyMillis();
      pingOutstanding_ = false;
      if (!consume(buf.data(), static_cast<std::size_t>(n))) return;
      // A short read emptied the socket: wait for the next edge rather than pay a recv() that
      // only says EAGAIN (data arriving after this read raises a new edge).
      if (static_cast<std::size_t>(n) < buf.size()) return;
      continue;
    }
    if (n == 0) {
      finish(1006);  // the peer closed TCP (without a close handshake if we were still open)
      return;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;  // the next edge calls us
    finish(1006);
    return;
  }
  // Still more to read: let the shard's other connections have their turn first.
  boost::asio::post(shard_.io(), [self = shared_from_this()] { self->readLoop(); });
}

bool WsSession::consume(char* data, std::size_t len) {
  if (state_ == State::Closed) return false;
  if (parserFailed_) return true;  // closing after a protocol error: discard until EOF/deadline
  const std::uint16_t error =
      parser_.feed(data, len, [this](const WsMessage& msg) { return onMessage(msg); });
  if (error) {
    parserFailed_ = true;
    beginClose(error, error == close_code::TooBig           ? "message too big"
                      : error == close_code::InvalidPayload ? "invalid UTF-8"
                                                            : "protocol error");
  }
  return state_ != State::Closed;
}

bool WsSession::onMessage(const WsMessage& msg) {
  auto& ctx = shard_.ctx();
  if (state_ != State::Open) {
    // Waiting for the peer's answer to our close; everything else is moot now.
    if (msg.opcode == WsOpcode::Close) {
      finish(0);
      return false;
    }
    return true;
  }
  switch (msg.opcode) {
    case WsOpcode::Text: {
      ctx.metrics.messagesReceived(1);
      chat::ProtocolLimits limits{ctx.options.maxContentChars};
      chat::ClientRequest req = chat::parseClientFrame(msg.payload, limits);
      if (req.kind == chat::ClientRequest::Kind::Chat && !takeMessageToken()) {
        // A flood is refused message by message, each refusal said: nothing is dropped silently.
        ctx.metrics.reject(metrics::Rejection::RateLimited);
        sendNow(makeTextFrame(
            chat::buildErrorJson("rate_limited", "too many messages; this one was not sent",
                                 req.clientId),
            0));
      } else if (req.kind == chat::ClientRequest::Kind::Chat) {
        lastTypingState_ = false;  // the message ends typing, so a new `true` is a change
        ctx.hub.publish(
            shard_.index(), room_,
            chat::Hub::Publish{username_, std::move(req.content), std::move(req.clientId),
                               std::weak_ptr<chat::Member>(shared_from_this())});
      } else if (req.kind == chat::ClientRequest::Kind::History) {
        requestHistory(req.before, req.limit);
      } else if (req.kind == chat::ClientRequest::Kind::Auth) {
        renewToken(req.token);
      } else if (req.kind == chat::ClientRequest::Kind::Typing) {
        // A repeat of the same state within the interval adds nothing but load: dropped (the
        // hub only broadcasts changes, and a refresh every few seconds keeps `true` alive).
        const std::int64_t now = steadyMillis();
        const std::int64_t since = now - lastTypingMs_;
        if (since < kTypingMinGapMs ||
            (req.typing == lastTypingState_ && since < kTypingIntervalMs)) {
          ctx.metrics.reject(metrics::Rejection::RateLimited);
        } else {
          lastTypingMs_ = now;
          lastTypingState_ = req.typing;
          ctx.hub.typing(shard_.index(), room_, username_, req.typing);
        }
      } else {
        ctx.metrics.reject(metrics::rejectionForCode(req.code));
        sendNow(makeTextFrame(chat::buildErrorJson(req.code, req.message), 0));
      }
      return true;
    }
    case WsOpcode::Binary:
      beginClose(close_code::UnsupportedData, "binary frames are not accepted");
      return true;  // keep parsing: the peer's close answer may follow in the same read
    case WsOpcode::Ping:
      sendNow(makeFrame(WsOpcode::Pong, msg.payload));
      return true;
    case WsOpcode::Pong:
      return true;
    case WsOpcode::Close: {
      // The peer starts the close handshake: answer with its code, then wait for it to hang up.
      state_ = State::Closing;
      const std::uint16_t code = msg.closeCode == 1005 ? close_code::Normal : msg.closeCode;
      ctx.metrics.disconnect(code);
      leaveRoom();
      enqueue(makeFrame(WsOpcode::Close,
                        msg.closeCode == 1005 ? std::string_view{} : msg.payload.substr(0, 2)));
      closeQueued_ = true;
      closeDeadlineMs_ = steadyMillis() + ctx.options.shutdownGrace.count();
      return true;
    }
    case WsOpcode::Continuation:
      break;
  }
  return true;
}

void WsSession::deliver(const chat::Frame& frame) {
  if (state_ != State::Open || pendingClose_) return;
  // A message the history already carried can still arrive live after the catch-up ended (its
  // fan-out from another shard raced the history read): ids only grow, so one compare drops it.
  if (frame->messageId != 0 && frame->messageId <= coveredId_) return;
  const std::size_t limit = shard_.ctx().options.maxOutboundBytes;
  if (catchingUp_) {
    // Held frames count against the same bound as queued ones.
    if (heldBytes_ + queuedBytes_ + frame->bytes.size() > limit) {
      pendingClose_ = close_code::SlowConsumer;
      if (!dirty_) {
        dirty_ = true;
        shard_.markDirty(shared_from_this());
      }
      return;
    }
    held_.push_back(frame);
    heldBytes_ += frame->bytes.size();
    return;
  }
  // Over the bound, the kernel may still have room: a burst within one loop turn is not a slow
  // reader. Only a queue the socket cannot take counts. (A failed write is acted on in flush.)
  if (queuedBytes_ + frame->bytes.size() > limit && !waitingWritable_ && !writeFailed_)
    writeFailed_ = writeQueued() == WriteResult::Failed;
  if (queuedBytes_ + frame->bytes.size() > limit) {
    // Closing here would change the room's member list while the hub walks it: decide now,
    // act in flush().
    pendingClose_ = close_code::SlowConsumer;
    if (!dirty_) {
      dirty_ = true;
      shard_.markDirty(shared_from_this());
    }
    return;
  }
  enqueue(frame);
  shard_.countDelivered(1);
}

void WsSession::endCatchUp(std::vector<chat::Frame> frames, std::uint64_t coveredId) {
  if (!catchingUp_) return;
  catchingUp_ = false;
  coveredId_ = coveredId;
  std::vector<chat::Frame> held;
  held.swap(held_);
  heldBytes_ = 0;
  if (state_ != State::Open) return;
  for (auto& f : frames) enqueue(f);
  if (!dirty_) {
    dirty_ = true;
    shard_.markDirty(shared_from_this());
  }
  // Live frames the history already covered are dropped: no duplicate at the seam.
  for (auto& f : held) deliver(f);  // those the history covered are dropped there
}

bool WsSession::takeMessageToken() {
  const double rate = shard_.ctx().options.maxMessageRate;
  if (rate <= 0) return true;
  const double burst = 2 * rate;
  const std::int64_t now = steadyMillis();
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

void WsSession::requestHistory(std::uint64_t before, std::size_t limit) {
  std::weak_ptr<WsSession> weak = shared_from_this();
  shard_.ctx().hub.history(
      shard_.index(), room_, before, limit, [weak, before](chat::HistoryPage page) {
        auto self = weak.lock();
        if (!self) return;
        if (!page.ok) {
          self->sendNow(
              makeTextFrame(chat::buildErrorJson("history_unavailable",
                                                 "history could not be read: " + page.error),
                            0));
          return;
        }
        self->sendNow(
            makeTextFrame(chat::buildHistoryJson(page.json, page.hasMore, before ? before : 0), 0));
      });
}

void WsSession::sendNow(chat::Frame frame) {
  // Through deliver(): error and pong frames obey the same bound as room traffic, so a client
  // that floods bad input (or pings) without reading is cut with 4008, not buffered forever.
  deliver(frame);
}

void WsSession::enqueue(const chat::Frame& frame) {
  queue_.push_back(frame);
  queuedBytes_ += frame->bytes.size();
  if (dirty_) return;
  dirty_ = true;
  shard_.markDirty(shared_from_this());
}

void WsSession::beginClose(std::uint16_t code, const char* reason) {
  if (state_ != State::Open) return;
  state_ = State::Closing;
  shard_.ctx().metrics.disconnect(code);
  leaveRoom();
  if (code == close_code::SlowConsumer) {
    // The backlog is what made it slow: drop it, but finish a frame already part-written,
    // since cutting it would corrupt the stream.
    const std::size_t keep = queueHead_ + (headOffset_ > 0 && queueHead_ < queue_.size() ? 1 : 0);
    for (std::size_t i = keep; i < queue_.size(); ++i) queuedBytes_ -= queue_[i]->bytes.size();
    queue_.resize(keep);
  }
  enqueue(std::make_shared<const chat::WireFrame>(
      chat::WireFrame{buildCloseFrame(code, reason), 0, {}}));
  closeQueued_ = true;
  closeDeadlineMs_ = steadyMillis() + shard_.ctx().options.shutdownGrace.count();
}

void WsSession::closeWith(std::uint16_t code, const char* reason) { beginClose(code, reason); }

std::size_t WsSession::gather(std::span<iovec> iov) const {
  std::size_t count = 0;
  for (std::size_t i = queueHead_; i < queue_.size() && count < iov.size(); ++i, ++count) {
    const std::string& f = queue_[i]->bytes;
    const std::size_t off = i == queueHead_ ? headOffset_ : 0;
    iov[count].iov_base = const_cast<char*>(f.data() + off);
    iov[count].iov_len = f.size() - off;
  }
  return count;
}

WsSession::WriteResult WsSession::writeQueued() {
  iovec iov[kMaxWriteFrames];
  while (queueHead_ < queue_.size()) {
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = gather(iov);
    const ssize_t written = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
    shard_.countWrite();
    if (written >= 0) {
      consumeWritten(static_cast<std::size_t>(written));
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return WriteResult::Blocked;
    return WriteResult::Failed;
  }
  queueHead_ = 0;
  headOffset_ = 0;
  queuedBytes_ = 0;
  // A burst can leave a large array behind (the sweep frees a small one once idle).
  if (queue_.capacity() > 64)
    std::vector<chat::Frame>().swap(queue_);
  else
    queue_.clear();
  return WriteResult::Done;
}

bool WsSession::writable() const {
  // waitingWritable_: the socket's next EPOLLOUT edge resumes (onEvents). A session catching up
  // holds its 101 (and any error frame) for the history and presence to join it, unless it is
  // closing: then everything goes now.
  return state_ != State::Closed && !writeFailed_ && !waitingWritable_ &&
         !(catchingUp_ && state_ == State::Open);
}

bool WsSession::prepareFlush() {
  dirty_ = false;
  if (state_ == State::Closed) return false;
  if (writeFailed_) {
    finish(1006);
    return false;
  }
  if (pendingClose_) beginClose(std::exchange(pendingClose_, 0), "slow consumer");
  if (!writable()) return false;
  if (queueHead_ < queue_.size()) return true;
  afterWrite(writeQueued());  // nothing to send: tidies the queue, finishes a close
  return false;
}

void WsSession::flush() {
  if (prepareFlush()) afterWrite(writeQueued());
}

void WsSession::wrote(int result) {
  if (result >= 0) {
    consumeWritten(static_cast<std::size_t>(result));
    // The rest, if the send did not take it all: frames past the ring's share, or a short write
    // (then sendmsg finds the socket full).
    return afterWrite(writeQueued());
  }
  if (result == -EAGAIN || result == -EWOULDBLOCK) return afterWrite(WriteResult::Blocked);
  if (result == -EINTR) return afterWrite(writeQueued());
  afterWrite(WriteResult::Failed);
}

void WsSession::afterWrite(WriteResult result) {
  switch (result) {
    case WriteResult::Failed:
      return finish(1006);
    case WriteResult::Blocked:
      if (queueHead_ > 64 && queueHead_ * 2 > queue_.size()) {
        queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(queueHead_));
        queueHead_ = 0;
      }
      waitingWritable_ = true;  // the socket's next EPOLLOUT edge resumes (onEvents)
      return;
    case WriteResult::Done:
      if (closeQueued_ && !writeShut_) {
        // Our close frame is out: half-close, and let the peer's close or EOF end the session.
        writeShut_ = true;
        ::shutdown(fd_, SHUT_WR);
      }
      return;
  }
}

void WsSession::consumeWritten(std::size_t bytes) {
  while (bytes > 0) {
    const std::size_t size = queue_[queueHead_]->bytes.size();
    const std::size_t rest = size - headOffset_;
    if (bytes < rest) {
      headOffset_ += bytes;
      return;
    }
    bytes -= rest;
    queuedBytes_ -= size;
    queue_[queueHead_].reset();
    ++queueHead_;
    headOffset_ = 0;
  }
}

void WsSession::keepAliveTick(std::int64_t nowMs) {
  if (state_ == State::Closing) {
    if (nowMs >= closeDeadlineMs_) finish(0);
    return;
  }
  if (state_ != State::Open) return;
  if (tokenDeadlineMs_ && nowMs >= tokenDeadlineMs_)
    return beginClose(close_code::AuthExpired, "token expired");
  // An idle connection keeps no queue array (a busy one keeps it from turn to turn).
  if (queue_.empty() && queue_.capacity() != 0 && !dirty_) std::vector<chat::Frame>().swap(queue_);
  const auto& options = shard_.ctx().options;
  const std::int64_t silentMs = nowMs - lastHeardMs_;
  if (silentMs >= options.idleTimeout.count()) {
    beginClose(close_code::KeepAliveTimeout, "keep-alive timeout");
  } else if (silentMs >= options.pingInterval.count() && !pingOutstanding_) {
    pingOutstanding_ = true;
    enqueue(pingFrame());
  }
}

std::int64_t expiresAtMillis(std::int64_t expSeconds) {
  return expSeconds < std::numeric_limits<std::int64_t>::max() / 1000 ? expSeconds * 1000 : 0;
}

void WsSession::renewToken(const std::string& token) {
  auto& ctx = shard_.ctx();
  auto refuse = [&](metrics::Rejection why, std::string_view code, std::string_view message) {
    ctx.metrics.reject(why);
    sendNow(makeTextFrame(chat::buildErrorJson(code, message), 0));
  };
  // The name was settled at the upgrade: an anonymous connection cannot become an account's.
  if (!tokenDeadlineMs_)
    return refuse(metrics::Rejection::InvalidMessage, "invalid_message",
                  "this connection joined without a token: reconnect with ?token= to use one");
  const auth::TokenCheck check = ctx.tokens.verify(token, unixMillis() / 1000);
  if (auto problem = chat::tokenRefusal(check))
    return refuse(problem->why, problem->code, problem->message);
  if (check.username != username_)
    return refuse(metrics::Rejection::UsernameMismatch, "username_mismatch",
                  "the token is another account's");
  const std::int64_t expiresAtMs = expiresAtMillis(check.expiresAt);
  if (expiresAtMs)
    expireAt(expiresAtMs);
  else
    tokenDeadlineMs_ = std::numeric_limits<std::int64_t>::max();
  ctx.metrics.auth(metrics::Metrics::AuthEvent::Renewed);
  sendNow(makeTextFrame(chat::buildAuthJson(username_, expiresAtMs), 0));
}

void WsSession::expireAt(std::int64_t unixMs) {
  // Kept on the steady clock, like every other deadline here: a wall-clock step must not
  // close (or spare) every authenticated connection at once.
  tokenDeadlineMs_ = std::max<std::int64_t>(1, steadyMillis() + (unixMs - unixMillis()));
}

void WsSession::leaveRoom() {
  if (!inRoom_) return;
  inRoom_ = false;
  shard_.ctx().hub.leave(shard_.index(), room_, this);
}

void WsSession::finish(std::uint16_t countedCode) {
  if (state_ == State::Closed) return;
  if (state_ == State::Open && countedCode) shard_.ctx().metrics.disconnect(countedCode);
  state_ = State::Closed;
  leaveRoom();
  ::close(std::exchange(fd_, -1));  // also takes it out of the shard's epoll set
  shard_.remove(this);              // the shard's hold on the session ends with the current handler
  shard_.ctx().metrics.connectionClosed();
  queue_.clear();
  queueHead_ = 0;
  headOffset_ = 0;
  queuedBytes_ = 0;
  held_.clear();
  heldBytes_ = 0;
}

}  // namespace parley::net
