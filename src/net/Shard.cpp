#include "net/Shard.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstdio>
#include <system_error>

#include "chat/Hub.h"
#include "metrics/Metrics.h"
#include "net/FileDescriptor.h"
#include "net/SendRing.h"
#include "net/WsSession.h"

namespace parley::net {

std::int64_t steadyMillis() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

std::int64_t unixMillis() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

namespace {
constexpr int kEventsPerBatch = 32;
}

Shard::Shard(std::size_t index, ServerContext& ctx)
    : index_(index),
      ctx_(ctx),
      conversations_{ctx.hub,          index,          ctx.metrics,   ctx.tokens,
                     ctx.conversation, &makeTextFrame, &steadyMillis, &unixMillis},
      readBuffer_(256 * 1024),
      epollWatch_(io_),
      batchTimer_(io_),
      sweepTimer_(io_) {
  FileDescriptor epoll(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll) throw std::system_error(errno, std::generic_category(), "epoll_create1 for a shard");
  epollWatch_.assign(epoll.get());
  (void)epoll.release();  // Asio's now (assign() threw otherwise, and `epoll` closed it)
  waitForEvents();
}

Shard::~Shard() = default;

bool Shard::add(std::shared_ptr<WsSession> session, int fd) {
  // Registered once for everything: no epoll_ctl per read or write. EPOLLOUT comes back along
  // with readiness to read; the session ignores it unless it waits for room to write.
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.ptr = session.get();
  if (::epoll_ctl(epollWatch_.native_handle(), EPOLL_CTL_ADD, fd, &ev) != 0) return false;
  session->shardSlot_ = static_cast<std::uint32_t>(sessions_.size());
  sessions_.push_back(std::move(session));
  return true;
}

void Shard::remove(WsSession* session) {
  const std::size_t slot = session->shardSlot_;
  if (slot >= sessions_.size() || sessions_[slot].get() != session) return;
  if (retired_.empty())
    boost::asio::post(io_, [this] { retired_.clear(); });  // after the current handler
  retired_.push_back(std::move(sessions_[slot]));
  if (slot + 1 != sessions_.size()) {
    sessions_[slot] = std::move(sessions_.back());
    sessions_[slot]->shardSlot_ = static_cast<std::uint32_t>(slot);
  }
  sessions_.pop_back();
}

void Shard::waitForEvents() {
  epollWatch_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                         [this](const boost::system::error_code& ec) {
                           if (!ec) dispatchEvents();
                         });
}

void Shard::dispatchEvents() {
  epoll_event events[kEventsPerBatch];
  const int n = ::epoll_wait(epollWatch_.native_handle(), events, kEventsPerBatch, 0);
  for (int i = 0; i < n; ++i) {
    // Valid: a session removed earlier in this batch is held in retired_ until it is over,
    // and its closed socket makes the call a no-op.
    auto* session = static_cast<WsSession*>(events[i].data.ptr);
    session->onEvents(events[i].events);
  }
  if (n == kEventsPerBatch) {
    // Maybe more: take them after the handlers (and the flush) this batch made ready. Asio
    // watches the set edge-triggered, so it would not tell us again.
    boost::asio::post(io_, [this] { dispatchEvents(); });
    return;
  }
  waitForEvents();
}

void Shard::markDirty(std::shared_ptr<WsSession> session) {
  dirty_.push_back(std::move(session));
  if (flushPosted_) return;
  flushPosted_ = true;
  // Posted, so it runs after the handlers already ready in this turn: frames from every
  // message handled in the meantime ride in the same write.
  boost::asio::post(io_, [this] { flushDirty(); });
}

void Shard::wakeAt(std::int64_t dueMs) {
  // Re-arming cancels the wait already pending (its handler sees operation_aborted); the hub
  // only asks for an earlier time, or again after a flush.
  batchTimer_.expires_at(std::chrono::steady_clock::time_point(std::chrono::milliseconds(dueMs)));
  batchTimer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) ctx_.hub.flushBatches(index_, steadyMillis());
  });
}

void Shard::run() {
  if (ctx_.options.ioUring) {
    std::string why;
    ring_ = SendRing::open(why);
    if (!ring_)
      std::fprintf(stderr, "shard %zu: no io_uring (%s): each socket write is its own sendmsg\n",
                   index_, why.c_str());
  }
  io_.run();
}

void Shard::flushDirty() {
  flushPosted_ = false;
  flushing_.swap(dirty_);
  if (ring_) {
    flushThroughRing();
  } else {
    for (auto& s : flushing_) s->flush();
  }
  flushing_.clear();
  if (delivered_) ctx_.metrics.framesDelivered(std::exchange(delivered_, 0));
  if (writes_) ctx_.metrics.writeCalls(std::exchange(writes_, 0));
}

static_assert(SendRing::kIovecs >= WsSession::kMaxWriteFrames,
              "an empty ring must take any one session's write whole");

void Shard::flushThroughRing() {
  // First every session's own decisions (which may close some), then only writes: between a
  // send's gather and its result nothing runs that could touch a queue.
  for (auto& s : flushing_)
    if (s->prepareFlush()) ready_.push_back(s.get());
  std::size_t next = 0;
  while (next < ready_.size() && ring_) {
    sending_.clear();
    for (; next < ready_.size(); ++next) {
      WsSession* s = ready_[next];
      // A result of the previous submission may have closed it or filled its socket.
      if (!s->writable() || s->queuedFrames() == 0) continue;
      const auto iov = ring_->iovecs(std::min(s->queuedFrames(), WsSession::kMaxWriteFrames));
      if (iov.empty()) break;  // full: submit these first
      ring_->push(s->fd_.get(), s->gather(iov));
      sending_.push_back(s);
    }
    if (sending_.empty()) break;
    const auto results = ring_->submit();
    writes_ += results.size();
    ctx_.metrics.writeBatch();
    if (ring_->broken()) {
      // Results first (they live in the ring), then the ring: sends it never took are written
      // by the sessions themselves from here on.
      std::vector<int> kept(results.begin(), results.end());
      ring_.reset();
      std::fprintf(stderr, "shard %zu: io_uring failed: each socket write is its own sendmsg\n",
                   index_);
      for (std::size_t i = 0; i < sending_.size(); ++i) sending_[i]->wrote(kept[i]);
      break;
    }
    for (std::size_t i = 0; i < sending_.size(); ++i) sending_[i]->wrote(results[i]);
  }
  // Left over only if the ring broke: the plain path.
  for (; next < ready_.size(); ++next) ready_[next]->flush();
  ready_.clear();
  sending_.clear();
}

void Shard::startTimers() { armSweep(); }

void Shard::armSweep() {
  // Fine enough for the keep-alive and close deadlines, coarse enough to cost nothing.
  const auto period = std::clamp(ctx_.options.pingInterval / 4, std::chrono::milliseconds(100),
                                 std::chrono::milliseconds(1000));
  sweepTimer_.expires_after(period);
  sweepTimer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    sweep();
    armSweep();
  });
}

void Shard::sweep() {
  const std::int64_t now = steadyMillis();
  // A tick may close its own session, which moves the last one into its slot: walking from the
  // back, that one was already visited. (retired_ keeps the closed one alive meanwhile.)
  for (std::size_t i = sessions_.size(); i-- > 0;) {
    if (i >= sessions_.size()) continue;
    sessions_[i]->keepAliveTick(now);
  }
  ctx_.hub.tick(index_);
}

std::size_t Shard::closeUser(std::string_view username, std::uint16_t code, const char* reason) {
  std::vector<std::shared_ptr<WsSession>> matching;
  for (const auto& s : sessions_)
    if (s->state_ == WsSession::State::Open && s->conversation_.username() == username)
      matching.push_back(s);
  for (auto& s : matching) s->closeWith(code, reason);
  return matching.size();
}

void Shard::closeAll(std::uint16_t code, const char* reason) {
  std::vector<std::shared_ptr<WsSession>> snapshot(sessions_);
  for (auto& s : snapshot) s->closeWith(code, reason);
}

}  // namespace parley::net
