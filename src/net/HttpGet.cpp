#include "net/HttpGet.h"

#include <openssl/ssl.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/url/parse.hpp>

namespace parley::net {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

struct Target {
  bool tls = false;
  std::string host;  // without brackets
  std::string port;  // numeric, or "http"/"https"
  std::string hostHeader;
  std::string path;  // path and query
};

bool parseTarget(const std::string& url, Target& t, std::string& error) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) {
    error = "not a URL";
    return false;
  }
  const auto& u = *parsed;
  if (u.scheme() != "http" && u.scheme() != "https") {
    error = "only http:// and https:// are fetched";
    return false;
  }
  if (u.has_userinfo()) {
    error = "a user or password in the URL is not supported";
    return false;
  }
  t.tls = u.scheme() == "https";
  t.host = u.host_address();  // an IPv6 literal without its brackets
  if (t.host.empty()) {
    error = "the URL names no host";
    return false;
  }
  t.port = u.has_port() ? std::string(u.port()) : std::string(t.tls ? "443" : "80");
  t.hostHeader = std::string(u.encoded_host_and_port());
  t.path = std::string(u.encoded_target());
  if (t.path.empty() || t.path.front() != '/') t.path.insert(0, "/");
  return true;
}

// Writes the request, reads the response into `body`; `error` empty on success.
template <class Stream>
asio::awaitable<void> exchange(Stream& stream, const Target& t, std::size_t maxBytes,
                               std::string& body, std::string& error) {
  boost::system::error_code ec;
  bhttp::request<bhttp::empty_body> req{bhttp::verb::get, t.path, 11};
  req.set(bhttp::field::host, t.hostHeader);
  req.set(bhttp::field::user_agent, "parley");
  req.set(bhttp::field::accept, "application/jwk-set+json, application/json");
  req.set(bhttp::field::connection, "close");
  co_await bhttp::async_write(stream, req, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    error = "request: " + ec.message();
    co_return;
  }
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.header_limit(16 * 1024);
  parser.body_limit(maxBytes);
  co_await bhttp::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    error = "response: " + ec.message();
    co_return;
  }
  if (parser.get().result_int() != 200) {
    error = "HTTP status " + std::to_string(parser.get().result_int());
    co_return;
  }
  body = std::move(parser.get().body());
}

asio::awaitable<void> fetch(const Target& t, std::chrono::milliseconds timeout,
                            std::size_t maxBytes, asio::ssl::context* tls, std::string& body,
                            std::string& error) {
  auto executor = co_await asio::this_coro::executor;
  boost::system::error_code ec;
  tcp::resolver resolver(executor);
  const auto endpoints = co_await resolver.async_resolve(
      t.host, t.port, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    error = "resolve " + t.host + ": " + ec.message();
    co_return;
  }
  beast::tcp_stream tcpStream(executor);
  // One deadline for everything that follows: a stalled provider cannot hold the thread.
  tcpStream.expires_after(timeout);
  co_await tcpStream.async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    error = "connect: " + ec.message();
    co_return;
  }
  if (!tls) {
    co_await exchange(tcpStream, t, maxBytes, body, error);
    co_return;
  }
  beast::ssl_stream<beast::tcp_stream> stream(std::move(tcpStream), *tls);
  // SNI, and the certificate must name the host (or its IP address).
  if (!SSL_set_tlsext_host_name(stream.native_handle(), t.host.c_str())) {
    error = "TLS: cannot set the server name";
    co_return;
  }
  stream.set_verify_callback(asio::ssl::host_name_verification(t.host));
  co_await stream.async_handshake(asio::ssl::stream_base::client,
                                  asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    error = "TLS handshake: " + ec.message();
    co_return;
  }
  co_await exchange(stream, t, maxBytes, body, error);
}

}  // namespace

bool httpGet(const std::string& url, std::chrono::milliseconds timeout, std::size_t maxBytes,
             std::string& body, std::string& error) {
  Target target;
  if (!parseTarget(url, target, error)) return false;
  std::optional<asio::ssl::context> tls;
  if (target.tls) {
    tls.emplace(asio::ssl::context::tls_client);
    boost::system::error_code ec;
    tls->set_default_verify_paths(ec);
    if (ec) {
      error = "TLS: no CA certificates: " + ec.message();
      return false;
    }
    tls->set_verify_mode(asio::ssl::verify_peer);
  }
  asio::io_context io;
  error.clear();
  bool finished = false;
  asio::co_spawn(io, fetch(target, timeout, maxBytes, tls ? &*tls : nullptr, body, error),
                 [&](std::exception_ptr e) {
                   finished = true;
                   if (e && error.empty())
                     error = "fetch failed";  // (bad_alloc: nothing else throws)
                 });
  io.run();
  if (!finished && error.empty()) error = "fetch did not finish";
  return error.empty();
}

}  // namespace parley::net
