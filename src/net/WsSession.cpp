#include "net/WsSession.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <limits>

#include "metrics/Metrics.h"
#include "net/Shard.h"

namespace parley::net {

namespace {

constexpr int kReadRoundsPerTurn = 8;  // then yield to the other connections of the shard

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

WsSession::WsSession(Shard& shard, FileDescriptor fd, Admission admission, std::string room,
                     std::string username, std::uint32_t addressSlot)
    : shard_(shard),
      fd_(std::move(fd)),
      parser_(shard.ctx().options.maxFrameBytes),
      admission_(admission),
      conversation_(*this, std::move(username), std::move(room), addressSlot) {}

void WsSession::closeSocket() {
  if (!fd_) return;
  shard_.ctx().gate.release(admission_);
  fd_.reset();  // also takes it out of the shard's epoll set
}

WsSession::~WsSession() = default;

chat::ConversationContext& WsSession::conversationContext() { return shard_.conversations(); }

void WsSession::start(std::string response, std::string early, std::optional<std::uint64_t> since,
                      std::int64_t tokenExpiresAtMs,
                      std::unique_ptr<const auth::RoomGrants> rooms) {
  // Nothing to set on the socket: it is non-blocking (accept4, or Asio's for a kept-alive HTTP
  // connection), and TCP_NODELAY came from the listening socket (Listener).
  lastHeardMs_ = steadyMillis();
  // Counted as open by startWebSocket (HttpSession.cpp), before its 101 went out.
  if (!shard_.add(shared_from_this(), fd_.get())) {
    shard_.ctx().metrics.connectionClosed();
    closeSocket();
    state_ = State::Closed;
    return;
  }
  if (tokenExpiresAtMs) conversation_.expireTokenAt(conversationContext(), tokenExpiresAtMs);
  if (rooms) conversation_.limitRooms(std::move(rooms));
  enqueue(std::make_shared<const chat::WireFrame>(chat::WireFrame{std::move(response), 0, {}}));
  conversation_.start(conversationContext(), since);
  if (!early.empty() && !consume(early.data(), early.size())) return;
  // No read here: adding the socket to the epoll set (edge-triggered) reports data that is
  // already waiting, so the first event reads it. A read now would mostly say EAGAIN.
  // A shutdown that began while this connection was being upgraded did not see it.
  if (shard_.ctx().stopping.load()) closeWith(close_code::kGoingAway, "server shutting down");
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
  const int fd = fd_.get();
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
      finish(close_code::kAbnormal);  // the peer closed TCP (without a close handshake if we were
                                      // still open)
      return;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;  // the next edge calls us
    finish(close_code::kAbnormal);
    return;
  }
  // Still more to read: let the shard's other connections have their turn first.
  boost::asio::post(shard_.io(), [self = shared_from_this()] { self->readLoop(); });
}

bool WsSession::consume(char* data, std::size_t len) {
  if (state_ == State::Closed) return false;
  if (parserFailed_) return true;  // closing after a protocol error: discard until EOF/deadline
  const std::size_t heldBefore = parser_.heldBytes();
  consuming_ = true;
  const std::uint16_t error =
      parser_.feed(data, len, [this](const WsMessage& msg) { return onMessage(msg); });
  consuming_ = false;
  // What the connection holds between reads is counted against the shard's bound. Only growth
  // is checked, so a read that completes a frame is never refused.
  if (state_ == State::Closed) {  // finished inside the feed: what was counted goes back here
    shard_.holdPartial(heldBefore, 0);
    return false;
  }
  const std::size_t heldAfter = parser_.heldBytes();
  if (heldAfter != heldBefore || heldAfter != 0) {
    if (!shard_.holdPartial(heldBefore, heldAfter)) {
      // Past the bound, new partial data is refused by closing the connection that brought it:
      // O(1), no scan of the shard, and the bound holds exactly. A parked frame frees its place
      // at its deadline (--frame-timeout), so an honest client is refused at most that long.
      dropPartial("partial frames over the server's memory bound", heldBefore);
      return state_ != State::Closed;
    }
    parser_.stampIncomplete(lastHeardMs_);
  }
  if (error) {
    parserFailed_ = true;
    beginClose(error, error == close_code::kTooBig           ? "message too big"
                      : error == close_code::kInvalidPayload ? "invalid UTF-8"
                                                             : "protocol error");
  }
  return state_ != State::Closed;
}

bool WsSession::onMessage(const WsMessage& msg) {
  if (state_ != State::Open) {
    // Waiting for the peer's answer to our close; everything else is moot now.
    if (msg.opcode == WsOpcode::Close) {
      finish(0);
      return false;
    }
    return true;
  }
  switch (msg.opcode) {
    case WsOpcode::Text:
      // What it says is the conversation's business (chat/Conversation).
      conversation_.onText(conversationContext(), msg.payload);
      return true;
    case WsOpcode::Binary:
      beginClose(close_code::kUnsupportedData, "binary frames are not accepted");
      return true;  // keep parsing: the peer's close answer may follow in the same read
    case WsOpcode::Ping:
      send(makeFrame(WsOpcode::Pong, msg.payload));
      return true;
    case WsOpcode::Pong:
      return true;
    case WsOpcode::Close: {
      // The peer starts the close handshake: answer with its code, then wait for it to hang up.
      state_ = State::Closing;
      const bool noCode = msg.closeCode == close_code::kNoStatus;
      shard_.ctx().metrics.disconnect(noCode ? close_code::kNormal : msg.closeCode);
      conversation_.end(conversationContext());
      enqueue(makeFrame(WsOpcode::Close, noCode ? std::string_view{} : msg.payload.substr(0, 2)));
      closeQueued_ = true;
      closeDeadlineMs_ = steadyMillis() + shard_.ctx().options.shutdownGrace.count();
      return true;
    }
    case WsOpcode::Continuation:
      break;
  }
  return true;
}

void WsSession::send(const chat::Frame& frame) {
  if (state_ != State::Open || pendingClose_) return;
  const std::size_t limit = shard_.ctx().options.maxOutboundBytes;
  // What the conversation holds back for a room catching up counts too.
  auto over = [&] {
    return queuedBytes_ + conversation_.heldBytes() + frame->bytes.size() > limit;
  };
  // Over the bound, the kernel may still have room: a burst within one loop turn is not a slow
  // reader. Only a queue the socket cannot take counts. (A failed write is acted on in flush.)
  if (over() && !waitingWritable_ && !writeFailed_)
    writeFailed_ = writeQueued() == WriteResult::Failed;
  if (over()) return closeLater(close_code::kSlowConsumer);
  enqueue(frame);
  shard_.countDelivered(1);
}

bool WsSession::canHold(std::size_t bytes) {
  if (state_ != State::Open || pendingClose_) return false;
  if (queuedBytes_ + conversation_.heldBytes() + bytes <= shard_.ctx().options.maxOutboundBytes)
    return true;
  closeLater(close_code::kSlowConsumer);
  return false;
}

void WsSession::sendCatchUp(std::span<const chat::Frame> frames) {
  if (state_ != State::Open) return;
  for (const auto& f : frames) enqueue(f);
  markDirty();  // also when there were none: the writes held back for the catch-up may go now
}

void WsSession::closeLater(std::uint16_t code) {
  // Closing here would change the room's member list while the hub walks it.
  pendingClose_ = code;
  markDirty();
}

void WsSession::markDirty() {
  if (dirty_) return;
  dirty_ = true;
  shard_.markDirty(shared_from_this());
}

void WsSession::enqueue(const chat::Frame& frame) {
  queue_.push_back(frame);
  queuedBytes_ += frame->bytes.size();
  markDirty();
}

void WsSession::beginClose(std::uint16_t code, const char* reason) {
  if (state_ != State::Open) return;
  state_ = State::Closing;
  shard_.ctx().metrics.disconnect(code);
  conversation_.end(conversationContext());
  if (code == close_code::kSlowConsumer) {
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
    const ssize_t written = ::sendmsg(fd_.get(), &msg, MSG_NOSIGNAL);
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
  // waitingWritable_: the socket's next EPOLLOUT edge resumes (onEvents). While the
  // conversation's first catch-up runs, the 101 waits for the history and presence to join it,
  // unless the session is closing: then everything goes now.
  return state_ != State::Closed && !writeFailed_ && !waitingWritable_ &&
         !(conversation_.holdsWrites() && state_ == State::Open);
}

bool WsSession::prepareFlush() {
  dirty_ = false;
  if (state_ == State::Closed) return false;
  if (writeFailed_) {
    finish(close_code::kAbnormal);
    return false;
  }
  if (pendingClose_) beginClose(std::exchange(pendingClose_, std::uint16_t{0}), "slow consumer");
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
      return finish(close_code::kAbnormal);
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
        ::shutdown(fd_.get(), SHUT_WR);
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
  conversation_.tick(nowMs);  // past the token's deadline it closes (4001)
  if (state_ != State::Open) return;
  const auto& options = shard_.ctx().options;
  if (const std::int64_t since = parser_.incompleteSinceMs();
      since != 0 && options.frameTimeout.count() > 0 &&
      nowMs - since >= options.frameTimeout.count())
    return dropPartial("frame not completed in time", parser_.heldBytes());
  // An idle connection keeps no queue array (a busy one keeps it from turn to turn).
  if (queue_.empty() && queue_.capacity() != 0 && !dirty_) std::vector<chat::Frame>().swap(queue_);
  const std::int64_t silentMs = nowMs - lastHeardMs_;
  if (silentMs >= options.idleTimeout.count()) {
    beginClose(close_code::kKeepAliveTimeout, "keep-alive timeout");
  } else if (silentMs >= options.pingInterval.count() && !pingOutstanding_) {
    pingOutstanding_ = true;
    enqueue(pingFrame());
  }
}

void WsSession::dropPartial(const char* reason, std::size_t counted) {
  shard_.holdPartial(counted, 0);
  parser_.release();
  parserFailed_ = true;
  beginClose(close_code::kPolicyViolation, reason);
}

void WsSession::finish(std::uint16_t countedCode) {
  if (state_ == State::Closed) return;
  // Inside the parser's callback, consume() gives back what it counted once feed() returns (and
  // the parser is not released under its feet: it goes with the session).
  if (!consuming_) shard_.holdPartial(parser_.heldBytes(), 0);
  if (state_ == State::Open && countedCode) shard_.ctx().metrics.disconnect(countedCode);
  state_ = State::Closed;
  conversation_.end(conversationContext());
  closeSocket();
  shard_.remove(this);  // the shard's hold on the session ends with the current handler
  shard_.ctx().metrics.connectionClosed();
  queue_.clear();
  queueHead_ = 0;
  headOffset_ = 0;
  queuedBytes_ = 0;
}

}  // namespace parley::net
