// MessageRoutes: the REST routes that change a room's messages, and the server API for the
// application's backend (docs/PROTOCOL.md, "Editing and deleting" and "Server API"):
//   DELETE /api/rooms/{room}/messages/{id}   the author (Bearer token) or the API key
//   PATCH  /api/rooms/{room}/messages/{id}   the author (Bearer token): {"content": ...}
//   POST   /api/rooms/{room}/messages        the API key: publish as a named sender
//   DELETE /api/users/{user}/connections     the API key: close the user's connections (4009)
// The API key is PARLEY_API_KEY, sent as `Authorization: ApiKey KEY` and compared in constant
// time; without one configured, the API's routes answer 404 as if they did not exist.
// Everything goes through the hub (and so the room's owner): nothing here touches the store,
// a socket or a member. Replies run on the asking shard, once.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/Routes.h"

namespace parley::metrics {
enum class Rejection : unsigned;
}

namespace parley::http {

struct HttpRequest;
struct RouterContext;

class MessageRoutes {
 public:
  using Reply = std::function<void(HttpReply)>;

  explicit MessageRoutes(RouterContext& ctx) : ctx_(ctx) {}

  // `parts`: the path's segments (parts[0] == "api"). Returns false when the path is none of
  // the routes above (the caller goes on), true when `reply` was or will be called.
  bool handle(std::size_t shard, const HttpRequest& req, const std::vector<std::string>& parts,
              Reply& reply);

 private:
  void change(std::size_t shard, const HttpRequest& req, const std::string& room,
              std::string_view idText, Reply reply);
  void publish(std::size_t shard, const HttpRequest& req, const std::string& room, Reply reply);
  void disconnect(std::size_t shard, const HttpRequest& req, const std::string& user, Reply reply);
  // The API key's check: null when the request carries the server's key, else the refusal
  // (404 when no key is configured, 401 auth_required / invalid_api_key).
  std::optional<HttpReply> refuseWithoutKey(const HttpRequest& req);
  HttpReply refuse(unsigned status, metrics::Rejection why, std::string_view code,
                   std::string_view message);

  RouterContext& ctx_;
};

// `a` and `b` are equal, in a time that depends on their lengths only (not on where they
// differ): a key guessed byte by byte learns nothing from the answer's timing.
bool constantTimeEqual(std::string_view a, std::string_view b);

}  // namespace parley::http
