#include "http/Router.h"

#include <algorithm>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "auth/AuthService.h"
#include "auth/LoginThrottle.h"
#include "auth/RoomAccess.h"
#include "auth/RoomService.h"
#include "auth/TokenService.h"
#include "chat/Hub.h"
#include "chat/Names.h"
#include "chat/Protocol.h"
#include "chat/TokenRefusal.h"
#include "http/AuthRoutes.h"
#include "http/RequestToken.h"
#include "metrics/Metrics.h"
#include "store/MessageStore.h"
#include "store/StoreWriter.h"

namespace parley::http {

Router::Router(RouterContext ctx)
    : ctx_(std::move(ctx)),
      messages_(ctx_),
      rooms_(ctx_.hub, ctx_.roomAccess, ctx_.roomService, ctx_.metrics, ctx_.post) {}

bool Router::refusedRoom(const std::string& room, const std::string& caller, const Reply& reply) {
  const auth::RoomVerdict verdict = ctx_.hub.admit(room, caller);
  if (verdict == auth::RoomVerdict::Allowed) return false;
  if (verdict == auth::RoomVerdict::Banned)
    reply(refuse(403, metrics::Rejection::Banned, "banned", "you are banned from this room"));
  else
    reply(refuse(403, metrics::Rejection::NotAMember, "not_a_member",
                 "this room is for its members only"));
  return true;
}

HttpReply Router::refuse(unsigned status, metrics::Rejection why, std::string_view code,
                         std::string_view message) {
  ctx_.metrics.reject(why);
  return jsonError(status, code, message);
}

HttpReply Router::refuseMethod(std::string_view allow) {
  ctx_.metrics.reject(metrics::Rejection::MethodNotAllowed);
  return methodNotAllowed(allow);
}

ServerStatus Router::status() const {
  ServerStatus status;
  status.connections = ctx_.metrics.openConnections();
  status.tcpConnections = ctx_.tcpConnections ? ctx_.tcpConnections() : 0;
  status.rooms = ctx_.hub.roomCount();
  status.uptimeSeconds = (ctx_.unixMillis() - ctx_.startedAtMs) / 1000;
  status.messagesSequenced = ctx_.hub.messagesSequenced();
  status.storeRefusals = ctx_.hub.storeRefusals();
  status.duplicatesSuppressed = ctx_.hub.duplicatesSuppressed();
  status.catchUpMarkers = ctx_.hub.catchUpMarkers();
  status.catchUpReads = ctx_.hub.catchUpReads();
  if (ctx_.clusterHealth) status.cluster = ctx_.clusterHealth();
  if (ctx_.clusterMetrics) status.clusterMetrics = ctx_.clusterMetrics();
  if (ctx_.store) {
    status.storeKind = ctx_.store->kind();
    status.storeOk = ctx_.store->healthy();
    if (!status.storeOk) status.storeError = ctx_.store->lastError();
    store::StoreBacklog backlog = ctx_.store->backlog();
    status.storeWaiting = backlog.waiting;
    status.storeIngestError = std::move(backlog.error);
  }
  return status;
}

void Router::handle(std::size_t shard, const HttpRequest& req, Reply reply) {
  const std::string_view path = req.target.substr(0, req.target.find('?'));
  if (path.starts_with("/api/")) return handleApi(shard, req, std::move(reply));
  reply(routeRequest(req.method, path, status(), ctx_.metrics));
}

// REST: /api/rooms[/{room}/messages|presence|members|bans], /api/dm/{user}, /api/register,
// /api/login, /api/refresh, /api/cluster/rooms/{room}; the message changes and the server API
// (MessageRoutes).
void Router::handleApi(std::size_t shard, const HttpRequest& req, Reply reply) {
  auto url = boost::urls::parse_origin_form(req.target);
  if (!url)
    return reply(refuse(400, metrics::Rejection::BadRequest, "bad_request", "malformed URL"));
  std::vector<std::string> parts;
  for (auto seg : url->segments()) parts.emplace_back(seg);
  if (parts.size() == 2 && parts[1] == "refresh") {
    if (req.method != "POST") return reply(refuseMethod("POST"));
    return handleRefresh(req, std::move(reply));
  }
  if (parts.size() == 2 && (parts[1] == "register" || parts[1] == "login")) {
    if (req.method != "POST") return reply(refuseMethod("POST"));
    return handleAuth(shard, req, parts[1] == "register", std::move(reply));
  }
  // Edits, deletes and the server API: each with its own authorization (a token, the API key).
  if (messages_.handle(shard, req, parts, reply)) return;
  // Registered rooms' changes (POST /api/rooms, /api/dm/{user}, members and bans) need a
  // signed-in caller whatever the mode; the reads, where a WebSocket needs a token.
  const bool roomsRoute = parts.size() >= 2 && parts[1] == "rooms";
  const bool change = (parts.size() == 2 && roomsRoute && req.method == "POST") ||
                      (parts.size() == 3 && parts[1] == "dm") ||
                      (roomsRoute && parts.size() >= 4 &&
                       (parts[3] == "members" || parts[3] == "bans") && req.method != "GET");
  if (parts.size() == 3 && parts[1] == "dm" && req.method != "POST")
    return reply(refuseMethod("POST"));
  if (parts.size() == 2 && roomsRoute && req.method != "GET" && req.method != "POST")
    return reply(refuseMethod("GET, POST"));
  const bool managed = roomsRoute && parts.size() >= 4 && parts.size() <= 5 &&
                       (parts[3] == "members" || parts[3] == "bans");
  if (!change && !managed && req.method != "GET") return reply(refuseMethod("GET"));
  // Who asks: the name of a valid token (?token= or Bearer); "" without one. With --auth open a
  // read without a good token goes on as nobody's (a private room then refuses it).
  std::string caller;
  std::unique_ptr<const auth::RoomGrants> grants;  // the token's parley_rooms; null: every room
  // The server API's key (PARLEY_API_KEY) on a registered room's changes and reads of members
  // and bans: the application's backend, managing every room as its owner would.
  if ((change || managed) && parts[1] == "rooms" && req.authorization.starts_with("ApiKey ")) {
    if (ctx_.apiKey.empty())
      return reply(refuse(404, metrics::Rejection::NotFound, "not_found", "no such endpoint"));
    if (!constantTimeEqual(req.authorization.substr(7), ctx_.apiKey))
      return reply(refuse(401, metrics::Rejection::InvalidApiKey, "invalid_api_key",
                          "the API key is not this server's"));
    caller = std::string(auth::RoomService::kServerActor);
  } else {
    const std::optional<std::string> token = requestToken(url->params(), req.authorization);
    if (!token && (ctx_.authRequired || change))
      return reply(refuse(401, metrics::Rejection::AuthRequired, "auth_required",
                          "this needs a token: Authorization: Bearer TOKEN"));
    if (token) {
      auth::TokenCheck check = ctx_.tokens.verify(*token, ctx_.unixMillis() / 1000);
      if (auto no = chat::tokenRefusal(check)) {
        if (ctx_.authRequired || change) return reply(refuse(401, no->why, no->code, no->message));
      } else {
        chat::checkUsername(check.username, caller);  // in NFC, as on the WebSocket
        grants = std::move(check.rooms);
      }
    }
  }

  // A token limited to some rooms (parley_rooms) reads only those (read or write: both read).
  auto refuseGrant = [&](const std::string& room) -> std::optional<HttpReply> {
    if (grants && grants->access(room) == auth::GrantLevel::None)
      return refuse(403, metrics::Rejection::RoomNotGranted, "room_not_granted",
                    "the token does not reach this room");
    return std::nullopt;
  };

  if (parts.size() == 4 && parts[1] == "cluster" && parts[2] == "rooms") {
    // Which instance owns a room's order (or would take it now): any valid name, empty rooms
    // too, from any instance. 404 on a single server, which has no cluster.
    if (!ctx_.clusterOwnerOf)
      return reply(refuse(404, metrics::Rejection::NotFound, "not_found", "not a cluster"));
    const std::string& room = parts[3];
    if (const char* why = chat::roomNameError(room))
      return reply(refuse(400, metrics::Rejection::InvalidRoom, "invalid_room", why));
    HttpReply r;
    r.body = R"({"room":)";
    chat::appendJsonString(r.body, room);
    r.body.append(R"(,"owner":)");
    const std::string owner = ctx_.clusterOwnerOf(room);
    if (owner.empty())
      r.body.append("null");
    else
      chat::appendJsonString(r.body, owner);
    r.body.push_back('}');
    return reply(std::move(r));
  }
  if (parts.size() == 2 && roomsRoute && req.method == "POST")
    return rooms_.create(shard, caller, req.body, std::move(reply));
  if (parts.size() == 3 && parts[1] == "dm")
    return rooms_.openDirect(shard, caller, std::move(parts[2]), std::move(reply));
  if (managed) {
    if (const char* why = chat::roomNameError(parts[2]))
      return reply(refuse(400, metrics::Rejection::InvalidRoom, "invalid_room", why));
    const std::string user = parts.size() == 5 ? parts[4] : std::string();
    if (parts.size() == 5 && user.empty())
      return reply(refuse(400, metrics::Rejection::InvalidUsername, "invalid_username",
                          "the path's user name is empty"));
    return rooms_.manage(shard, req.method, caller, parts[2], parts[3], user, req.body,
                         std::move(reply));
  }
  if (parts.size() == 2 && roomsRoute) {
    ctx_.hub.listRooms(
        shard, 1000,
        [this, caller, reply = std::move(reply),
         grants = std::shared_ptr<const auth::RoomGrants>(std::move(grants))](bool ok, auto rooms) {
          auto list = rooms_.visibleRooms(caller, std::move(rooms));
          // ...and a token limited to some rooms sees only those in the list.
          if (grants)
            std::erase_if(list, [&](const chat::Hub::RoomInfo& r) {
              return grants->access(r.room) == auth::GrantLevel::None;
            });
          reply(roomsReply(ok, list));
        });
    return;
  }
  if (parts.size() == 4 && parts[1] == "rooms" && parts[3] == "presence") {
    std::string room = std::move(parts[2]);
    if (const char* why = chat::roomNameError(room))
      return reply(refuse(400, metrics::Rejection::InvalidRoom, "invalid_room", why));
    if (auto no = refuseGrant(room)) return reply(std::move(*no));
    if (refusedRoom(room, caller, reply)) return;
    ctx_.hub.presence(shard, room,
                      [reply = std::move(reply), room](std::vector<std::string> users) {
                        reply(presenceReply(room, users));
                      });
    return;
  }
  if (parts.size() == 4 && parts[1] == "rooms" && parts[3] == "messages") {
    const std::string& room = parts[2];
    if (const char* why = chat::roomNameError(room))
      return reply(refuse(400, metrics::Rejection::InvalidRoom, "invalid_room", why));
    if (auto no = refuseGrant(room)) return reply(std::move(*no));
    if (refusedRoom(room, caller, reply)) return;
    std::uint64_t before = 0;
    std::uint64_t limit = chat::kDefaultPageLimit;
    auto params = url->params();
    if (auto it = params.find("before"); it != params.end()) {
      auto v = parseUnsigned((*it).value);
      if (!v)
        return reply(refuse(400, metrics::Rejection::BadRequest, "invalid_parameter",
                            "before must be a non-negative integer"));
      before = *v;
    }
    if (auto it = params.find("limit"); it != params.end()) {
      auto v = parseUnsigned((*it).value);
      if (!v || *v == 0)
        return reply(refuse(400, metrics::Rejection::BadRequest, "invalid_parameter",
                            "limit must be a positive integer"));
      limit = std::min<std::uint64_t>(*v, chat::kMaxPageLimit);
    }
    ctx_.hub.history(
        shard, room, before, limit,
        [reply = std::move(reply)](chat::HistoryPage page) { reply(historyReply(page)); });
    return;
  }
  reply(refuse(404, metrics::Rejection::NotFound, "not_found", "no such endpoint"));
}

// POST /api/register and /api/login: the password is hashed on the AuthService's thread; its
// answer comes back to this shard.
void Router::handleAuth(std::size_t shard, const HttpRequest& req, bool registering, Reply reply) {
  const std::string address =
      req.peerAddress.empty() ? std::string("?") : std::string(req.peerAddress);
  if (const std::int64_t wait = ctx_.loginThrottle.take(address, ctx_.steadyMillis()); wait > 0) {
    HttpReply r = refuse(429, metrics::Rejection::TooManyAttempts, "too_many_attempts",
                         "too many register or login attempts: wait and retry");
    r.retryAfterSeconds = wait;
    return reply(std::move(r));
  }
  metrics::Rejection why{};
  auto parsed = parseCredentials(req.body, why);
  if (auto* bad = std::get_if<HttpReply>(&parsed)) {
    ctx_.metrics.reject(why);
    return reply(std::move(*bad));
  }
  auto& creds = std::get<Credentials>(parsed);
  // Runs on the AuthService's thread: everything but the hand-over waits for the shard.
  auto done = [this, shard, registering, reply](auth::AuthResult result) {
    ctx_.post(shard, [this, registering, reply, result = std::move(result)] {
      metrics::Rejection counted{};
      bool rejected = false;
      HttpReply r = authReply(result, registering, counted, rejected);
      if (rejected) ctx_.metrics.reject(counted);
      if (result.outcome == auth::AuthOutcome::Ok)
        ctx_.metrics.auth(registering ? metrics::Metrics::AuthEvent::Registered
                                      : metrics::Metrics::AuthEvent::LoggedIn);
      reply(std::move(r));
    });
  };
  const bool queued =
      registering ? ctx_.accounts.registerAccount(std::move(creds.username),
                                                  std::move(creds.password), std::move(done))
                  : ctx_.accounts.login(std::move(creds.username), std::move(creds.password),
                                        address, std::move(done));
  if (!queued) {
    HttpReply r = refuse(503, metrics::Rejection::AuthBusy, "auth_busy",
                         "too many logins in progress: retry in a moment");
    r.retryAfterSeconds = 1;
    reply(std::move(r));
  }
}

// POST /api/refresh: a live token buys a new one for the same account, without the password
// (an HMAC each way: done here, on the shard).
void Router::handleRefresh(const HttpRequest& req, Reply reply) {
  const std::string_view bearer = bearerToken(req.authorization);
  if (bearer.empty())
    return reply(refuse(401, metrics::Rejection::AuthRequired, "auth_required",
                        "send the token to renew as Authorization: Bearer TOKEN"));
  const std::int64_t now = ctx_.unixMillis() / 1000;
  const auth::TokenCheck check = ctx_.tokens.verify(bearer, now);
  if (auto no = chat::tokenRefusal(check))
    return reply(refuse(401, no->why, no->code, no->message));
  // The identity provider's tokens are renewed there: one of Parley's own in exchange would
  // outlive the provider's decision (a disabled account) and drop the token's room limits.
  if (check.fromApp)
    return reply(refuse(403, metrics::Rejection::TokenNotRenewable, "token_not_renewable",
                        "this token comes from the identity provider: get a fresh one there and "
                        "send it with {\"type\":\"auth\"}"));
  auth::AuthResult result;
  result.token = ctx_.tokens.issue(check.username, now, result.expiresAt);
  if (!result.token.empty()) {
    result.outcome = auth::AuthOutcome::Ok;
    ctx_.metrics.auth(metrics::Metrics::AuthEvent::Renewed);
  }
  result.username = check.username;
  metrics::Rejection unused{};
  bool rejected = false;
  reply(authReply(result, false, unused, rejected));
}

}  // namespace parley::http
