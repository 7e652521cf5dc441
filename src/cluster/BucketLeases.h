// BucketLeases: which instance owns which bucket of rooms. Each instance keeps a heartbeat in
// Redis (ZSET `parley:instances`, score = expiry in unix ms) and holds buckets by leases
// (`parley:lease:{pbN}` = its id, SET NX PX to take, a Lua script to renew or delete only while
// the value is its own). The preferred owner of a bucket is the live instance with the highest
// rendezvous hash (instance, bucket); an instance takes a bucket only when it has been the
// preferred one in two consecutive views (so that instances that just (re)registered are seen
// first), and gives up one it is no longer preferred for at once (the key is deleted one tick
// later: hand-over to a newcomer).
//
// Safety: a held lease counts as held until (the time its renewing command was SENT) + leaseMs -
// max(1000, leaseMs / 5): holds() turns false before the lease could lapse in Redis even if the
// reply was slow or never came. It never extends a lease it cannot renew, never deletes another
// instance's lease, and knows nothing of rooms beyond hashing a name to a bucket.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace parley::cluster {

class RedisLink;

struct LeaseOptions {
  std::string instanceId;
  std::size_t buckets = 256;          // rooms hash into these: bucketOf(room)
  std::int64_t leaseMs = 5000;        // --cluster-lease-ms
  std::int64_t heartbeatMs = 1000;    // instance heartbeat and lease renewal tick
  std::int64_t instanceTtlMs = 5000;  // an instance silent this long is gone (>= 5 x heartbeat)
};

class BucketLeases {
 public:
  struct Events {                                                  // link thread
    std::function<void(std::size_t bucket, bool held)> ownership;  // gained (true) / lost
    std::function<void(std::size_t bucket, std::string owner)> ownerChanged;  // any bucket
    std::function<void(std::vector<std::string> gone)> instancesGone;         // heartbeats lapsed
  };
  // Throws std::invalid_argument when the options cannot work (a lease that is not valid for
  // at least two heartbeats after its renewal, no buckets, no instance id).
  BucketLeases(RedisLink& link, LeaseOptions options, Events events);
  ~BucketLeases();  // stop(), without events
  BucketLeases(const BucketLeases&) = delete;
  BucketLeases& operator=(const BucketLeases&) = delete;

  void start();  // begins the heartbeat/lease loop on the link thread
  // Releases held leases (DEL if still ours), removes the heartbeat; no event after it. From
  // another thread it waits for Redis's answers (at most 2.5 s); on the link thread
  // it only sends them.
  void stop();
  // Any thread:
  bool holds(std::size_t bucket) const;         // held AND still valid with its safety margin
  std::string owner(std::size_t bucket) const;  // last known holder, "" if none/unknown
  // The holder if any, else the preferred instance (rendezvous hash over live instances).
  std::string ownerOrPreferred(std::size_t bucket) const;
  std::vector<std::string> live() const;
  std::size_t bucketOf(std::string_view room) const;
  std::string tag(std::size_t bucket) const;  // "{pb17}": hash tag for keys/channels of a bucket
  const std::string& instanceId() const;
  std::size_t bucketCount() const;

  // The rendezvous score: the same on every instance and every build (not std::hash).
  static std::uint64_t rendezvous(std::string_view instance, std::size_t bucket);

 private:
  struct State;
  std::shared_ptr<State> state_;  // shared with the link's pending callbacks and timers
};

}  // namespace parley::cluster
