// PLACEHOLDER CONTRACT (from /work/wt/CLUSTER.md); replaced by h/redis's header on merge.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>
namespace parley::cluster {
class RedisLink;
struct LeaseOptions {
  std::string instanceId;
  std::size_t buckets = 256;
  std::int64_t leaseMs = 5000;
  std::int64_t heartbeatMs = 1000;
  std::int64_t instanceTtlMs = 5000;
};
class BucketLeases {
 public:
  struct Events {
    std::function<void(std::size_t bucket, bool held)> ownership;
    std::function<void(std::size_t bucket, std::string owner)> ownerChanged;
    std::function<void(std::vector<std::string> gone)> instancesGone;
  };
  BucketLeases(RedisLink& link, LeaseOptions options, Events events);
  void start();
  void stop();
  bool holds(std::size_t bucket) const;
  std::string owner(std::size_t bucket) const;
  std::string ownerOrPreferred(std::size_t bucket) const;
  std::vector<std::string> live() const;
  std::size_t bucketOf(std::string_view room) const;
  std::string tag(std::size_t bucket) const;
  const std::string& instanceId() const;
  std::size_t bucketCount() const;
};
}  // namespace parley::cluster
