#include "http/MessageRoutes.h"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <memory>
#include <utility>

#include "auth/TokenService.h"
#include "chat/Conversation.h"
#include "chat/Hub.h"
#include "chat/Names.h"
#include "chat/Protocol.h"
#include "chat/TokenRefusal.h"
#include "http/RequestToken.h"
#include "http/Router.h"
#include "metrics/Metrics.h"

namespace parley::http {

namespace {

constexpr std::string_view kApiKeyScheme = "ApiKey ";

// A JSON object body, or the refusal.
std::optional<boost::json::object> objectBody(std::string_view body, std::string_view& code) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(body, ec);
  if (ec) {
    code = "invalid_json";
    return std::nullopt;
  }
  if (auto* obj = v.if_object()) return std::move(*obj);
  code = "invalid_message";
  return std::nullopt;
}

// The string member `key` (`present`: it is there and a string).
std::string_view stringMember(const boost::json::object& obj, const char* key, bool& present) {
  const auto* v = obj.if_contains(key);
  const auto* s = v ? v->if_string() : nullptr;
  present = s != nullptr;
  return s ? std::string_view(s->data(), s->size()) : std::string_view();
}

}  // namespace

bool constantTimeEqual(std::string_view a, std::string_view b) {
  // Every byte of the longer is looked at, and the lengths are folded into the result.
  const std::size_t n = a.size() > b.size() ? a.size() : b.size();
  volatile unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff = static_cast<unsigned char>(diff | (x ^ y));
  }
  return diff == 0;
}

HttpReply MessageRoutes::refuse(unsigned status, metrics::Rejection why, std::string_view code,
                                std::string_view message) {
  ctx_.metrics.reject(why);
  return jsonError(status, code, message);
}

std::optional<HttpReply> MessageRoutes::refuseWithoutKey(const HttpRequest& req) {
  if (ctx_.apiKey.empty())
    return refuse(404, metrics::Rejection::NotFound, "not_found", "no such endpoint");
  if (!req.authorization.starts_with(kApiKeyScheme))
    return refuse(401, metrics::Rejection::AuthRequired, "auth_required",
                  "the server API needs Authorization: ApiKey KEY");
  if (!constantTimeEqual(req.authorization.substr(kApiKeyScheme.size()), ctx_.apiKey))
    return refuse(401, metrics::Rejection::InvalidApiKey, "invalid_api_key",
                  "the API key is not this server's");
  return std::nullopt;
}

bool MessageRoutes::handle(std::size_t shard, const HttpRequest& req,
                           const std::vector<std::string>& parts, Reply& reply) {
  const bool messages = parts.size() >= 4 && parts[1] == "rooms" && parts[3] == "messages";
  if (messages && parts.size() == 5) {
    if (req.method != "DELETE" && req.method != "PATCH") {
      reply(refuse(405, metrics::Rejection::MethodNotAllowed, "method_not_allowed",
                   "use DELETE or PATCH"));
      return true;
    }
    change(shard, req, parts[2], parts[4], std::move(reply));
    return true;
  }
  if (messages && parts.size() == 4 && req.method == "POST") {
    publish(shard, req, parts[2], std::move(reply));
    return true;
  }
  if (parts.size() == 4 && parts[1] == "users" && parts[3] == "connections") {
    if (auto no = refuseWithoutKey(req)) {
      reply(std::move(*no));
      return true;
    }
    if (req.method != "DELETE") {
      HttpReply r = methodNotAllowed("DELETE");
      ctx_.metrics.reject(metrics::Rejection::MethodNotAllowed);
      reply(std::move(r));
      return true;
    }
    disconnect(shard, req, parts[2], std::move(reply));
    return true;
  }
  return false;
}

void MessageRoutes::change(std::size_t shard, const HttpRequest& req, const std::string& room,
                           std::string_view idText, Reply reply) {
  // Who asks: the server's key (a moderator of every room), or a signed-in user (an author).
  chat::Actor actor;
  if (req.authorization.starts_with(kApiKeyScheme)) {
    if (auto no = refuseWithoutKey(req)) return reply(std::move(*no));
    actor.serverKey = true;
  } else {
    const std::string_view token = bearerToken(req.authorization);
    if (token.empty())
      return reply(refuse(401, metrics::Rejection::AuthRequired, "auth_required",
                          "sign in to edit or delete: Authorization: Bearer TOKEN"));
    const auth::TokenCheck check = ctx_.tokens.verify(token, ctx_.unixMillis() / 1000);
    if (auto no = chat::tokenRefusal(check))
      return reply(refuse(401, no->why, no->code, no->message));
    actor.username = check.username;
    actor.signedIn = true;
  }
  if (const char* why = chat::roomNameError(room))
    return reply(refuse(400, metrics::Rejection::InvalidRoom, "invalid_room", why));
  const auto id = parseUnsigned(idText);
  if (!id || *id == 0)
    return reply(refuse(400, metrics::Rejection::BadRequest, "invalid_parameter",
                        "the message id must be a positive integer"));
  chat::MessageEdit edit;
  edit.id = *id;
  edit.actor = std::move(actor);
  if (req.method == "PATCH") {
    edit.kind = chat::MessageEdit::Kind::Edit;
    std::string_view code;
    auto body = objectBody(req.body, code);
    if (!body)
      return reply(refuse(400, metrics::rejectionForCode(code), code,
                          "the body must be a JSON object {\"content\": string}"));
    bool present = false;
    const std::string_view content = stringMember(*body, "content", present);
    if (!present)
      return reply(refuse(400, metrics::Rejection::InvalidMessage, "invalid_message",
                          "the body must be a JSON object {\"content\": string}"));
    if (const char* why = chat::contentProblem(content, ctx_.limits, code))
      return reply(refuse(400, metrics::rejectionForCode(code), code, why));
    edit.content.assign(content);
  }
  ctx_.hub.change(shard, room, std::move(edit),
                  [this, reply = std::move(reply), id = *id](chat::EditOutcome outcome) {
                    if (outcome == chat::EditOutcome::Applied) {
                      HttpReply r;
                      r.body = R"({"id":)" + std::to_string(id) + "}";
                      return reply(std::move(r));
                    }
                    const auto [why, code, message] = chat::editRefusal(outcome);
                    if (why) ctx_.metrics.reject(*why);
                    const unsigned status = outcome == chat::EditOutcome::NotFound     ? 404
                                            : outcome == chat::EditOutcome::NotAllowed ? 403
                                            : outcome == chat::EditOutcome::NoStore    ? 501
                                                                                       : 503;
                    reply(jsonError(status, code, message));
                  });
}

void MessageRoutes::publish(std::size_t shard, const HttpRequest& req, const std::string& room,
                            Reply reply) {
  if (auto no = refuseWithoutKey(req)) return reply(std::move(*no));
  if (const char* why = chat::roomNameError(room))
    return reply(refuse(400, metrics::Rejection::InvalidRoom, "invalid_room", why));
  std::string_view code;
  auto body = objectBody(req.body, code);
  constexpr std::string_view kShape =
      R"(the body must be a JSON object {"username": string, "content": string, "client_id": string (optional)})";
  if (!body) return reply(refuse(400, metrics::rejectionForCode(code), code, kShape));
  bool hasName = false, hasContent = false, hasClientId = false;
  const std::string_view name = stringMember(*body, "username", hasName);
  const std::string_view content = stringMember(*body, "content", hasContent);
  const std::string_view clientId = stringMember(*body, "client_id", hasClientId);
  if (!hasName || !hasContent || (body->contains("client_id") && !hasClientId))
    return reply(refuse(400, metrics::Rejection::InvalidMessage, "invalid_message", kShape));
  chat::Publish p;
  if (const char* why = chat::checkUsername(name, p.username))
    return reply(refuse(400, metrics::Rejection::InvalidUsername, "invalid_username", why));
  if (const char* why = chat::contentProblem(content, ctx_.limits, code))
    return reply(refuse(400, metrics::rejectionForCode(code), code, why));
  if (hasClientId && !chat::validClientId(clientId))
    return reply(refuse(400, metrics::Rejection::InvalidClientId, "invalid_client_id",
                        "\"client_id\" must be a string of 1 to 64 characters"));
  p.content.assign(content);
  p.clientId.assign(clientId);
  // Not signed in: the name is the application's word, not a proven account, so no user can
  // edit or delete it as its author (the API key can delete it).
  p.signedIn = false;
  p.done = [reply = std::move(reply)](chat::PublishResult result) {
    using Outcome = chat::PublishResult::Outcome;
    if (result.outcome == Outcome::StoreUnavailable)
      return reply(jsonError(503, "store_unavailable",
                             "the message could not be stored and was not delivered; send it "
                             "again"));
    HttpReply r;
    const bool duplicate = result.outcome == Outcome::Duplicate;
    r.status = duplicate ? 200 : 201;
    r.body = R"({"id":)" + std::to_string(result.id) + (duplicate ? R"(,"duplicate":true})" : "}");
    reply(std::move(r));
  };
  ctx_.hub.publish(shard, room, std::move(p));
}

void MessageRoutes::disconnect(std::size_t shard, const HttpRequest&, const std::string& user,
                               Reply reply) {
  std::string name;
  if (const char* why = chat::checkUsername(user, name))
    return reply(refuse(400, metrics::Rejection::InvalidUsername, "invalid_username", why));
  ctx_.disconnectUser(shard, name, [reply = std::move(reply), name](std::size_t closed) {
    HttpReply r;
    r.body = R"({"username":)";
    chat::appendJsonString(r.body, name);
    r.body += R"(,"closed":)" + std::to_string(closed) + "}";
    reply(std::move(r));
  });
}

}  // namespace parley::http
