#include "app/ClusterNode.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <random>

#include "chat/ClusterOwner.h"
#include "cluster/BucketLeases.h"
#include "cluster/ControlChannel.h"
#include "cluster/Envelope.h"
#include "cluster/RedisLink.h"

namespace parley::app {

namespace {

using cluster::kControlChannel;

std::string defaultInstanceId() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == 0)
    std::snprintf(host, sizeof host, "parley");
  // A random suffix per start: a restarted instance is a new member (its old heartbeat and
  // leases lapse as any dead instance's do), never a ghost of its earlier self.
  std::random_device random;
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "-%06x", random() & 0xffffffu);
  std::string id = std::string(host).substr(0, 40) + suffix;
  for (char& c : id)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_') c = '_';
  return id;
}

}  // namespace

ClusterNode::ClusterNode(const Config& config)
    : instanceId_(config.instanceId.empty() ? defaultInstanceId() : config.instanceId) {
  cluster::RedisLinkOptions options;
  options.seeds = cluster::parseRedisAddresses(config.cluster);
  cluster::RedisLink::Handlers handlers;
  handlers.message = [this](std::string_view channel, std::string_view payload) {
    if (channel == kControlChannel) return onControl(payload);
    if (auto* o = owner_.load()) o->onMessage(channel, payload);
  };
  handlers.subscribed = [this](std::string_view channel) {
    if (auto* o = owner_.load()) o->onSubscribed(channel);
  };
  handlers.state = [this](bool up) {
    auto* o = owner_.load();
    if (o) o->onLinkState(up);
    // Back after an outage: a room's access may have changed meanwhile, unheard.
    const bool was = linkUp_.exchange(up);
    if (o && up && !was && accessChanged_) accessChanged_("", true);
  };
  link_ = cluster::RedisLink::start(std::move(options), std::move(handlers));

  cluster::LeaseOptions leaseOptions;
  leaseOptions.instanceId = instanceId_;
  leaseOptions.leaseMs = config.clusterLeaseMs;
  // Renewed five times a lease (once a second at the default 5 s): a lease stays valid across a
  // renewal lost to a slow reply or a busy core.
  leaseOptions.heartbeatMs = std::clamp<std::int64_t>(config.clusterLeaseMs / 5, 200, 1000);
  cluster::BucketLeases::Events events;
  events.ownership = [this](std::size_t bucket, bool held) {
    if (auto* o = owner_.load()) o->onOwnership(bucket, held);
  };
  events.ownerChanged = [this](std::size_t bucket, std::string owner) {
    if (auto* o = owner_.load()) o->onOwnerChanged(bucket, owner);
  };
  events.instancesGone = [this](std::vector<std::string> gone) {
    if (auto* o = owner_.load()) o->onInstancesGone(gone);
  };
  leases_ = std::make_unique<cluster::BucketLeases>(*link_, leaseOptions, std::move(events));
  link_->subscribe(kControlChannel);
}

void ClusterNode::onDisconnectUser(std::function<void(const std::string&)> closeHere) {
  closeUser_ = std::move(closeHere);
}

void ClusterNode::disconnectEverywhere(const std::string& username) {
  link_->publish(
      kControlChannel,
      cluster::EnvelopeWriter(cluster::kControlDisconnect).add(instanceId_).add(username).take(),
      nullptr);
}

// On the link's thread. Every instance hears its own message too: the sender skips it (its
// shards were told directly, with the count the API answers).
void ClusterNode::onControl(std::string_view payload) {
  cluster::Envelope e;
  if (!cluster::parseEnvelope(payload, e) || e.count != 2) return;
  if (!owner_.load() || e.field(0) == instanceId_ || e.field(1).empty()) return;
  if (e.kind == cluster::kControlDisconnect && closeUser_) closeUser_(std::string(e.field(1)));
  if ((e.kind == cluster::kControlAccessChanged || e.kind == cluster::kControlAccessGranted) &&
      accessChanged_)
    accessChanged_(std::string(e.field(1)), e.kind == cluster::kControlAccessChanged);
}

void ClusterNode::onAccessChanged(std::function<void(const std::string&, bool)> reload) {
  accessChanged_ = std::move(reload);
}

void ClusterNode::evictHere(const std::string& room) {
  if (made_) made_->evictHere(room);
}

ClusterNode::~ClusterNode() {
  stop();
  leases_.reset();
  link_.reset();
}

chat::HubEnvironment::OwnerFactory ClusterNode::ownerFactory() {
  return [this](const chat::HubEnvironment& env, chat::RoomRegistry& registry,
                const chat::ModerationPolicy& moderation) {
    auto owner = std::make_unique<chat::ClusterOwner>(env, registry, *link_, *leases_, moderation,
                                                      chat::ClusterOptions{});
    // Events reach it from start() on: before, the shards it posts to do not run yet.
    made_ = owner.get();
    return std::unique_ptr<chat::RoomOwner>(std::move(owner));
  };
}

void ClusterNode::start() {
  if (started_) return;
  started_ = true;
  owner_.store(made_);
  if (made_) made_->onLinkState(link_->up());
  leases_->start();
}

void ClusterNode::stop() {
  if (!started_) return;
  started_ = false;
  leases_->stop();
  owner_.store(nullptr);
}

http::ClusterHealth ClusterNode::health() const {
  http::ClusterHealth h;
  h.instanceId = instanceId_;
  h.redisUp = link_->up();
  h.redisCluster = link_->isCluster();
  h.live = leases_->live();
  h.buckets = leases_->bucketCount();
  for (std::size_t b = 0; b < h.buckets; ++b) h.bucketsHeld += leases_->holds(b) ? 1 : 0;
  return h;
}

std::string ClusterNode::ownerOf(std::string_view room) const {
  return leases_->ownerOrPreferred(leases_->bucketOf(room));
}

std::string ClusterNode::metricsText() const {
  std::string out;
  auto line = [&out](const char* name, const char* help, std::uint64_t value) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += " counter\n";
    out += name;
    out += ' ';
    out += std::to_string(value);
    out += '\n';
  };
  const cluster::RedisLinkCounts link = link_->counts();
  line("parley_redis_reconnects_total", "Connections to Redis made again after a loss.",
       link.reconnects);
  line("parley_redis_moved_total", "MOVED redirections followed (Redis Cluster).", link.moved);
  line("parley_redis_failed_commands_total", "Redis commands that failed (timeout, down, refused).",
       link.failed);
  if (const auto* o = owner_.load()) {
    const chat::ClusterCounts c = o->clusterCounts();
    line("parley_cluster_forwards_total", "Sends handed to another instance's room owner.",
         c.forwarded);
    line("parley_cluster_relayed_total", "Frames delivered from a room's channel.", c.relayed);
    line("parley_cluster_gap_fills_total", "Store reads that filled a gap in a room's ids.",
         c.gapFills);
    line("parley_cluster_filled_messages_total", "Messages delivered by those reads.",
         c.filledMessages);
    line("parley_cluster_unavailable_total", "Sends answered cluster_unavailable.", c.unavailable);
    line("parley_cluster_malformed_total", "Messages from Redis that did not parse.", c.malformed);
    line("parley_cluster_lease_takeovers_total", "Room buckets this instance took.",
         c.bucketsGained);
    line("parley_cluster_presence_rebuilds_total", "Owned rooms whose presence was rebuilt.",
         c.presenceRebuilds);
  }
  out += "# TYPE parley_cluster_buckets_held gauge\nparley_cluster_buckets_held ";
  out += std::to_string(health().bucketsHeld);
  out += '\n';
  return out;
}

}  // namespace parley::app
