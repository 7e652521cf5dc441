// RoomRoutes: the REST API of registered rooms (docs/PROTOCOL.md, "Private rooms and direct
// messages"): POST /api/rooms, the members and bans of a room (GET, POST, DELETE), POST
// /api/dm/{user}, and who sees which room in GET /api/rooms. Reads are answered on the shard
// from auth/RoomAccess; changes go to the rooms thread (auth/RoomService), whose answer comes
// back to the asking shard, and a change that may refuse connections already in the room is
// followed by the room owner's eviction (chat::Hub::accessChanged). Knows nothing of sockets.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/Routes.h"

namespace parley::auth {
class RoomAccess;
class RoomService;
struct RoomResult;
}  // namespace parley::auth
namespace parley::chat {
class Hub;
}
namespace parley::metrics {
class Metrics;
}

namespace parley::http {

class RoomRoutes {
 public:
  using Reply = std::function<void(HttpReply)>;
  using PostFn = std::function<void(std::size_t shard, std::function<void()> task)>;

  // `service` null: the rooms cannot be changed (no rooms thread): every change answers 503.
  RoomRoutes(chat::Hub& hub, const auth::RoomAccess& access, auth::RoomService* service,
             metrics::Metrics& metrics, PostFn post)
      : hub_(hub), access_(access), service_(service), metrics_(metrics), post_(std::move(post)) {}

  // POST /api/rooms. `caller`: the signed-in name.
  void create(std::size_t shard, const std::string& caller, std::string_view body, Reply reply);
  // POST /api/dm/{user}.
  void openDirect(std::size_t shard, const std::string& caller, std::string user, Reply reply);
  // /api/rooms/{room}/members[/{user}] and /api/rooms/{room}/bans[/{user}]: `what` is "members"
  // or "bans", `user` the path's user (empty for the collection). `caller` empty: no token (GET
  // on a public room only).
  void manage(std::size_t shard, std::string_view method, const std::string& caller,
              const std::string& room, std::string_view what, const std::string& user,
              std::string_view body, Reply reply);
  // GET /api/rooms for `caller` (empty: no token): private rooms only for their members, none
  // a ban refuses; the caller's private rooms without traffic are added (members 0, last_id 0).
  std::vector<chat::RoomInfo> visibleRooms(const std::string& caller,
                                           std::vector<chat::RoomInfo> rooms) const;

 private:
  // The rooms thread's answer, as an HTTP reply, on `shard`; evicts when the change says so.
  void answer(std::size_t shard, auth::RoomResult result, std::function<HttpReply()> ok,
              Reply reply);
  HttpReply refuse(unsigned status, std::string_view code, std::string_view message);
  HttpReply busy();
  HttpReply refuseOutcome(const auth::RoomResult& result);

  chat::Hub& hub_;
  const auth::RoomAccess& access_;
  auth::RoomService* service_;
  metrics::Metrics& metrics_;
  PostFn post_;
};

}  // namespace parley::http
