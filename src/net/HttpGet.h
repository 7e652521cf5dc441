// HttpGet: one HTTP/1.1 GET of a small document (a JWKS) over Boost.Beast: http://, or https://
// through OpenSSL with the system's CA certificates (SSL_CERT_FILE / SSL_CERT_DIR honoured) and
// the host name checked. One deadline covers the whole exchange.
// Blocks its caller: for the key fetcher's thread, never a shard. Never follows a redirect
// (a key set that moved is a configuration to change, not a hop to take), never reuses a
// connection, never accepts a body past `maxBytes`.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace parley::net {

// 200 with a body: true. Anything else (a bad URL, a refused connection, a TLS failure, another
// status, the deadline): false with `error` saying which.
bool httpGet(const std::string& url, std::chrono::milliseconds timeout, std::size_t maxBytes,
             std::string& body, std::string& error);

}  // namespace parley::net
