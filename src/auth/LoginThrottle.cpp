#include "auth/LoginThrottle.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace parley::auth {

namespace {

// Far enough to mean "never" without overflowing the int64 arithmetic around it.
constexpr double kNeverMs = 1e15;
// Refills summed in floating point can land a hair under a whole token (0.08 + 0.92 is
// 0.9999999999999999), which must not cost the client another second.
constexpr double kSlack = 1e-9;

}  // namespace

LoginThrottle::LoginThrottle(double burst, double perSecond, std::size_t maxAddresses)
    : burst_(burst), perSecond_(perSecond), maxAddresses_(maxAddresses) {
  // Written so that NaN fails too.
  if (!(burst >= 1) || !std::isfinite(burst))
    throw std::invalid_argument("login burst must be at least 1");
  if (!(perSecond > 0) || !std::isfinite(perSecond))
    throw std::invalid_argument("login refill rate must be positive");
  if (maxAddresses < 1) throw std::invalid_argument("login throttle must remember an address");
}

void LoginThrottle::refill(Entry& e, std::int64_t nowMs) const {
  // A clock that steps back gives nothing, and does not move lastMs back to be counted twice.
  if (nowMs <= e.lastMs) return;
  const double elapsed = static_cast<double>(nowMs - e.lastMs) / 1000.0;
  e.tokens = std::min(burst_, e.tokens + elapsed * perSecond_);
  e.lastMs = nowMs;
}

std::int64_t LoginThrottle::fullAtMs(const Entry& e) const {
  // Rounded up: forgetting a bucket a moment early would hand out tokens it had not earned.
  const double ms = std::min(kNeverMs, std::ceil((burst_ - e.tokens) * 1000.0 / perSecond_));
  return e.lastMs + static_cast<std::int64_t>(ms);
}

void LoginThrottle::forgetOne(std::int64_t nowMs) {
  // A full bucket holds nothing a fresh one would not, so forgetting it loses nothing; only when
  // none is full does the least recently seen address lose its debt.
  Lru::iterator victim = std::prev(lru_.end());
  if (!byFullAt_.empty() && byFullAt_.begin()->first <= nowMs) victim = byFullAt_.begin()->second;
  index_.erase(victim->address);
  byFullAt_.erase(victim->fullAt);
  lru_.erase(victim);
}

std::int64_t LoginThrottle::take(std::string_view address, std::int64_t nowMs) {
  const std::lock_guard lock(mutex_);
  Lru::iterator it;
  if (const auto found = index_.find(address); found != index_.end()) {
    it = found->second;
    lru_.splice(lru_.begin(), lru_, it);
    byFullAt_.erase(it->fullAt);
    refill(*it, nowMs);
  } else {
    if (index_.size() >= maxAddresses_) forgetOne(nowMs);
    lru_.push_front(Entry{std::string(address), burst_, nowMs, {}});
    it = lru_.begin();
    index_.emplace(it->address, it);
  }

  const std::int64_t wait = secondsUntilOne(it->tokens);
  if (wait == 0) it->tokens = std::max(0.0, it->tokens - 1.0);
  it->fullAt = byFullAt_.emplace(fullAtMs(*it), it);
  return wait;
}

std::int64_t LoginThrottle::wait(std::string_view address, std::int64_t nowMs) const {
  const std::lock_guard lock(mutex_);
  const auto found = index_.find(address);
  if (found == index_.end()) return 0;  // a fresh bucket is full
  Entry e = *found->second;
  refill(e, nowMs);
  return secondsUntilOne(e.tokens);
}

std::int64_t LoginThrottle::secondsUntilOne(double tokens) const {
  if (tokens >= 1.0 - kSlack) return 0;
  const double seconds = std::ceil((1.0 - tokens) / perSecond_);
  return static_cast<std::int64_t>(std::clamp(seconds, 1.0, kNeverMs / 1000.0));
}

std::size_t LoginThrottle::tracked() const {
  const std::lock_guard lock(mutex_);
  return index_.size();
}

}  // namespace parley::auth
