#include "net/HttpSession.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sys/socket.h>

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

#include "auth/AccountDirectory.h"
#include "auth/OriginPolicy.h"
#include "auth/TokenService.h"
#include "chat/Hub.h"
#include "chat/Names.h"
#include "chat/Protocol.h"
#include "chat/TokenRefusal.h"
#include "http/RequestToken.h"
#include "http/Router.h"
#include "metrics/Metrics.h"
#include "net/SessionPool.h"
#include "net/Shard.h"
#include "net/WsSession.h"

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

// /ws/{room} (the room's connection) and /ws (a connection that subscribes to rooms).
bool isWebSocketPath(std::string_view path) { return path == "/ws" || path.starts_with("/ws/"); }

// What a WebSocket upgrade request asks for, once every check passed.
struct Upgrade {
  std::string room;  // empty: /ws
  std::string username;
  std::optional<std::uint64_t> since;
  std::int64_t tokenExpiresAtMs = 0;  // unix; 0: no token
  // The rooms the token reaches (its parley_rooms); null: every room.
  std::unique_ptr<const auth::RoomGrants> rooms;
  std::string response;  // the 101, with its Sec-WebSocket-Accept
};
struct Refusal {
  unsigned status;
  metrics::Rejection why;
  std::string_view code;
  std::string_view message;
};

// Why `token` is not good now, or nothing (and `check` says whose it is).
std::optional<Refusal> tokenRefusal(const auth::TokenService& tokens, std::string_view token,
                                    auth::TokenCheck& check) {
  check = tokens.verify(token, unixMillis() / 1000);
  if (auto problem = chat::tokenRefusal(check))
    return Refusal{401, problem->why, problem->code, problem->message};
  return std::nullopt;
}

// The checks of a request for /ws/{room} or /ws: the same for the first request of a connection
// (serveConnection) and for one that follows plain requests on a kept-alive one.
template <class Body>
std::variant<Upgrade, Refusal> checkUpgrade(const bhttp::request<Body>& req, ServerContext& ctx) {
  // First: a page from another site learns nothing, not even whether its room name was good.
  if (!ctx.origins.allows(req[bhttp::field::origin], req[bhttp::field::host]))
    return Refusal{403, metrics::Rejection::OriginNotAllowed, "origin_not_allowed",
                   "this page's origin may not open a WebSocket here (see --allowed-origins)"};
  auto url = boost::urls::parse_origin_form(req.target());
  if (!url) {
    // Tell which half is broken (a stray '%' in the room, or in the query).
    const std::string_view target = req.target();
    if (!boost::urls::parse_origin_form(pathOf(target)))
      return Refusal{400, metrics::Rejection::InvalidRoom, "invalid_room",
                     "room name is not a valid percent-encoded path segment"};
    return Refusal{400, metrics::Rejection::InvalidUsername, "invalid_username",
                   "query string is not valid percent-encoding"};
  }
  Upgrade up;
  auto segments = url->segments();  // percent-decoded
  bool multiplexed = false;         // /ws: no room in the path, rooms come by subscribe
  {
    auto it = segments.begin();
    ++it;  // "ws"
    if (it == segments.end())
      multiplexed = true;
    else
      up.room = *it++;
    if (it != segments.end())
      return Refusal{400, metrics::Rejection::InvalidRoom, "invalid_room",
                     "room name may not contain '/'"};
  }
  if (const char* why = multiplexed ? nullptr : chat::roomNameError(up.room))
    return Refusal{400, metrics::Rejection::InvalidRoom, "invalid_room", why};

  up.username = "anonymous";  // as the original backend
  auto params = url->params();
  const auto named = params.find("username");
  if (named != params.end()) {
    const std::string sent = (*named).has_value ? std::string((*named).value) : std::string();
    if (const char* why = chat::checkUsername(sent, up.username))  // up.username: its NFC form
      return Refusal{400, metrics::Rejection::InvalidUsername, "invalid_username", why};
  }
  // A token names the user. Given, it must be good, whatever the mode.
  if (const auto token = http::requestToken(params, req[bhttp::field::authorization])) {
    auth::TokenCheck check;
    if (auto no = tokenRefusal(ctx.tokens, *token, check)) return *no;
    // Valid (tokenRefusal checked it); in NFC, as ?username= is (a token issued before names
    // were stored in NFC may hold another form of the same name).
    std::string tokenName;
    chat::checkUsername(check.username, tokenName);
    if (named != params.end() && up.username != tokenName)
      return Refusal{403, metrics::Rejection::UsernameMismatch, "username_mismatch",
                     "username differs from the token's account"};
    up.username = std::move(tokenName);
    up.tokenExpiresAtMs = chat::expiresAtMillis(check.expiresAt);
    // A token limited to some rooms (parley_rooms) reaches the path's room or nothing; on /ws
    // each subscribe is checked by the conversation.
    if (check.rooms && !multiplexed && check.rooms->access(up.room) == auth::GrantLevel::None)
      return Refusal{403, metrics::Rejection::RoomNotGranted, "room_not_granted",
                     "the token does not reach this room"};
    up.rooms = std::move(check.rooms);
  } else if (ctx.options.authRequired) {
    return Refusal{401, metrics::Rejection::AuthRequired, "auth_required",
                   "this server needs a token: log in, then connect with ?token="};
  } else if (named != params.end() && ctx.accountNames.hasName(up.username)) {
    return Refusal{403, metrics::Rejection::UsernameReserved, "username_reserved",
                   "that name has an account: log in to use it, or pick another"};
  }
  if (auto it = params.find("since"); it != params.end()) {
    if (multiplexed)
      return Refusal{400, metrics::Rejection::BadRequest, "invalid_since",
                     "since is per room on /ws: give it in each subscribe"};
    up.since = http::parseUnsigned((*it).value);
    if (!up.since)
      return Refusal{400, metrics::Rejection::BadRequest, "invalid_since",
                     "since must be a non-negative integer (a message id)"};
  }

  // A private room admits its members, any room refuses who it banned: asked once here, never
  // per message (a later removal or ban evicts: chat/RoomOwner.h). The same answer whether a
  // private room of that name exists or not for names of direct-message rooms (auth/RoomAccess).
  if (!multiplexed) {
    const auth::RoomVerdict verdict = ctx.hub.admit(up.room, up.username);
    if (verdict == auth::RoomVerdict::NotMember)
      return Refusal{403, metrics::Rejection::NotAMember, "not_a_member",
                     "this room is for its members only"};
    if (verdict == auth::RoomVerdict::Banned)
      return Refusal{403, metrics::Rejection::Banned, "banned", "you are banned from this room"};
  }

  if (!beast::websocket::is_upgrade(req))
    return Refusal{426, metrics::Rejection::UpgradeRequired, "upgrade_required",
                   "this endpoint speaks WebSocket only"};
  const auto key = req[bhttp::field::sec_websocket_key];
  if (key.empty() || key.size() > 64 || req[bhttp::field::sec_websocket_version] != "13")
    return Refusal{400, metrics::Rejection::BadRequest, "bad_request",
                   "missing Sec-WebSocket-Key or unsupported Sec-WebSocket-Version"};
  if (ctx.stopping.load())
    return Refusal{503, metrics::Rejection::ServerFull, "shutting_down", "server is shutting down"};
  if (static_cast<std::size_t>(ctx.metrics.openConnections()) >= ctx.options.maxConnections)
    return Refusal{503, metrics::Rejection::ServerFull, "server_full", "too many connections"};

  up.response =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: " +
      acceptKey(key) + "\r\n\r\n";
  return up;
}

// Hands an upgraded socket to its WebSocket session. `early`: bytes the client sent after its
// request (a first frame, already).
void startWebSocket(Shard& shard, FileDescriptor fd, Admission admission, Upgrade up,
                    std::string early) {
  shard.ctx().metrics.connectionOpened();
  // The client address's slot in the per-address message rate table, found once here: the
  // conversation keeps 4 bytes (in padding) instead of the address.
  std::uint32_t addressSlot = chat::RateBucketTable::kNoSlot;
  if (chat::RateBucketTable* rates = shard.ctx().conversation.addressRates) {
    sockaddr_storage peer{};
    socklen_t peerLen = sizeof peer;
    if (::getpeername(fd.get(), reinterpret_cast<sockaddr*>(&peer), &peerLen) == 0) {
      const std::string address = ConnectionGate::key(peer);
      if (!address.empty()) addressSlot = rates->slotOf(address);
    }
  }
  // The session writes the 101 itself, in one write with the history and presence frames that
  // follow it: one write per connect instead of three.
  auto session =
      std::allocate_shared<WsSession>(PooledAllocator<WsSession>(), shard, std::move(fd), admission,
                                      std::move(up.room), std::move(up.username), addressSlot);
  session->start(std::move(up.response), std::move(early), up.since, up.tokenExpiresAtMs,
                 std::move(up.rooms));
}

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  // `received`: what was already read from the socket (the start of the first request).
  HttpSession(Shard& shard, tcp::socket socket, std::string_view received, Admission admission)
      : shard_(shard), stream_(std::move(socket)), admission_(admission) {
    const auto n = std::min(received.size(), buffer_.max_size());
    if (n == 0) return;  // (an empty buffer has no storage: no memcpy to null)
    std::memcpy(buffer_.prepare(n).data(), received.data(), n);
    buffer_.commit(n);
  }

  // The connection ends with the session (closed by us, by its deadline, or by the peer): its
  // place in the gate is free again, unless it went on as a WebSocket.
  ~HttpSession() {
    if (admitted_) shard_.ctx().gate.release(admission_);
  }
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;

  void readRequest() {
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(kBodyLimit);
    stream_.expires_after(shard_.ctx().options.handshakeTimeout);
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
      shard_.ctx().metrics.reject(metrics::Rejection::BadRequest);
      return reply(http::jsonError(400, "bad_request", "malformed HTTP request"), false);
    }
    const auto& req = parser_->get();
    if (isWebSocketPath(pathOf(req.target()))) return handleWebSocket();
    // Everything else is the router's: it answers now, or later on this shard (a login waits
    // for the hasher, a history page for the store reader).
    beast::error_code peerError;
    const auto peer = stream_.socket().remote_endpoint(peerError);
    const std::string address = peerError ? std::string() : peer.address().to_string();
    http::HttpRequest request{req.method_string(), req.target(), req[bhttp::field::authorization],
                              req.body(), address};
    const bool head = req.method() == bhttp::verb::head;
    const bool keepAlive = req.keep_alive();
    shard_.ctx().router.handle(
        shard_.index(), request, [self = shared_from_this(), head, keepAlive](http::HttpReply r) {
          self->reply(std::move(r), keepAlive && !self->shard_.ctx().stopping.load(), head);
        });
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
    admitted_ = false;  // the WebSocket session gives the place back
    startWebSocket(shard_, FileDescriptor(stream_.release_socket().release()), admission_,
                   std::get<Upgrade>(std::move(checked)), std::move(early));
  }

  // `head`: the answer to a HEAD request: the GET's headers, Content-Length included, no body.
  void reply(http::HttpReply r, bool keepAlive, bool head = false) {
    // The read's deadline may have passed while an answer was computed (a login waits for the
    // hasher): the write gets its own.
    stream_.expires_after(shard_.ctx().options.handshakeTimeout);
    auto res = std::make_shared<bhttp::response<bhttp::string_body>>(
        static_cast<bhttp::status>(r.status), 11);
    res->set(bhttp::field::server, "parley");
    res->set(bhttp::field::content_type, r.contentType);
    res->set(bhttp::field::cache_control, "no-store");
    // Nothing here is meant to be sniffed into another type, or to leak the page's address.
    res->set("X-Content-Type-Options", "nosniff");
    res->set("Referrer-Policy", "no-referrer");
    if (!r.contentSecurityPolicy.empty()) {
      res->set("Content-Security-Policy", r.contentSecurityPolicy);
      res->set("X-Frame-Options", "DENY");  // browsers without frame-ancestors
    }
    if (!r.allow.empty()) res->set(bhttp::field::allow, r.allow);
    if (r.status == 401)  // RFC 9110: a 401 names its scheme
      res->set(bhttp::field::www_authenticate, "Bearer realm=\"parley\"");
    if (r.retryAfterSeconds > 0)
      res->set(bhttp::field::retry_after, std::to_string(r.retryAfterSeconds));
    res->keep_alive(keepAlive);
    if (head) {
      res->content_length(r.body.size());  // what a GET would carry (RFC 9110 9.3.2)
    } else {
      res->body() = std::move(r.body);
      res->prepare_payload();
    }
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
  Admission admission_;
  bool admitted_ = true;  // holds a place in the gate until it ends or upgrades
  beast::flat_buffer buffer_{kHeaderLimit + kBodyLimit};
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
};

}  // namespace

// A fresh connection's first request is usually a WebSocket upgrade that arrived with the
// connection: read and check it here, with no Asio socket in between (Asio would register the
// socket with its reactor and deregister it at the upgrade: two epoll_ctl, plus the async
// operation and timeout machinery, for one read). Anything else, or a request not complete in
// the first read, goes to an HttpSession with the bytes read so far.
void serveConnection(Shard& shard, FileDescriptor fd, Admission admission, const tcp& protocol) {
  char bytes[kHeaderLimit];
  ssize_t n;
  do n = ::recv(fd.get(), bytes, sizeof bytes, 0);
  while (n < 0 && errno == EINTR);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
    shard.ctx().gate.release(admission);
    return;  // gone before it said anything (`fd` closes it)
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
      if (isWebSocketPath(pathOf(parser.get().target()))) {
        auto checked = checkUpgrade(parser.get(), shard.ctx());
        if (auto* up = std::get_if<Upgrade>(&checked))
          return startWebSocket(shard, std::move(fd), admission, std::move(*up),
                                std::string(received.substr(used)));
        // A refusal: the HttpSession below answers it, with the metrics and the JSON body.
      }
    }
  }
  tcp::socket socket(shard.io());
  boost::system::error_code ec;
  socket.assign(protocol, fd.get(), ec);
  if (ec) {
    shard.ctx().gate.release(admission);
    return;  // `fd` closes it
  }
  (void)fd.release();  // the socket's now
  std::make_shared<HttpSession>(shard, std::move(socket), received, admission)->readRequest();
}

}  // namespace parley::net
