// ClusterNode: this instance's place in a cluster (--cluster): the Redis link, the room-bucket
// leases, and the hand-over of their events to the rooms' ClusterOwner, which the Hub makes
// through ownerFactory(). Built only with --cluster; a single server never touches Redis.
// Never runs chat work itself: the owner posts everything to the shards.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "app/Config.h"
#include "chat/HubEnvironment.h"
#include "http/Routes.h"

namespace parley::cluster {
class RedisLink;
class BucketLeases;
}  // namespace parley::cluster

namespace parley::chat {
class ClusterOwner;
}

namespace parley::app {

class ClusterNode {
 public:
  // Connects to Redis (throws std::runtime_error at start-up when no address answers).
  explicit ClusterNode(const Config& config);
  ~ClusterNode();  // releases the leases this instance holds, then closes the link
  ClusterNode(const ClusterNode&) = delete;
  ClusterNode& operator=(const ClusterNode&) = delete;

  // For HubEnvironment::makeOwner: builds the ClusterOwner and routes the link's events to it.
  chat::HubEnvironment::OwnerFactory ownerFactory();
  // Once the shards run: events reach the owner, heartbeats and leases begin.
  void start();
  // On shutdown, before the shards stop: gives the buckets up at once (others take them without
  // waiting for the leases to lapse) and stops routing events.
  void stop();

  const std::string& instanceId() const { return instanceId_; }
  http::ClusterHealth health() const;
  // The instance that owns `room` now, or would take it (rendezvous), or "".
  std::string ownerOf(std::string_view room) const;
  // DELETE /api/users/{user}/connections across the cluster: tells every other instance (on the
  // control channel) to close `username`'s connections, which each does with the function given
  // to onDisconnectUser (on the link's thread: it must only post).
  void disconnectEverywhere(const std::string& username);
  void onDisconnectUser(std::function<void(const std::string&)> closeHere);
  // Another instance changed a registered room's access (members, bans), or Redis came back
  // ("": any room may have changed): `reload` brings this instance's access table up to date
  // and then, if the change may refuse someone (`mayRefuse`), calls evictHere(room). Set before
  // start(); called on the link's thread.
  void onAccessChanged(std::function<void(const std::string& room, bool mayRefuse)> reload);
  void evictHere(const std::string& room);

  // Prometheus lines for the cluster's counters.
  std::string metricsText() const;

 private:
  void onControl(std::string_view payload);

  std::string instanceId_;
  chat::ClusterOwner* made_ = nullptr;               // by ownerFactory(), owned by the Hub
  std::atomic<chat::ClusterOwner*> owner_{nullptr};  // the same, once start() routes events
  std::unique_ptr<cluster::RedisLink> link_;
  std::unique_ptr<cluster::BucketLeases> leases_;
  bool started_ = false;
  std::function<void(const std::string&)> closeUser_;  // set before start(), read on the link
  std::function<void(const std::string&, bool)> accessChanged_;  // the same
  std::atomic<bool> linkUp_{true};
};

}  // namespace parley::app
