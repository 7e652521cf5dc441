#include "http/Routes.h"

#include "chat/Protocol.h"
#include "http/Metrics.h"

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

HttpReply routeRequest(std::string_view method, std::string_view path, const ServerStatus& status,
                       Metrics& metrics) {
  const bool isGet = method == "GET" || method == "HEAD";
  if (path == "/" || path == "/index.html") {
    if (!isGet) {
      metrics.reject(Rejection::MethodNotAllowed);
      return jsonError(405, "method_not_allowed", "use GET");
    }
    return {200, "text/html; charset=utf-8", std::string(web::indexHtml())};
  }
  if (path == "/healthz") {
    if (!isGet) {
      metrics.reject(Rejection::MethodNotAllowed);
      return jsonError(405, "method_not_allowed", "use GET");
    }
    HttpReply r;
    r.body = R"({"status":"ok","connections":)" + std::to_string(status.connections) +
             R"(,"rooms":)" + std::to_string(status.rooms) + R"(,"uptime_seconds":)" +
             std::to_string(status.uptimeSeconds) + "}";
    return r;
  }
  if (path == "/metrics") {
    if (!isGet) {
      metrics.reject(Rejection::MethodNotAllowed);
      return jsonError(405, "method_not_allowed", "use GET");
    }
    std::string extra = "# TYPE parley_rooms gauge\nparley_rooms " + std::to_string(status.rooms) +
                        "\n# TYPE parley_messages_sequenced_total counter\n"
                        "parley_messages_sequenced_total " +
                        std::to_string(status.messagesSequenced) + "\n";
    return {200, "text/plain; version=0.0.4", metrics.renderPrometheus(extra)};
  }
  metrics.reject(Rejection::NotFound);
  return jsonError(404, "not_found", "no such endpoint");
}

}  // namespace parley::http
