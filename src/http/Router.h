// Router: every plain HTTP request (/, /healthz, /metrics and the REST API under /api/) from a
// parsed request to its reply. Some replies come at once, others later: a login waits for the
// password hasher's thread, a history page for the store reader. Either way `reply` runs
// exactly once, on the shard the request came from.
// Knows nothing of sockets, Beast or Asio (net/HttpSession parses the request and writes the
// reply), and never blocks: slow work goes to the threads that own it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "chat/Protocol.h"
#include "http/MessageRoutes.h"
#include "http/RoomRoutes.h"
#include "http/Routes.h"

namespace parley::auth {
class AuthService;
class LoginThrottle;
class RoomAccess;
class RoomService;
class TokenService;
}  // namespace parley::auth
namespace parley::chat {
class Hub;
}
namespace parley::metrics {
class Metrics;
enum class Rejection : unsigned;
}  // namespace parley::metrics
namespace parley::store {
class StoreWriter;
}

namespace parley::http {

// A request as the transport parsed it: views into its buffers, valid during handle().
struct HttpRequest {
  std::string_view method;         // "GET", "HEAD", "POST", ...
  std::string_view target;         // path and query, as sent
  std::string_view authorization;  // the Authorization header ("" when absent)
  std::string_view body;
  std::string_view peerAddress;  // the client's IP address, for the login throttle
};

// What the routes read and call. References outlive the router (app/Server owns them all).
struct RouterContext {
  chat::Hub& hub;
  metrics::Metrics& metrics;
  const store::StoreWriter* store;  // null with --db none; for /healthz and /metrics
  const auth::TokenService& tokens;
  auth::AuthService& accounts;
  auth::LoginThrottle& loginThrottle;
  std::int64_t startedAtMs;
  bool authRequired;  // --auth required: the REST reads need a token too
  // Runs `task` on shard `shard`'s thread (answers from the auth thread go back this way).
  std::function<void(std::size_t shard, std::function<void()> task)> post;
  std::int64_t (*unixMillis)();
  std::int64_t (*steadyMillis)();
  std::function<std::size_t()> tcpConnections;  // every open TCP connection, HTTP phase too
  // With --cluster (all empty on a single server): this instance's view of the cluster, the
  // instance that owns a room (or would take it), and the cluster's Prometheus lines.
  std::function<ClusterHealth()> clusterHealth;
  std::function<std::string(std::string_view room)> clusterOwnerOf;
  std::function<std::string()> clusterMetrics;
  // The server API (http/MessageRoutes): PARLEY_API_KEY ("" : the API answers 404), the limits
  // a published or edited text is held to, and how a user's connections are closed on every
  // shard (4009): `done` runs on `shard` with the number closed.
  std::string apiKey;
  chat::ProtocolLimits limits;
  std::function<void(std::size_t shard, std::string username,
                     std::function<void(std::size_t closed)> done)>
      disconnectUser;
  // Registered rooms: who may be where (read here), and the thread that changes it (null: no
  // changes, every change answers 503).
  const auth::RoomAccess& roomAccess;
  auth::RoomService* roomService;
};

class Router {
 public:
  using Reply = std::function<void(HttpReply)>;

  explicit Router(RouterContext ctx);
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // At start-up, with --cluster: see RouterContext.
  void setCluster(std::function<ClusterHealth()> health,
                  std::function<std::string(std::string_view)> ownerOf,
                  std::function<std::string()> metricsText) {
    ctx_.clusterHealth = std::move(health);
    ctx_.clusterOwnerOf = std::move(ownerOf);
    ctx_.clusterMetrics = std::move(metricsText);
  }

  // Called on shard `shard`'s thread; `reply` runs there, once, now or later.
  void handle(std::size_t shard, const HttpRequest& req, Reply reply);

 private:
  void handleApi(std::size_t shard, const HttpRequest& req, Reply reply);
  // The REST reads of one room (history, presence): refused with 403 when the room does not
  // admit `caller` (a private room's non-member, a banned user).
  bool refusedRoom(const std::string& room, const std::string& caller, const Reply& reply);
  void handleAuth(std::size_t shard, const HttpRequest& req, bool registering, Reply reply);
  void handleRefresh(const HttpRequest& req, Reply reply);
  HttpReply refuse(unsigned status, metrics::Rejection why, std::string_view code,
                   std::string_view message);
  HttpReply refuseMethod(std::string_view allow);  // 405 with Allow, counted
  ServerStatus status() const;

  RouterContext ctx_;
  MessageRoutes messages_;  // edits, deletes and the server API; refers to ctx_
  RoomRoutes rooms_;
};

}  // namespace parley::http
