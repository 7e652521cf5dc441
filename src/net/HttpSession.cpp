#include "net/HttpSession.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <cerrno>
#include <cstring>
#include <optional>
#include <variant>

#include "app/Config.h"
#include "auth/AccountDirectory.h"
#include "auth/AuthService.h"
#include "auth/LoginThrottle.h"
#include "auth/TokenService.h"
#include "chat/Hub.h"
#include "chat/Names.h"
#include "chat/Protocol.h"
#include "http/AuthRoutes.h"
#include "http/Metrics.h"
#include "http/Routes.h"
#include "net/SessionPool.h"
#include "net/Shard.h"
#include "net/WsSession.h"
#include "store/MessageStore.h"
#include "store/StoreWriter.h"

namespace parley::net {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = boost::asio::ip::tcp;

namespace {

constexpr std::size_t kHeaderLimit = 8 * 1024;
constexpr std::size_t kBodyLimit = 64 * 1024;

// Sec-WebSocket-Accept (RFC 6455 §4.2.2): base64(SHA-1(key + GUID)).
std::string acceptKey(std::string_view key) {
  std::string input(key);
  input.append("258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  unsigned char out[32];
  const int n = EVP_EncodeBlock(out, digest, SHA_DIGEST_LENGTH);
  return std::string(reinterpret_cast<char*>(out), static_cast<std::size_t>(n));
}

// A request target without its query string.
std::string_view pathOf(std::string_view target) { return target.substr(0, target.find('?')); }

// What a WebSocket upgrade request asks for, once every check passed.
struct Upgrade {
  std::string room;
  std::string username;
  std::optional<std::uint64_t> since;
  std::int64_t tokenExpiresAtMs = 0;  // unix; 0: no token
  std::string response;               // the 101, with its Sec-WebSocket-Accept
};
struct Refusal {
  unsigned status;
  http::Rejection why;
  std::string_view code;
  std::string_view message;
};

// The token a request carries: ?token= (a browser cannot set headers on a WebSocket) or
// Authorization: Bearer. Nothing when it carries none.
template <class Body>
std::optional<std::string_view> bearerToken(const bhttp::request<Body>& req) {
  const std::string_view header = req[bhttp::field::authorization];
  if (!header.starts_with("Bearer ")) return std::nullopt;
  return header.substr(7);
}

template <class Body>
std::optional<std::string> requestToken(const bhttp::request<Body>& req,
                                        const boost::urls::params_view& params) {
  if (auto it = params.find("token"); it != params.end()) return std::string((*it).value);
  if (auto bearer = bearerToken(req)) return std::string(*bearer);
  return std::nullopt;
}

// Why `token` is not good now, or nothing (and `check` says whose it is).
std::optional<Refusal> tokenRefusal(const auth::TokenService& tokens, std::string_view token,
                                    auth::TokenCheck& check) {
  check = tokens.verify(token, unixMillis() / 1000);
  if (auto problem = http::tokenProblem(check))
    return Refusal{401, problem->why, problem->code, problem->message};
  return std::nullopt;
}

// The checks of a request for /ws/{room}: the same for the first request of a connection
// (serveConnection) and for one that follows plain requests on a kept-alive one.
template <class Body>
std::variant<Upgrade, Refusal> checkUpgrade(const bhttp::request<Body>& req, ServerContext& ctx) {
  auto url = boost::urls::parse_origin_form(req.target());
  if (!url) {
    // Tell which half is broken (a stray '%' in the room, or in the query).
    const std::string_view target = req.target();
    if (!boost::urls::parse_origin_form(pathOf(target)))
      return Refusal{400, http::Rejection::InvalidRoom, "invalid_room",
                     "room name is not a valid percent-encoded path segment"};
    return Refusal{400, http::Rejection::InvalidUsername, "invalid_username",
                   "query string is not valid percent-encoding"};
  }
  Upgrade up;
  auto segments = url->segments();  // percent-decoded
  {
    auto it = segments.begin();
    ++it;  // "ws"
    if (it != segments.end()) up.room = *it++;
    if (it != segments.end())
      return Refusal{400, http::Rejection::InvalidRoom, "invalid_room",
                     "room name may not contain '/'"};
  }
  if (const char* why = chat::roomNameError(up.room))
    return Refusal{400, http::Rejection::InvalidRoom, "invalid_room", why};

  up.username = "anonymous";  // as the original backend
  auto params = url->params();
  const auto named = params.find("username");
  if (named != params.end()) {
    up.username = (*named).has_value ? std::string((*named).value) : std::string();
    if (const char* why = chat::usernameError(up.username))
      return Refusal{400, http::Rejection::InvalidUsername, "invalid_username", why};
  }
  // A token names the user. Given, it must be good, whatever the mode.
  if (const auto token = requestToken(req, params)) {
    auth::TokenCheck check;
    if (auto no = tokenRefusal(ctx.tokens, *token, check)) return *no;
    if (named != params.end() && up.username != check.username)
      return Refusal{403, http::Rejection::UsernameMismatch, "username_mismatch",
                     "username differs from the token's account"};
    up.username = check.username;
    up.tokenExpiresAtMs = expiresAtMillis(check.expiresAt);
  } else if (ctx.config.authRequired) {
    return Refusal{401, http::Rejection::AuthRequired, "auth_required",
                   "this server needs a token: log in, then connect with ?token="};
  } else if (named != params.end() && ctx.accountNames.hasName(up.username)) {
    return Refusal{403, http::Rejection::UsernameReserved, "username_reserved",
                   "that name has an account: log in to use it, or pick another"};
  }
  if (auto it = params.find("since"); it != params.end()) {
    up.since = http::parseUnsigned((*it).value);
    if (!up.since)
      return Refusal{400, http::Rejection::BadRequest, "invalid_since",
                     "since must be a non-negative integer (a message id)"};
  }

  if (!beast::websocket::is_upgrade(req))
    return Refusal{426, http::Rejection::UpgradeRequired, "upgrade_required",
                   "this endpoint speaks WebSocket only"};
  const auto key = req[bhttp::field::sec_websocket_key];
  if (key.empty() || key.size() > 64 || req[bhttp::field::sec_websocket_version] != "13")
    return Refusal{400, http::Rejection::BadRequest, "bad_request",
                   "missing Sec-WebSocket-Key or unsupported Sec-WebSocket-Version"};
  if (ctx.stopping.load())
    return Refusal{503, http::Rejection::ServerFull, "shutting_down", "server is shutting down"};
  if (static_cast<std::size_t>(ctx.metrics.openConnections()) >= ctx.config.maxConnections)
    return Refusal{503, http::Rejection::ServerFull, "server_full", "too many connections"};

  up.response =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: " +
      acceptKey(key) + "\r\n\r\n";
  return up;
}

// Hands an upgraded socket to its WebSocket session. `early`: bytes the client sent after its
// request (a first frame, already).
void startWebSocket(Shard& shard, int fd, Upgrade up, std::string early) {
  shard.ctx().metrics.connectionOpened();
  // The session writes the 101 itself, in one write with the history and presence frames that
  // follow it: one write per connect instead of three.
  auto session = std::allocate_shared<WsSession>(PooledAllocator<WsSession>(), shard, fd,
                                                 std::move(up.room), std::move(up.username));
  if (up.tokenExpiresAtMs) session->expireAt(up.tokenExpiresAtMs);
  session->start(std::move(up.response), std::move(early), up.since);
}

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  // `received`: what was already read from the socket (the start of the first request).
  HttpSession(Shard& shard, tcp::socket socket, std::string_view received)
      : shard_(shard), stream_(std::move(socket)) {
    const auto n = std::min(received.size(), buffer_.max_size());
    if (n == 0) return;  // (an empty buffer has no storage: no memcpy to null)
    std::memcpy(buffer_.prepare(n).data(), received.data(), n);
    buffer_.commit(n);
  }

  void readRequest() {
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(kBodyLimit);
    stream_.expires_after(shard_.ctx().config.handshakeTimeout);
    readSome(0);
  }

 private:
  // bhttp::async_read, written out so that the header limit holds across reads: Beast checks
  // header_limit only against the bytes one put() sees, and put() takes the whole fields of an
  // unfinished header, so a header sent in segments that each end just past a field's CRLF grew
  // without bound (fuzz_http_request found it; over a socket, 0.3 MB of header was accepted
  // against the 8 KiB limit, each field held in memory until the handshake timeout). Beast's own
  // async_read_some cannot count it: it returns only once the parser needs no more bytes.
  void readSome(std::size_t headerBytes) {
    beast::error_code ec;
    while (buffer_.size() != 0 && !parser_->is_done()) {
      const bool inHeader = !parser_->is_header_done();
      const std::size_t used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (inHeader) headerBytes += used;  // put() stops at the header's end (not eager)
      if (headerBytes > kHeaderLimit) ec = bhttp::error::header_limit;
      if (ec == bhttp::error::need_more) {
        ec = {};
        break;
      }
      if (ec) return onRequest(ec);
      if (used == 0) break;
    }
    if (parser_->is_done()) return onRequest(ec);
    const std::size_t room = beast::read_size(buffer_, 65536);
    if (room == 0) return onRequest(bhttp::error::buffer_overflow);
    stream_.async_read_some(buffer_.prepare(room), [self = shared_from_this(), headerBytes](
                                                       beast::error_code ec, std::size_t n) {
      self->buffer_.commit(n);
      if (ec == boost::asio::error::eof) {
        // As async_read: a request cut short is malformed; no request at all is a close.
        if (!self->parser_->got_some()) return self->onRequest(bhttp::error::end_of_stream);
        ec = {};
        self->parser_->put_eof(ec);
        return self->onRequest(ec);
      }
      if (ec) return self->onRequest(ec);
      self->readSome(headerBytes);
    });
  }

  void onRequest(beast::error_code ec) {
    if (ec == bhttp::error::end_of_stream || ec == beast::error::timeout ||
        ec == boost::asio::error::operation_aborted || ec == boost::asio::error::connection_reset ||
        ec == boost::asio::error::eof)
      return close();
    if (ec) {
      shard_.ctx().metrics.reject(http::Rejection::BadRequest);
      return reply(http::jsonError(400, "bad_request", "malformed HTTP request"), false);
    }
    const auto& req = parser_->get();
    const std::string_view target = req.target();
    const std::string_view path = pathOf(target);
    if (path.starts_with("/ws/")) return handleWebSocket();
    if (path.starts_with("/api/")) return handleApi();

    auto& ctx = shard_.ctx();
    http::ServerStatus status;
    status.connections = ctx.metrics.openConnections();
    status.rooms = ctx.hub.roomCount();
    status.uptimeSeconds = (unixMillis() - ctx.startedAtMs) / 1000;
    status.messagesSequenced = ctx.hub.messagesSequenced();
    status.storeRefusals = ctx.hub.storeRefusals();
    status.duplicatesSuppressed = ctx.hub.duplicatesSuppressed();
    status.catchUpMarkers = ctx.hub.catchUpMarkers();
    status.catchUpReads = ctx.hub.catchUpReads();
    if (ctx.store) {
      status.storeKind = ctx.store->kind();
      status.storeOk = ctx.store->healthy();
      if (!status.storeOk) status.storeError = ctx.store->lastError();
      store::StoreBacklog backlog = ctx.store->backlog();
      status.storeWaiting = backlog.waiting;
      status.storeIngestError = std::move(backlog.error);
    }
    http::HttpReply r = http::routeRequest(req.method_string(), path, status, ctx.metrics);
    if (req.method() == bhttp::verb::head) r.body.clear();
    reply(std::move(r), req.keep_alive() && !ctx.stopping.load());
  }

  // REST: /api/rooms and /api/rooms/{room}/messages. Answers come from the store thread, so
  // the reply is written when the hub calls back on this shard.
  void handleApi() {
    auto& ctx = shard_.ctx();
    const auto& req = parser_->get();
    const bool keepAlive = req.keep_alive();
    auto refuse = [&](unsigned status, http::Rejection why, std::string_view code,
                      std::string_view message) {
      ctx.metrics.reject(why);
      reply(http::jsonError(status, code, message), keepAlive);
    };
    auto url = boost::urls::parse_origin_form(req.target());
    if (!url) return refuse(400, http::Rejection::BadRequest, "bad_request", "malformed URL");
    std::vector<std::string> parts;
    for (auto seg : url->segments()) parts.emplace_back(seg);
    if (parts.size() == 2 && parts[1] == "refresh") {
      if (req.method() != bhttp::verb::post)
        return refuse(405, http::Rejection::MethodNotAllowed, "method_not_allowed", "use POST");
      return handleRefresh();
    }
    if (parts.size() == 2 && (parts[1] == "register" || parts[1] == "login")) {
      if (req.method() != bhttp::verb::post)
        return refuse(405, http::Rejection::MethodNotAllowed, "method_not_allowed", "use POST");
      return handleAuth(parts[1] == "register");
    }
    if (req.method() != bhttp::verb::get)
      return refuse(405, http::Rejection::MethodNotAllowed, "method_not_allowed", "use GET");
    // Where a WebSocket needs a token, so does reading the rooms, their history and members.
    if (ctx.config.authRequired) {
      const auto token = requestToken(req, url->params());
      if (!token)
        return refuse(401, http::Rejection::AuthRequired, "auth_required",
                      "this server needs a token: Authorization: Bearer TOKEN");
      auth::TokenCheck check;
      if (auto no = tokenRefusal(ctx.tokens, *token, check))
        return refuse(no->status, no->why, no->code, no->message);
    }

    if (parts.size() == 2 && parts[1] == "rooms") {
      ctx.hub.listRooms(shard_.index(), 1000,
                        [self = shared_from_this(), keepAlive](bool ok, auto rooms) {
                          self->reply(http::roomsReply(ok, rooms), keepAlive);
                        });
      return;
    }
    if (parts.size() == 4 && parts[1] == "rooms" && parts[3] == "presence") {
      const std::string& room = parts[2];
      if (const char* why = chat::roomNameError(room))
        return refuse(400, http::Rejection::InvalidRoom, "invalid_room", why);
      ctx.hub.presence(
          shard_.index(), room,
          [self = shared_from_this(), keepAlive, room](std::vector<std::string> users) {
            self->reply(http::presenceReply(room, users), keepAlive);
          });
      return;
    }
    if (parts.size() == 4 && parts[1] == "rooms" && parts[3] == "messages") {
      const std::string& room = parts[2];
      if (const char* why = chat::roomNameError(room))
        return refuse(400, http::Rejection::InvalidRoom, "invalid_room", why);
      std::uint64_t before = 0;
      std::uint64_t limit = chat::kDefaultPageLimit;
      auto params = url->params();
      if (auto it = params.find("before"); it != params.end()) {
        auto v = http::parseUnsigned((*it).value);
        if (!v)
          return refuse(400, http::Rejection::BadRequest, "invalid_parameter",
                        "before must be a non-negative integer");
        before = *v;
      }
      if (auto it = params.find("limit"); it != params.end()) {
        auto v = http::parseUnsigned((*it).value);
        if (!v || *v == 0)
          return refuse(400, http::Rejection::BadRequest, "invalid_parameter",
                        "limit must be a positive integer");
        limit = std::min<std::uint64_t>(*v, chat::kMaxPageLimit);
      }
      ctx.hub.history(shard_.index(), room, before, limit,
                      [self = shared_from_this(), keepAlive](chat::HistoryPage page) {
                        self->reply(http::historyReply(page), keepAlive);
                      });
      return;
    }
    refuse(404, http::Rejection::NotFound, "not_found", "no such endpoint");
  }

  // POST /api/register and /api/login: the password is hashed on the AuthService's thread and
  // the reply written when its answer comes back to this shard.
  void handleAuth(bool registering) {
    auto& ctx = shard_.ctx();
    const auto& req = parser_->get();
    const bool keepAlive = req.keep_alive();
    beast::error_code ec;
    const auto peer = stream_.socket().remote_endpoint(ec);
    const std::string address = ec ? std::string("?") : peer.address().to_string();
    if (const std::int64_t wait = ctx.loginThrottle.take(address, steadyMillis()); wait > 0) {
      ctx.metrics.reject(http::Rejection::TooManyAttempts);
      http::HttpReply r = http::jsonError(429, "too_many_attempts",
                                          "too many register or login attempts: wait and retry");
      r.retryAfterSeconds = wait;
      return reply(std::move(r), keepAlive);
    }
    http::Rejection why{};
    auto parsed = http::parseCredentials(req.body(), why);
    if (auto* bad = std::get_if<http::HttpReply>(&parsed)) {
      ctx.metrics.reject(why);
      return reply(std::move(*bad), keepAlive);
    }
    auto& creds = std::get<http::Credentials>(parsed);
    auto done = [self = shared_from_this(), keepAlive, registering](auth::AuthResult result) {
      auto& io = self->shard_.io();
      boost::asio::post(
          io, [self = std::move(self), keepAlive, registering, result = std::move(result)] {
            http::Rejection counted{};
            bool rejected = false;
            http::HttpReply r = http::authReply(result, registering, counted, rejected);
            auto& metrics = self->shard_.ctx().metrics;
            if (rejected) metrics.reject(counted);
            if (result.outcome == auth::AuthOutcome::Ok)
              metrics.auth(registering ? http::Metrics::AuthEvent::Registered
                                       : http::Metrics::AuthEvent::LoggedIn);
            self->reply(std::move(r), keepAlive);
          });
    };
    const bool queued =
        registering ? ctx.accounts.registerAccount(std::move(creds.username),
                                                   std::move(creds.password), std::move(done))
                    : ctx.accounts.login(std::move(creds.username), std::move(creds.password),
                                         std::move(done));
    if (!queued) {
      ctx.metrics.reject(http::Rejection::AuthBusy);
      http::HttpReply r =
          http::jsonError(503, "auth_busy", "too many logins in progress: retry in a moment");
      r.retryAfterSeconds = 1;
      reply(std::move(r), keepAlive);
    }
  }

  // POST /api/refresh: a live token buys a new one for the same account, without the password
  // (an HMAC each way: done here, on the shard).
  void handleRefresh() {
    auto& ctx = shard_.ctx();
    const auto& req = parser_->get();
    const bool keepAlive = req.keep_alive();
    auto refuse = [&](http::Rejection why, std::string_view code, std::string_view message) {
      ctx.metrics.reject(why);
      reply(http::jsonError(401, code, message), keepAlive);
    };
    const auto bearer = bearerToken(req);
    if (!bearer)
      return refuse(http::Rejection::AuthRequired, "auth_required",
                    "send the token to renew as Authorization: Bearer TOKEN");
    auth::TokenCheck check;
    if (auto no = tokenRefusal(ctx.tokens, *bearer, check))
      return refuse(no->why, no->code, no->message);
    const std::int64_t now = unixMillis() / 1000;
    auth::AuthResult result;
    result.token = ctx.tokens.issue(check.username, now, result.expiresAt);
    if (!result.token.empty()) {
      result.outcome = auth::AuthOutcome::Ok;
      ctx.metrics.auth(http::Metrics::AuthEvent::Renewed);
    }
    result.username = check.username;
    http::Rejection unused{};
    bool rejected = false;
    reply(http::authReply(result, false, unused, rejected), keepAlive);
  }

  void handleWebSocket() {
    auto checked = checkUpgrade(parser_->get(), shard_.ctx());
    if (auto* no = std::get_if<Refusal>(&checked)) {
      shard_.ctx().metrics.reject(no->why);
      return reply(http::jsonError(no->status, no->code, no->message), false);
    }
    // Bytes the client sent after its request (a first frame, already) go to the session.
    std::string early(static_cast<const char*>(buffer_.data().data()), buffer_.size());
    stream_.expires_never();
    // The socket leaves Asio here: the session lives in the shard's own epoll set.
    startWebSocket(shard_, stream_.release_socket().release(),
                   std::get<Upgrade>(std::move(checked)), std::move(early));
  }

  void reply(http::HttpReply r, bool keepAlive) {
    // The read's deadline may have passed while an answer was computed (a login waits for the
    // hasher): the write gets its own.
    stream_.expires_after(shard_.ctx().config.handshakeTimeout);
    auto res = std::make_shared<bhttp::response<bhttp::string_body>>(
        static_cast<bhttp::status>(r.status), 11);
    res->set(bhttp::field::server, "parley");
    res->set(bhttp::field::content_type, r.contentType);
    res->set(bhttp::field::cache_control, "no-store");
    if (r.status == 401)  // RFC 9110: a 401 names its scheme
      res->set(bhttp::field::www_authenticate, "Bearer realm=\"parley\"");
    if (r.retryAfterSeconds > 0)
      res->set(bhttp::field::retry_after, std::to_string(r.retryAfterSeconds));
    res->body() = std::move(r.body);
    res->keep_alive(keepAlive);
    res->prepare_payload();
    bhttp::async_write(
        stream_, *res,
        [self = shared_from_this(), res, keepAlive](beast::error_code ec, std::size_t) {
          if (ec || !keepAlive) return self->close();
          self->readRequest();
        });
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.close();
  }

  Shard& shard_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_{kHeaderLimit + kBodyLimit};
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
};

}  // namespace

// A fresh connection's first request is usually a WebSocket upgrade that arrived with the
// connection: read and check it here, with no Asio socket in between (Asio would register the
// socket with its reactor and deregister it at the upgrade: two epoll_ctl, plus the async
// operation and timeout machinery, for one read). Anything else, or a request not complete in
// the first read, goes to an HttpSession with the bytes read so far.
void serveConnection(Shard& shard, int fd, const tcp& protocol) {
  char bytes[kHeaderLimit];
  ssize_t n;
  do n = ::recv(fd, bytes, sizeof bytes, 0);
  while (n < 0 && errno == EINTR);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
    ::close(fd);  // gone before it said anything
    return;
  }
  const std::string_view received(bytes, n > 0 ? static_cast<std::size_t>(n) : 0);
  if (!received.empty()) {
    bhttp::request_parser<bhttp::empty_body> parser;
    parser.header_limit(kHeaderLimit);
    beast::error_code ec;
    std::size_t used = 0;
    while (!ec && !parser.is_done() && used < received.size()) {
      const std::size_t step =
          parser.put(boost::asio::buffer(received.data() + used, received.size() - used), ec);
      if (step == 0) break;
      used += step;
    }
    if (!ec && parser.is_done()) {
      if (pathOf(parser.get().target()).starts_with("/ws/")) {
        auto checked = checkUpgrade(parser.get(), shard.ctx());
        if (auto* up = std::get_if<Upgrade>(&checked))
          return startWebSocket(shard, fd, std::move(*up), std::string(received.substr(used)));
        // A refusal: the HttpSession below answers it, with the metrics and the JSON body.
      }
    }
  }
  tcp::socket socket(shard.io());
  boost::system::error_code ec;
  socket.assign(protocol, fd, ec);
  if (ec) {
    ::close(fd);
    return;
  }
  std::make_shared<HttpSession>(shard, std::move(socket), received)->readRequest();
}

}  // namespace parley::net
