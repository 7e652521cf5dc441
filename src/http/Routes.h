// Routes: the plain HTTP endpoints (/, /healthz, /metrics) as functions from request to reply.
// Knows nothing of sockets or Beast: net/HttpSession puts the reply on the wire.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chat/Hub.h"

namespace parley::metrics {
class Metrics;
}

namespace parley::http {

struct HttpReply {
  unsigned status = 200;
  std::string_view contentType = "application/json";
  std::string body;
  std::int64_t retryAfterSeconds = 0;  // > 0: a Retry-After header (429)
  std::string_view allow;              // 405: the methods the resource takes (an Allow header)
  // The page: its Content-Security-Policy (frame-ancestors 'none' among it) and X-Frame-Options.
  std::string_view contentSecurityPolicy;
};

// {"error":"method_not_allowed",...} 405 with its Allow header, counted by the caller.
HttpReply methodNotAllowed(std::string_view allow);

// The Content-Security-Policy of `html`: nothing but its own inline scripts and styles, by their
// SHA-256 (CSP Level 2 hash sources), connections to this origin only, never framed.
std::string pageSecurityPolicy(std::string_view html);

// This instance's view of its cluster (--cluster), for /healthz.
struct ClusterHealth {
  std::string instanceId;
  bool redisUp = false;
  bool redisCluster = false;      // a Redis Cluster, not a single Redis
  std::vector<std::string> live;  // instances whose heartbeat is fresh
  std::size_t bucketsHeld = 0;
  std::size_t buckets = 0;
};

struct ServerStatus {
  std::int64_t connections = 0;    // WebSockets
  std::size_t tcpConnections = 0;  // every TCP connection, from accept (HTTP phase too)
  std::size_t rooms = 0;
  std::int64_t uptimeSeconds = 0;
  std::uint64_t messagesSequenced = 0;
  std::string_view storeKind = "none";
  bool storeOk = true;
  std::string storeError;
  std::size_t storeWaiting = 0;  // durable, not yet in the database (SQLite's inbox)
  std::string storeIngestError;  // why moving them there failed last ("" when it did not)
  std::uint64_t storeRefusals = 0;
  std::uint64_t duplicatesSuppressed = 0;
  std::uint64_t catchUpMarkers = 0;
  std::uint64_t catchUpReads = 0;
  std::optional<ClusterHealth> cluster;  // with --cluster
  std::string clusterMetrics;            // Prometheus lines, with --cluster
};

// {"error":code,"message":message} with `status`, counted as a rejection by the caller.
HttpReply jsonError(unsigned status, std::string_view code, std::string_view message);

// REST bodies (docs/PROTOCOL.md, "HTTP endpoints").
HttpReply roomsReply(bool complete, const std::vector<chat::Hub::RoomInfo>& rooms);
HttpReply presenceReply(std::string_view room, const std::vector<std::string>& users);
HttpReply historyReply(const chat::HistoryPage& page);  // 503 store_unavailable when !page.ok

// Parses a non-negative decimal integer (no sign, no spaces, fits in 64 bits).
std::optional<std::uint64_t> parseUnsigned(std::string_view s);

// Routes a request that is not a WebSocket upgrade. `path` is the target without its query.
HttpReply routeRequest(std::string_view method, std::string_view path, const ServerStatus& status,
                       metrics::Metrics& metrics);

}  // namespace parley::http

namespace parley::web {
std::string_view indexHtml();  // web/index.html, compiled in
}
