#include "http/AuthRoutes.h"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "auth/AuthService.h"
#include "chat/Names.h"
#include "chat/Protocol.h"
#include "metrics/Metrics.h"
#include "store/AccountStore.h"

namespace parley::http {

std::variant<Credentials, HttpReply> parseCredentials(std::string_view body,
                                                      metrics::Rejection& why) {
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(body, ec);
  if (ec) {
    why = metrics::Rejection::InvalidJson;
    return jsonError(400, "invalid_json", "the body is not valid JSON");
  }
  const auto* obj = v.if_object();
  const auto* name = obj ? obj->if_contains("username") : nullptr;
  const auto* password = obj ? obj->if_contains("password") : nullptr;
  if (!name || !name->is_string() || !password || !password->is_string()) {
    why = metrics::Rejection::BadRequest;
    return jsonError(400, "bad_request",
                     "the body must be {\"username\": string, \"password\": string}");
  }
  Credentials c{{}, std::string(password->get_string())};
  const boost::json::string& sent = name->get_string();
  if (const char* problem = chat::checkUsername({sent.data(), sent.size()}, c.username)) {
    why = metrics::Rejection::InvalidUsername;
    return jsonError(400, "invalid_username", problem);
  }
  // The name a connection without ?username= gets: an account of that name (or of one that
  // looks like it) would be impersonated by every such client.
  static const std::string anonymous = store::accountKey("anonymous");
  if (store::accountKey(c.username) == anonymous) {
    why = metrics::Rejection::InvalidUsername;
    return jsonError(400, "invalid_username",
                     "\"anonymous\" (or a name that looks like it) is reserved");
  }
  if (c.password.size() < kMinPasswordBytes || c.password.size() > kMaxPasswordBytes) {
    why = metrics::Rejection::InvalidPassword;
    return jsonError(400, "invalid_password", "password must be 8 to 1024 bytes");
  }
  return c;
}

HttpReply authReply(const auth::AuthResult& result, bool registering, metrics::Rejection& why,
                    bool& rejected) {
  rejected = false;
  switch (result.outcome) {
    case auth::AuthOutcome::Ok: {
      HttpReply r;
      r.status = registering ? 201 : 200;
      r.body = R"({"username":)";
      chat::appendJsonString(r.body, result.username);
      r.body.append(R"(,"token":)");
      chat::appendJsonString(r.body, result.token);
      r.body.append(R"(,"expires_at":")");
      chat::appendTimestamp(r.body, result.expiresAt * 1000);
      r.body.append(R"("})");
      return r;
    }
    case auth::AuthOutcome::UsernameTaken:
      rejected = true;
      why = metrics::Rejection::UsernameTaken;
      return jsonError(409, "username_taken", "that name has an account");
    case auth::AuthOutcome::InvalidCredentials:
      rejected = true;
      why = metrics::Rejection::InvalidCredentials;
      return jsonError(401, "invalid_credentials", "wrong username or password");
    case auth::AuthOutcome::TooManyFailures: {
      rejected = true;
      why = metrics::Rejection::TooManyAttempts;
      HttpReply r = jsonError(429, "too_many_attempts",
                              "too many wrong passwords for this name lately: wait and retry");
      r.retryAfterSeconds = result.retryAfter;
      return r;
    }
    case auth::AuthOutcome::Unavailable:
      break;
  }
  return jsonError(503, "store_unavailable", "accounts cannot be reached now: try again later");
}

}  // namespace parley::http
