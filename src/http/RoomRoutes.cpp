#include "http/RoomRoutes.h"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <unordered_set>
#include <utility>

#include "auth/RoomAccess.h"
#include "auth/RoomService.h"
#include "chat/Hub.h"
#include "chat/Names.h"
#include "chat/Protocol.h"
#include "metrics/Metrics.h"
#include "store/AccountStore.h"

namespace parley::http {

namespace {

using store::RoomRole;

// The JSON object of a request body, or nothing (and `reply` says why).
const boost::json::object* bodyObject(std::string_view body, boost::json::value& holder,
                                      std::optional<HttpReply>& refusal) {
  boost::system::error_code ec;
  holder = boost::json::parse(body, ec);
  if (ec) {
    refusal = jsonError(400, "invalid_json", "the body is not valid JSON");
    return nullptr;
  }
  if (!holder.is_object()) {
    refusal = jsonError(400, "bad_request", "the body must be a JSON object");
    return nullptr;
  }
  return &holder.get_object();
}

// A string member of `obj`, or nothing.
std::optional<std::string> stringMember(const boost::json::object& obj, std::string_view key) {
  const auto* v = obj.if_contains(key);
  if (!v || !v->is_string()) return std::nullopt;
  return std::string(v->get_string());
}

int roleRank(RoomRole role) {
  return role == RoomRole::Owner ? 0 : role == RoomRole::Admin ? 1 : 2;
}

}  // namespace

HttpReply RoomRoutes::refuse(unsigned status, std::string_view code, std::string_view message) {
  metrics_.reject(metrics::rejectionForCode(code));
  return jsonError(status, code, message);
}

HttpReply RoomRoutes::busy() {
  HttpReply r = jsonError(503, "rooms_busy", "too many room changes in progress: retry");
  r.retryAfterSeconds = 1;
  return r;
}

HttpReply RoomRoutes::refuseOutcome(const auth::RoomResult& result) {
  using auth::RoomOutcome;
  switch (result.outcome) {
    case RoomOutcome::RoomExists:
      return refuse(409, "room_exists", "a room of that name exists");
    case RoomOutcome::NoSuchRoom:
      return refuse(404, "room_not_found",
                    "no registered room of that name (a public room has no members to manage)");
    case RoomOutcome::NotAMember:
      return refuse(403, "not_a_member", "this room is for its members only");
    case RoomOutcome::NotAllowed:
      return refuse(403, "not_room_admin", "your role in this room does not allow that");
    case RoomOutcome::NoSuchUser:
      return refuse(404, "no_such_user", "no account has that name");
    case RoomOutcome::NoSuchMember:
      return refuse(404, "no_such_member", "that user is not a member of this room");
    case RoomOutcome::NoSuchBan:
      return refuse(404, "no_such_ban", "that user is not banned from this room");
    case RoomOutcome::UserBanned:
      return refuse(409, "user_banned", "that user is banned from this room: lift the ban first");
    case RoomOutcome::DirectRoom:
      return refuse(409, "direct_room", "a direct-message room's members cannot change");
    case RoomOutcome::OwnerFixed:
      return refuse(409, "owner_fixed",
                    "the owner cannot be removed, banned or demoted, nor leave the room");
    case RoomOutcome::Self:
      return refuse(400, "invalid_username", "that is you");
    case RoomOutcome::Ok:
    case RoomOutcome::Unavailable:
      break;
  }
  return jsonError(503, "store_unavailable", "rooms cannot be changed now: try again later");
}

void RoomRoutes::answer(std::size_t shard, auth::RoomResult result, std::function<HttpReply()> ok,
                        Reply reply) {
  // On the rooms thread: everything else waits for the shard.
  post_(shard, [this, shard, result = std::move(result), ok = std::move(ok),
                reply = std::move(reply)]() mutable {
    if (result.outcome != auth::RoomOutcome::Ok) return reply(refuseOutcome(result));
    // The access already says so: cut whoever it now refuses, on every shard (result.evict);
    // with a cluster, every change (a new member, a lifted ban too) must also reach the other
    // instances' access tables, which the owner sees to.
    if (!result.room.empty()) hub_.accessChanged(shard, result.room, result.evict);
    reply(ok());
  });
}

void RoomRoutes::create(std::size_t shard, const std::string& caller, std::string_view body,
                        Reply reply) {
  boost::json::value holder;
  std::optional<HttpReply> refusal;
  const boost::json::object* obj = bodyObject(body, holder, refusal);
  if (!obj) return reply(std::move(*refusal));
  const std::optional<std::string> room = stringMember(*obj, "room");
  const std::optional<std::string> visibility =
      obj->contains("visibility") ? stringMember(*obj, "visibility") : std::string("public");
  if (!room || !visibility)
    return reply(refuse(400, "bad_request",
                        R"(the body must be {"room": string, "visibility": "private"|"public"})"));
  std::string owner = caller;
  if (caller == auth::RoomService::kServerActor) {
    // The server API names the room's owner: an account, as a signed-in creator is.
    const std::optional<std::string> named = stringMember(*obj, "owner");
    if (!named || named->empty())
      return reply(refuse(400, "bad_request",
                          R"(with the API key the body names the room's owner: "owner": string)"));
    owner = *named;
  }
  if (const char* why = chat::roomNameError(*room)) return reply(refuse(400, "invalid_room", why));
  if (auth::RoomAccess::isDirectName(*room))
    return reply(refuse(400, "invalid_room", "names beginning with \"dm.\" are direct messages'"));
  if (*visibility != "private" && *visibility != "public")
    return reply(refuse(400, "bad_request", R"(visibility must be "private" or "public")"));
  if (!service_) return reply(busy());
  const bool isPrivate = *visibility == "private";
  // A room someone is in is in use, stored messages or not: it stays as it is.
  hub_.presence(shard, *room,
                [this, shard, caller = std::move(owner), room = *room, isPrivate,
                 reply = std::move(reply)](std::vector<std::string> users) mutable {
                  if (!users.empty())
                    return reply(refuse(409, "room_exists", "a room of that name exists"));
                  auto done = [this, shard, isPrivate, reply](auth::RoomResult result) mutable {
                    auto ok = [result, isPrivate] {
                      HttpReply r;
                      r.status = 201;
                      r.body = R"({"room":)";
                      chat::appendJsonString(r.body, result.room);
                      r.body.append(isPrivate ? R"(,"visibility":"private","owner":)"
                                              : R"(,"visibility":"public","owner":)");
                      chat::appendJsonString(r.body, result.username);
                      r.body.push_back('}');
                      return r;
                    };
                    answer(shard, std::move(result), ok, std::move(reply));
                  };
                  if (!service_->create(caller, room, isPrivate, std::move(done))) reply(busy());
                });
}

void RoomRoutes::openDirect(std::size_t shard, const std::string& caller, std::string user,
                            Reply reply) {
  std::string nfc;
  if (const char* why = chat::checkUsername(user, nfc))
    return reply(refuse(400, "invalid_username", why));
  if (!service_) return reply(busy());
  auto done = [this, shard, reply](auth::RoomResult result) mutable {
    auto ok = [result] {
      HttpReply r;
      r.body = R"({"room":)";
      chat::appendJsonString(r.body, result.room);
      r.body.append(R"(,"with":)");
      chat::appendJsonString(r.body, result.username);
      r.body.push_back('}');
      return r;
    };
    answer(shard, std::move(result), ok, std::move(reply));
  };
  if (!service_->openDirect(caller, std::move(nfc), std::move(done))) reply(busy());
}

void RoomRoutes::manage(std::size_t shard, std::string_view method, const std::string& caller,
                        const std::string& room, std::string_view what, const std::string& user,
                        std::string_view body, Reply reply) {
  const bool bans = what == "bans";
  if (user.empty() && method == "GET") {
    const std::optional<store::RegisteredRoom> reg = access_.find(room);
    if (!reg) {
      // A direct-message name says the same whether the pair has a room or not.
      if (auth::RoomAccess::isDirectName(room))
        return reply(refuse(403, "not_a_member", "this room is for its members only"));
      if (bans)
        return reply(refuse(404, "room_not_found",
                            "no registered room of that name (a public room has no bans)"));
      // A public room nobody registered: open to all, managed by nobody. Said plainly (not an
      // error: a client asks this of every room it shows).
      HttpReply r;
      r.body = R"({"room":)";
      chat::appendJsonString(r.body, room);
      r.body.append(R"(,"visibility":"public","registered":false,"members":[]})");
      return reply(std::move(r));
    }
    if (const auto verdict = caller == auth::RoomService::kServerActor
                                 ? auth::RoomVerdict::Allowed
                                 : access_.admit(room, caller);
        verdict != auth::RoomVerdict::Allowed)
      return reply(refuse(403, auth::verdictCode(verdict),
                          verdict == auth::RoomVerdict::Banned
                              ? "you are banned from this room"
                              : "this room is for its members only"));
    HttpReply r;
    r.body = R"({"room":)";
    chat::appendJsonString(r.body, room);
    r.body.append(reg->isPrivate ? R"(,"visibility":"private","registered":true)"
                                 : R"(,"visibility":"public","registered":true)");
    if (reg->direct) r.body.append(R"(,"direct":true)");
    if (bans) {
      const auto role = access_.roleOf(room, caller);
      if (!role || *role == RoomRole::Member)
        return reply(refuse(403, "not_room_admin", "only the owner and admins see the bans"));
      r.body.append(R"(,"bans":[)");
      for (std::size_t i = 0; i < reg->bans.size(); ++i) {
        if (i) r.body.push_back(',');
        r.body.append(R"({"username":)");
        chat::appendJsonString(r.body, reg->bans[i].username);
        r.body.append(R"(,"banned_at":")");
        chat::appendTimestamp(r.body, reg->bans[i].createdMillis);
        r.body.append(R"("})");
      }
    } else {
      std::vector<store::RoomGrant> members = reg->members;
      std::sort(members.begin(), members.end(), [](const auto& a, const auto& b) {
        return std::pair(roleRank(a.role), a.username) < std::pair(roleRank(b.role), b.username);
      });
      r.body.append(R"(,"members":[)");
      for (std::size_t i = 0; i < members.size(); ++i) {
        if (i) r.body.push_back(',');
        r.body.append(R"({"username":)");
        chat::appendJsonString(r.body, members[i].username);
        r.body.append(R"(,"role":")");
        r.body.append(store::roomRoleName(members[i].role));
        r.body.append(R"("})");
      }
    }
    r.body.append("]}");
    return reply(std::move(r));
  }
  if (caller.empty())
    return reply(refuse(401, "auth_required", "sign in: Authorization: Bearer TOKEN"));
  if (!service_) return reply(busy());

  std::string target;
  RoomRole role = RoomRole::Member;
  if (method == "POST" && user.empty()) {
    boost::json::value holder;
    std::optional<HttpReply> refusal;
    const boost::json::object* obj = bodyObject(body, holder, refusal);
    if (!obj) return reply(std::move(*refusal));
    const std::optional<std::string> name = stringMember(*obj, "username");
    if (!name)
      return reply(
          refuse(400, "bad_request",
                 bans ? R"(the body must be {"username": string})"
                      : R"(the body must be {"username": string, "role": "member"|"admin"})"));
    if (!bans && obj->contains("role")) {
      const std::optional<std::string> roleName = stringMember(*obj, "role");
      const auto parsed = roleName ? store::parseRoomRole(*roleName) : std::nullopt;
      if (!parsed || *parsed == RoomRole::Owner)
        return reply(refuse(400, "invalid_role", R"(role must be "member" or "admin")"));
      role = *parsed;
    }
    target = *name;
  } else if (method == "DELETE" && !user.empty()) {
    target = user;
  } else {
    metrics_.reject(metrics::Rejection::MethodNotAllowed);
    return reply(methodNotAllowed(user.empty() ? "GET, POST" : "DELETE"));
  }
  std::string nfc;
  if (const char* why = chat::checkUsername(target, nfc))
    return reply(refuse(400, "invalid_username", why));

  auto done = [this, shard, bans, adding = method == "POST",
               reply](auth::RoomResult result) mutable {
    auto ok = [result, bans, adding] {
      HttpReply r;
      r.body = R"({"room":)";
      chat::appendJsonString(r.body, result.room);
      r.body.append(R"(,"username":)");
      chat::appendJsonString(r.body, result.username);
      if (bans)
        r.body.append(adding ? R"(,"banned":true})" : R"(,"banned":false})");
      else if (adding)
        r.body.append(std::string(R"(,"role":")") + std::string(store::roomRoleName(result.role)) +
                      R"("})");
      else
        r.body.append(R"(,"removed":true})");
      return r;
    };
    answer(shard, std::move(result), ok, std::move(reply));
  };
  bool queued;
  if (bans)
    queued = method == "POST" ? service_->ban(caller, room, std::move(nfc), std::move(done))
                              : service_->unban(caller, room, std::move(nfc), std::move(done));
  else
    queued = method == "POST"
                 ? service_->addMember(caller, room, std::move(nfc), role, std::move(done))
                 : service_->removeMember(caller, room, std::move(nfc), std::move(done));
  if (!queued) reply(busy());
}

std::vector<chat::RoomInfo> RoomRoutes::visibleRooms(const std::string& caller,
                                                     std::vector<chat::RoomInfo> rooms) const {
  if (access_.size() == 0) return rooms;  // nothing registered: every room is public
  std::vector<chat::RoomInfo> out;
  out.reserve(rooms.size());
  std::unordered_set<std::string> listed;
  for (chat::RoomInfo& info : rooms) {
    if (access_.admit(info.room, caller) != auth::RoomVerdict::Allowed) continue;
    listed.insert(info.room);
    out.push_back(std::move(info));
  }
  if (!caller.empty())
    for (std::string& room : access_.privateRoomsOf(caller))
      if (!listed.contains(room)) out.push_back({std::move(room), 0, 0, false, {}});
  const std::string me = caller.empty() ? std::string() : store::accountKey(caller);
  for (chat::RoomInfo& info : out) {
    const std::optional<store::RegisteredRoom> reg = access_.find(info.room);
    if (!reg || !reg->isPrivate) continue;
    info.isPrivate = true;
    if (reg->direct)
      for (const store::RoomGrant& g : reg->members)
        if (g.userKey != me) info.with = g.username;
  }
  return out;
}

}  // namespace parley::http
