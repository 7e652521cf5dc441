// LoginThrottle: a token bucket per client address for register and login (each an argon2id hash).
// Never on the message path, and never remembers more than maxAddresses addresses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace parley::auth {

// Limits register/login attempts per client address with a token bucket: `burst` attempts at
// once, refilled at `perSecond`. Thread-safe (one mutex: attempts are rare, never on the message
// path). At most `maxAddresses` are remembered; when full, addresses whose bucket is full again are
// forgotten first, then the least recently seen one.
class LoginThrottle {
 public:
  // Throws std::invalid_argument unless burst >= 1, perSecond > 0 and maxAddresses >= 1
  // (start-up only).
  LoginThrottle(double burst, double perSecond, std::size_t maxAddresses);
  LoginThrottle(const LoginThrottle&) = delete;
  LoginThrottle& operator=(const LoginThrottle&) = delete;

  // 0 when an attempt from `address` may go ahead now (it takes one token); otherwise the whole
  // seconds (>= 1) until one will be available, and nothing is taken.
  std::int64_t take(std::string_view address, std::int64_t nowMs);
  // What take() would answer now, without taking anything or remembering `address`.
  std::int64_t wait(std::string_view address, std::int64_t nowMs) const;

  std::size_t tracked() const;  // addresses remembered now

 private:
  struct Entry;
  using Lru = std::list<Entry>;  // most recently seen first
  // Keyed by the time each bucket is full again, so the eviction of a full one is O(log n).
  using ByFullAt = std::multimap<std::int64_t, Lru::iterator>;
  struct Entry {
    std::string address;
    double tokens;
    std::int64_t lastMs;
    ByFullAt::iterator fullAt;
  };

  void refill(Entry& e, std::int64_t nowMs) const;
  std::int64_t fullAtMs(const Entry& e) const;
  std::int64_t secondsUntilOne(double tokens) const;  // 0 when there is one now
  void forgetOne(std::int64_t nowMs);

  const double burst_;
  const double perSecond_;
  const std::size_t maxAddresses_;
  mutable std::mutex mutex_;
  Lru lru_;
  ByFullAt byFullAt_;
  std::unordered_map<std::string_view, Lru::iterator> index_;  // views into lru_'s strings
};

}  // namespace parley::auth
