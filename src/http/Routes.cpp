#include "http/Routes.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "chat/Protocol.h"
#include "metrics/Metrics.h"

namespace parley::http {

HttpReply jsonError(unsigned status, std::string_view code, std::string_view message) {
  HttpReply r;
  r.status = status;
  r.body = R"({"error":)";
  chat::appendJsonString(r.body, code);
  r.body.append(R"(,"message":)");
  chat::appendJsonString(r.body, message);
  r.body.push_back('}');
  return r;
}

HttpReply roomsReply(bool complete, const std::vector<chat::Hub::RoomInfo>& rooms) {
  HttpReply r;
  r.body = R"({"rooms":[)";
  for (std::size_t i = 0; i < rooms.size(); ++i) {
    if (i) r.body.push_back(',');
    r.body.append(R"({"room":)");
    chat::appendJsonString(r.body, rooms[i].room);
    r.body.append(R"(,"members":)" + std::to_string(rooms[i].members) + R"(,"last_id":)" +
                  std::to_string(rooms[i].lastId));
    if (rooms[i].isPrivate) r.body.append(R"(,"visibility":"private")");
    if (!rooms[i].with.empty()) {
      r.body.append(R"(,"direct":true,"with":)");
      chat::appendJsonString(r.body, rooms[i].with);
    }
    r.body.push_back('}');
  }
  r.body.append(complete ? R"(],"complete":true})" : R"(],"complete":false})");
  return r;
}

HttpReply presenceReply(std::string_view room, const std::vector<std::string>& users) {
  HttpReply r;
  r.body = R"({"room":)";
  chat::appendJsonString(r.body, room);
  r.body.append(R"(,"users":[)");
  for (std::size_t i = 0; i < users.size(); ++i) {
    if (i) r.body.push_back(',');
    chat::appendJsonString(r.body, users[i]);
  }
  r.body.append(R"(],"count":)" + std::to_string(users.size()) + "}");
  return r;
}

HttpReply historyReply(const chat::HistoryPage& page) {
  if (!page.ok) return jsonError(503, "store_unavailable", page.error);
  HttpReply r;
  r.body =
      R"({"messages":)" + page.json + R"(,"has_more":)" + (page.hasMore ? "true" : "false") + "}";
  return r;
}

HttpReply methodNotAllowed(std::string_view allow) {
  HttpReply r = jsonError(405, "method_not_allowed", "use " + std::string(allow));
  r.allow = allow;
  return r;
}

namespace {

// base64(SHA-256(text)), as a CSP hash source wants it.
std::string sha256Source(std::string_view text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  unsigned char out[64];
  const int n = EVP_EncodeBlock(out, digest, SHA256_DIGEST_LENGTH);
  // append(), not operator+ on temporaries: g++ 12 warns falsely on that (-Wrestrict, GCC bug
  // 105329) at -O2.
  std::string source = "'sha256-";
  source.append(reinterpret_cast<char*>(out), static_cast<std::size_t>(n));
  source.push_back('\'');
  return source;
}

// The hash sources of every inline <tag>...</tag> in `html` (a tag with a src= loads a file
// instead: none in the embedded page, and 'self' would not cover one anyway).
std::string inlineSources(std::string_view html, std::string_view tag) {
  std::string sources;
  std::string open = "<";
  open.append(tag);
  std::string close = "</";
  close.append(tag);
  close.push_back('>');
  for (std::size_t at = html.find(open); at != std::string_view::npos; at = html.find(open, at)) {
    const std::size_t bodyStart = html.find('>', at);
    if (bodyStart == std::string_view::npos) break;
    const std::size_t bodyEnd = html.find(close, bodyStart);
    if (bodyEnd == std::string_view::npos) break;
    sources.push_back(' ');
    sources.append(sha256Source(html.substr(bodyStart + 1, bodyEnd - bodyStart - 1)));
    at = bodyEnd + close.size();
  }
  return sources;
}

}  // namespace

std::string pageSecurityPolicy(std::string_view html) {
  const std::string scripts = inlineSources(html, "script");
  const std::string styles = inlineSources(html, "style");
  std::string policy = "default-src 'none'; script-src";
  policy.append(scripts.empty() ? std::string_view(" 'none'") : std::string_view(scripts));
  policy.append("; style-src");
  policy.append(styles.empty() ? std::string_view(" 'none'") : std::string_view(styles));
  policy.append(
      "; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
      "frame-ancestors 'none'");
  return policy;
}

std::optional<std::uint64_t> parseUnsigned(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

HttpReply routeRequest(std::string_view method, std::string_view path, const ServerStatus& status,
                       metrics::Metrics& metrics) {
  const bool isGet = method == "GET" || method == "HEAD";
  if (path == "/" || path == "/index.html") {
    if (!isGet) {
      metrics.reject(metrics::Rejection::MethodNotAllowed);
      return methodNotAllowed("GET, HEAD");
    }
    // Computed once: the page is compiled in.
    static const std::string policy = pageSecurityPolicy(web::indexHtml());
    HttpReply page;
    page.contentType = "text/html; charset=utf-8";
    page.body = std::string(web::indexHtml());
    page.contentSecurityPolicy = policy;
    return page;
  }
  if (path == "/healthz") {
    if (!isGet) {
      metrics.reject(metrics::Rejection::MethodNotAllowed);
      return methodNotAllowed("GET, HEAD");
    }
    // A store that refuses writes makes this instance unable to accept messages: 503, so a
    // load balancer sends users elsewhere until it recovers. One that keeps them durable but
    // cannot move them into its database ("lagging") still accepts them: 200, and a reason.
    // A cluster instance cut off from Redis can neither own rooms nor reach their owners: 503.
    const bool lagging = !status.storeIngestError.empty();
    const bool healthy = status.storeOk && (!status.cluster || status.cluster->redisUp);
    HttpReply r;
    r.status = healthy ? 200 : 503;
    r.body = R"({"status":)";
    r.body.append(!healthy ? R"("degraded")" : lagging ? R"("lagging")" : R"("ok")");
    r.body.append(R"(,"connections":)" + std::to_string(status.connections) + R"(,"rooms":)" +
                  std::to_string(status.rooms) + R"(,"uptime_seconds":)" +
                  std::to_string(status.uptimeSeconds) + R"(,"store":{"kind":)");
    chat::appendJsonString(r.body, status.storeKind);
    r.body.append(R"(,"ok":)");
    r.body.append(status.storeOk ? "true" : "false");
    if (!status.storeOk) {
      r.body.append(R"(,"error":)");
      chat::appendJsonString(r.body, status.storeError);
    }
    if (status.storeKind != "none")
      r.body.append(R"(,"waiting":)" + std::to_string(status.storeWaiting));
    if (lagging) {
      r.body.append(R"(,"ingest_error":)");
      chat::appendJsonString(r.body, status.storeIngestError);
    }
    r.body.append("}");
    if (const auto& c = status.cluster) {
      r.body.append(R"(,"cluster":{"instance":)");
      chat::appendJsonString(r.body, c->instanceId);
      r.body.append(R"(,"redis":)");
      r.body.append(c->redisUp ? R"("up")" : R"("down")");
      r.body.append(R"(,"redis_mode":)");
      r.body.append(c->redisCluster ? R"("cluster")" : R"("standalone")");
      r.body.append(R"(,"instances":[)");
      for (std::size_t i = 0; i < c->live.size(); ++i) {
        if (i) r.body.push_back(',');
        chat::appendJsonString(r.body, c->live[i]);
      }
      r.body.append(R"(],"buckets_held":)" + std::to_string(c->bucketsHeld) + R"(,"buckets":)" +
                    std::to_string(c->buckets) + "}");
    }
    r.body.append("}");
    return r;
  }
  if (path == "/metrics") {
    if (!isGet) {
      metrics.reject(metrics::Rejection::MethodNotAllowed);
      return methodNotAllowed("GET, HEAD");
    }
    std::string extra =
        "# HELP parley_tcp_connections Open TCP connections, HTTP phase and "
        "WebSocket (what --max-connections bounds).\n"
        "# TYPE parley_tcp_connections gauge\nparley_tcp_connections " +
        std::to_string(status.tcpConnections) + "\n" + "# TYPE parley_rooms gauge\nparley_rooms " +
        std::to_string(status.rooms) +
        "\n# TYPE parley_messages_sequenced_total counter\n"
        "parley_messages_sequenced_total " +
        std::to_string(status.messagesSequenced) + "\n" +
        "# HELP parley_store_refusals_total Messages refused because the store "
        "could not take them.\n# TYPE parley_store_refusals_total counter\n"
        "parley_store_refusals_total " +
        std::to_string(status.storeRefusals) + "\n" +
        "# HELP parley_duplicates_suppressed_total Retries (same client_id) not "
        "stored again.\n# TYPE parley_duplicates_suppressed_total counter\n"
        "parley_duplicates_suppressed_total " +
        std::to_string(status.duplicatesSuppressed) + "\n" +
        "# HELP parley_catchup_markers_total Joins whose history seam was asked "
        "of the store writer (the others: known to the room's shard).\n"
        "# TYPE parley_catchup_markers_total counter\n"
        "parley_catchup_markers_total " +
        std::to_string(status.catchUpMarkers) + "\n" +
        "# HELP parley_catchup_reads_total Joins and resumes that read history "
        "from the store (the others had nothing to read).\n"
        "# TYPE parley_catchup_reads_total counter\n"
        "parley_catchup_reads_total " +
        std::to_string(status.catchUpReads) + "\n" +
        "# TYPE parley_store_up gauge\nparley_store_up " + (status.storeOk ? "1" : "0") + "\n" +
        "# HELP parley_store_waiting_messages Messages durable in the store's "
        "log, not yet in its database (SQLite's inbox).\n"
        "# TYPE parley_store_waiting_messages gauge\n"
        "parley_store_waiting_messages " +
        std::to_string(status.storeWaiting) + "\n" +
        "# TYPE parley_store_lagging gauge\nparley_store_lagging " +
        (status.storeIngestError.empty() ? "0" : "1") + "\n" + status.clusterMetrics;
    HttpReply r;
    r.contentType = "text/plain; version=0.0.4";
    r.body = metrics.renderPrometheus(extra);
    return r;
  }
  metrics.reject(metrics::Rejection::NotFound);
  return jsonError(404, "not_found", "no such endpoint");
}

}  // namespace parley::http
