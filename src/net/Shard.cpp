#include "net/Shard.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <chrono>

#include "app/Config.h"
#include "chat/Hub.h"
#include "http/Metrics.h"
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

Shard::Shard(std::size_t index, ServerContext& ctx)
    : index_(index), ctx_(ctx), readBuffer_(256 * 1024), sweepTimer_(io_) {}

Shard::~Shard() = default;

void Shard::add(WsSession* session) {
  session->shardSlot_ = sessions_.size();
  sessions_.push_back(session);
}

void Shard::remove(WsSession* session) {
  const std::size_t slot = session->shardSlot_;
  if (slot >= sessions_.size() || sessions_[slot] != session) return;
  sessions_[slot] = sessions_.back();
  sessions_[slot]->shardSlot_ = slot;
  sessions_.pop_back();
}

void Shard::markDirty(std::shared_ptr<WsSession> session) {
  dirty_.push_back(std::move(session));
  if (flushPosted_) return;
  flushPosted_ = true;
  // Posted, so it runs after the handlers already ready in this turn: frames from every
  // message handled in the meantime ride in the same write.
  boost::asio::post(io_, [this] { flushDirty(); });
}

void Shard::flushDirty() {
  flushPosted_ = false;
  flushing_.swap(dirty_);
  for (auto& s : flushing_) s->flush();
  flushing_.clear();
  if (delivered_) ctx_.metrics.framesDelivered(std::exchange(delivered_, 0));
  if (writes_) ctx_.metrics.writeCalls(std::exchange(writes_, 0));
}

void Shard::startTimers() { armSweep(); }

void Shard::armSweep() {
  // Fine enough for the keep-alive and close deadlines, coarse enough to cost nothing.
  const auto period = std::clamp(ctx_.config.pingInterval / 4, std::chrono::milliseconds(100),
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
  // A tick may close (and so remove) sessions: walk a snapshot that holds them alive.
  std::vector<std::shared_ptr<WsSession>> snapshot;
  snapshot.reserve(sessions_.size());
  for (WsSession* s : sessions_) snapshot.push_back(s->shared_from_this());
  for (auto& s : snapshot) s->keepAliveTick(now);
  ctx_.hub.tick(index_);
}

void Shard::closeAll(std::uint16_t code, const char* reason) {
  std::vector<std::shared_ptr<WsSession>> snapshot;
  snapshot.reserve(sessions_.size());
  for (WsSession* s : sessions_) snapshot.push_back(s->shared_from_this());
  for (auto& s : snapshot) s->closeWith(code, reason);
}

}  // namespace parley::net
