#include "cluster/BucketLeases.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "cluster/RedisLink.h"
#include "cluster/RedisReply.h"

namespace parley::cluster {
namespace {

const std::string kInstances = "parley:instances";

// Renew only while the value is still ours; delete only if ours.
const std::string kRenewScript =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0";
const std::string kReleaseScript =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('DEL', KEYS[1]) end return 0";

std::int64_t steadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
std::int64_t unixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::uint64_t fnv1a(std::string_view bytes) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}
std::uint64_t mix(std::uint64_t x) {  // splitmix64's finalizer
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

struct BucketLeases::State : std::enable_shared_from_this<BucketLeases::State> {
  RedisLink& link;
  LeaseOptions options;
  Events events;
  std::int64_t validity;  // leaseMs - margin
  std::vector<std::string> leaseKeys;

  // Any thread.
  std::unique_ptr<std::atomic<std::int64_t>[]> validUntil;  // steady ms; 0 = not held
  std::atomic<bool> started{false};
  std::atomic<bool> stopped{false};
  std::atomic<bool> silent{false};            // no more events (stop())
  std::atomic<std::thread::id> linkThread{};  // known from the first tick
  mutable std::mutex mutex;                   // guards owners and liveList
  std::vector<std::string> owners;
  std::vector<std::string> liveList;

  // Link thread only.
  std::vector<char> held;       // what the ownership events said last
  std::vector<char> releasing;  // given up at the last tick: delete the key at this one
  std::vector<char> preferredBefore;
  std::map<std::string, std::int64_t> expiries;  // instance -> last seen expiry (unix ms)

  State(RedisLink& l, LeaseOptions o, Events e)
      : link(l),
        options(std::move(o)),
        events(std::move(e)),
        validity(options.leaseMs - std::max<std::int64_t>(1000, options.leaseMs / 5)),
        validUntil(new std::atomic<std::int64_t>[options.buckets]),
        owners(options.buckets),
        held(options.buckets, 0),
        releasing(options.buckets, 0),
        preferredBefore(options.buckets, 0) {
    leaseKeys.reserve(options.buckets);
    for (std::size_t b = 0; b < options.buckets; ++b) {
      validUntil[b].store(0, std::memory_order_relaxed);
      leaseKeys.push_back("parley:lease:{pb" + std::to_string(b) + "}");
    }
  }

  bool quiet() const { return silent.load(std::memory_order_relaxed); }

  void scheduleTick() {
    link.after(options.heartbeatMs, [self = shared_from_this()] { self->tick(); });
  }

  void tick() {
    linkThread.store(std::this_thread::get_id(), std::memory_order_relaxed);
    if (stopped) return;
    const std::int64_t now = unixMs();
    dropLapsed();
    link.command(
        kInstances,
        {"ZADD", kInstances, std::to_string(now + options.instanceTtlMs), options.instanceId},
        nullptr);
    std::string before(1, '(');  // exclusive; written so because g++ 12 warns on "(" + string
    before += std::to_string(now);
    link.command(kInstances, {"ZREMRANGEBYSCORE", kInstances, "-inf", std::move(before)}, nullptr);
    link.command(kInstances,
                 {"ZRANGEBYSCORE", kInstances, std::to_string(now), "+inf", "WITHSCORES"},
                 [self = shared_from_this(), now](RedisReply reply) { self->onLive(reply, now); });
    scheduleTick();
  }

  // A held lease whose validity ran out (renewals unanswered): no longer held.
  void dropLapsed() {
    const std::int64_t now = steadyMs();
    for (std::size_t b = 0; b < options.buckets; ++b)
      if (held[b] && validUntil[b].load(std::memory_order_relaxed) <= now) drop(b);
  }

  void drop(std::size_t b) {
    validUntil[b].store(0, std::memory_order_relaxed);
    if (!held[b]) return;
    held[b] = 0;
    if (events.ownership && !quiet()) events.ownership(b, false);
  }

  void gain(std::size_t b, std::int64_t sentAt) {
    validUntil[b].store(sentAt + validity, std::memory_order_relaxed);
    if (held[b]) return;
    held[b] = 1;
    if (events.ownership && !quiet()) events.ownership(b, true);
  }

  void onLive(const RedisReply& reply, std::int64_t now) {
    if (stopped) return;
    if (reply.kind != RedisReply::Kind::Array) return;  // Redis away: leases lapse by themselves
    for (std::size_t i = 0; i + 1 < reply.elements.size(); i += 2) {
      const auto& member = reply.elements[i];
      const auto& score = reply.elements[i + 1];
      if (member.kind != RedisReply::Kind::String || score.kind != RedisReply::Kind::String)
        continue;
      std::int64_t expiry = 0;
      try {
        expiry = static_cast<std::int64_t>(std::stod(score.text));
      } catch (const std::exception&) {
        continue;
      }
      auto& known = expiries[member.text];
      known = std::max(known, expiry);
    }
    // Remembered expiries count too: after a Redis restart the set is empty until every
    // instance has beaten again, and nobody should be declared gone (or lose its buckets) then.
    expiries[options.instanceId] = std::max(expiries[options.instanceId], now + 1);
    std::vector<std::string> gone;
    std::vector<std::string> alive;
    for (auto it = expiries.begin(); it != expiries.end();) {
      if (it->second < now) {
        gone.push_back(it->first);
        it = expiries.erase(it);
      } else {
        alive.push_back(it->first);
        ++it;
      }
    }
    {
      std::lock_guard lock(mutex);
      liveList = alive;
    }
    if (!gone.empty() && events.instancesGone && !quiet()) events.instancesGone(std::move(gone));

    const auto self = shared_from_this();
    for (std::size_t b = 0; b < options.buckets; ++b) {
      const bool preferred = preferredOf(alive, b) == options.instanceId;
      if (held[b]) {
        if (!preferred) {
          drop(b);  // stop sequencing now; the key goes at the next tick
          releasing[b] = 1;
        } else {
          renew(b);
        }
      } else if (releasing[b]) {
        releasing[b] = 0;
        release(b, nullptr);
      } else if (preferred && preferredBefore[b]) {
        take(b);
      }
      preferredBefore[b] = preferred;
    }
    // Learn every bucket's holder. Each GET goes to the same connection as the take or renew of
    // its bucket just above, so it reads their result.
    for (std::size_t b = 0; b < options.buckets; ++b)
      link.command(leaseKeys[b], {"GET", leaseKeys[b]},
                   [self, b](RedisReply r) { self->learn(b, r); });
  }

  static std::string preferredOf(const std::vector<std::string>& alive, std::size_t b) {
    std::string best;
    std::uint64_t bestScore = 0;
    for (const auto& id : alive) {
      const std::uint64_t score = rendezvous(id, b);
      if (best.empty() || score > bestScore || (score == bestScore && id > best)) {
        best = id;
        bestScore = score;
      }
    }
    return best;
  }

  void renew(std::size_t b) {
    const std::int64_t sentAt = steadyMs();
    link.command(leaseKeys[b],
                 {"EVAL", kRenewScript, "1", leaseKeys[b], options.instanceId,
                  std::to_string(options.leaseMs)},
                 [self = shared_from_this(), b, sentAt](RedisReply r) {
                   if (self->stopped || !self->held[b]) return;
                   if (r.kind == RedisReply::Kind::Integer) {
                     if (r.integer == 1) {
                       self->validUntil[b].store(sentAt + self->validity,
                                                 std::memory_order_relaxed);
                     } else {
                       self->drop(b);  // not ours any more (Redis lost it, another took it)
                     }
                   }
                   // An error keeps the old validity: it runs out by itself.
                 });
  }

  void take(std::size_t b) {
    const std::int64_t sentAt = steadyMs();
    auto onReply = [self = shared_from_this(), b, sentAt](RedisReply r) {
      const bool ok = (r.kind == RedisReply::Kind::Status && r.text == "OK") ||
                      (r.kind == RedisReply::Kind::Integer && r.integer == 1);
      if (!ok) return;
      if (self->stopped) return self->release(b, nullptr);  // taken as we stopped: give it back
      self->gain(b, sentAt);
    };
    bool ours = false;
    {
      std::lock_guard lock(mutex);
      ours = owners[b] == options.instanceId;
    }
    if (ours) {
      // Still ours in Redis (it lapsed here first): SET NX would fail until it expires there.
      link.command(leaseKeys[b],
                   {"EVAL", kRenewScript, "1", leaseKeys[b], options.instanceId,
                    std::to_string(options.leaseMs)},
                   std::move(onReply));
    } else {
      link.command(
          leaseKeys[b],
          {"SET", leaseKeys[b], options.instanceId, "NX", "PX", std::to_string(options.leaseMs)},
          std::move(onReply));
    }
  }

  void release(std::size_t b, RedisLink::ReplyFn done) {
    link.command(leaseKeys[b], {"EVAL", kReleaseScript, "1", leaseKeys[b], options.instanceId},
                 std::move(done));
  }

  void learn(std::size_t b, const RedisReply& r) {
    std::string holder;
    if (r.kind == RedisReply::Kind::String) {
      holder = r.text;
    } else if (r.kind != RedisReply::Kind::Nil) {
      return;  // unknown: keep what was known
    }
    {
      std::lock_guard lock(mutex);
      if (owners[b] == holder) return;
      owners[b] = holder;
    }
    if (events.ownerChanged && !quiet()) events.ownerChanged(b, std::move(holder));
  }
};

BucketLeases::BucketLeases(RedisLink& link, LeaseOptions options, Events events) {
  if (options.instanceId.empty()) throw std::invalid_argument("cluster: empty instance id");
  if (options.buckets == 0) throw std::invalid_argument("cluster: no buckets");
  if (options.heartbeatMs <= 0) throw std::invalid_argument("cluster: heartbeat must be > 0 ms");
  const std::int64_t validity = options.leaseMs - std::max<std::int64_t>(1000, options.leaseMs / 5);
  if (validity < 2 * options.heartbeatMs)
    throw std::invalid_argument("cluster: a lease of " + std::to_string(options.leaseMs) +
                                " ms is valid for " + std::to_string(validity) +
                                " ms after each renewal, less than two heartbeats of " +
                                std::to_string(options.heartbeatMs) + " ms");
  if (options.instanceTtlMs < 2 * options.heartbeatMs)
    throw std::invalid_argument("cluster: the instance TTL must be at least two heartbeats");
  state_ = std::make_shared<State>(link, std::move(options), std::move(events));
}

BucketLeases::~BucketLeases() {
  state_->silent = true;
  stop();
}

void BucketLeases::start() {
  if (state_->started.exchange(true)) return;
  // The first tick at once (on the link thread), then every heartbeat.
  state_->link.after(0, [s = state_] { s->tick(); });
}

void BucketLeases::stop() {
  State& s = *state_;
  if (!s.started || s.stopped.exchange(true)) return;
  s.silent = true;
  struct Wait {
    std::mutex mutex;
    std::condition_variable done;
    std::size_t remaining = 0;
  };
  auto wait = std::make_shared<Wait>();
  std::vector<std::size_t> mine;
  for (std::size_t b = 0; b < s.options.buckets; ++b) {
    const bool valid = s.validUntil[b].exchange(0, std::memory_order_relaxed) != 0;
    std::lock_guard lock(s.mutex);
    if (valid || s.owners[b] == s.options.instanceId) mine.push_back(b);
  }
  wait->remaining = mine.size() + 1;
  auto answered = [wait](RedisReply) {
    std::lock_guard lock(wait->mutex);
    if (--wait->remaining == 0) wait->done.notify_all();
  };
  // Every bucket this instance may hold (even one whose take is unanswered yet: the script
  // deletes only our own value, so asking too often costs nothing).
  for (std::size_t b = 0; b < s.options.buckets; ++b) {
    const bool listed = std::find(mine.begin(), mine.end(), b) != mine.end();
    s.release(b, listed ? RedisLink::ReplyFn(answered) : nullptr);
  }
  s.link.command(kInstances, {"ZREM", kInstances, s.options.instanceId}, answered);
  // On the link thread the answers cannot come while we wait; elsewhere wait for them so that
  // a link destroyed right after this still had them sent.
  if (s.linkThread.load(std::memory_order_relaxed) == std::this_thread::get_id()) return;
  std::unique_lock lock(wait->mutex);
  wait->done.wait_for(lock, std::chrono::milliseconds(2500), [&] { return wait->remaining == 0; });
}

bool BucketLeases::holds(std::size_t bucket) const {
  if (bucket >= state_->options.buckets) return false;
  return state_->validUntil[bucket].load(std::memory_order_relaxed) > steadyMs();
}

std::string BucketLeases::owner(std::size_t bucket) const {
  if (bucket >= state_->options.buckets) return {};
  std::lock_guard lock(state_->mutex);
  return state_->owners[bucket];
}

std::string BucketLeases::ownerOrPreferred(std::size_t bucket) const {
  if (bucket >= state_->options.buckets) return {};
  std::lock_guard lock(state_->mutex);
  if (!state_->owners[bucket].empty()) return state_->owners[bucket];
  return State::preferredOf(state_->liveList, bucket);
}

std::vector<std::string> BucketLeases::live() const {
  std::lock_guard lock(state_->mutex);
  return state_->liveList;
}

std::size_t BucketLeases::bucketOf(std::string_view room) const {
  return static_cast<std::size_t>(mix(fnv1a(room)) % state_->options.buckets);
}

std::string BucketLeases::tag(std::size_t bucket) const {
  return "{pb" + std::to_string(bucket) + "}";
}

const std::string& BucketLeases::instanceId() const { return state_->options.instanceId; }

std::size_t BucketLeases::bucketCount() const { return state_->options.buckets; }

std::uint64_t BucketLeases::rendezvous(std::string_view instance, std::size_t bucket) {
  return mix(fnv1a(instance) ^ mix(static_cast<std::uint64_t>(bucket)));
}

}  // namespace parley::cluster
