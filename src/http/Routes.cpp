#include "http/Routes.h"

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
                  std::to_string(rooms[i].lastId) + "}");
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
      return jsonError(405, "method_not_allowed", "use GET");
    }
    return {200, "text/html; charset=utf-8", std::string(web::indexHtml())};
  }
  if (path == "/healthz") {
    if (!isGet) {
      metrics.reject(metrics::Rejection::MethodNotAllowed);
      return jsonError(405, "method_not_allowed", "use GET");
    }
    // A store that refuses writes makes this instance unable to accept messages: 503, so a
    // load balancer sends users elsewhere until it recovers. One that keeps them durable but
    // cannot move them into its database ("lagging") still accepts them: 200, and a reason.
    const bool lagging = !status.storeIngestError.empty();
    HttpReply r;
    r.status = status.storeOk ? 200 : 503;
    r.body = R"({"status":)";
    r.body.append(!status.storeOk ? R"("degraded")" : lagging ? R"("lagging")" : R"("ok")");
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
    r.body.append("}}");
    return r;
  }
  if (path == "/metrics") {
    if (!isGet) {
      metrics.reject(metrics::Rejection::MethodNotAllowed);
      return jsonError(405, "method_not_allowed", "use GET");
    }
    std::string extra = "# TYPE parley_rooms gauge\nparley_rooms " + std::to_string(status.rooms) +
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
                        "# TYPE parley_store_up gauge\nparley_store_up " +
                        (status.storeOk ? "1" : "0") + "\n" +
                        "# HELP parley_store_waiting_messages Messages durable in the store's "
                        "log, not yet in its database (SQLite's inbox).\n"
                        "# TYPE parley_store_waiting_messages gauge\n"
                        "parley_store_waiting_messages " +
                        std::to_string(status.storeWaiting) + "\n" +
                        "# TYPE parley_store_lagging gauge\nparley_store_lagging " +
                        (status.storeIngestError.empty() ? "0" : "1") + "\n";
    return {200, "text/plain; version=0.0.4", metrics.renderPrometheus(extra)};
  }
  metrics.reject(metrics::Rejection::NotFound);
  return jsonError(404, "not_found", "no such endpoint");
}

}  // namespace parley::http
