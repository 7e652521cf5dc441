// AuthRoutes: what the account endpoints and token checks answer: request JSON in, replies and
// error codes out. Knows nothing of sockets or threads: net/ runs the AuthService job between.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "http/Routes.h"

namespace parley::auth {
struct AuthResult;
struct TokenCheck;
}  // namespace parley::auth

namespace parley::http {

enum class Rejection : unsigned;

struct Credentials {
  std::string username;
  std::string password;
};

inline constexpr std::size_t kMinPasswordBytes = 8;
inline constexpr std::size_t kMaxPasswordBytes = 1024;

// {"username":"...","password":"..."} with a valid name (the WebSocket's rules, and not the
// reserved "anonymous") and a password of 8-1024 bytes; otherwise the 400 to send, and `why`
// to count.
std::variant<Credentials, HttpReply> parseCredentials(std::string_view body, Rejection& why);

// Why a checked token is not good now: the rejection to count, the stable code and the
// sentence, the same on the upgrade, the REST reads, /api/refresh and a {"type":"auth"}
// renewal. Nothing when it is good.
struct TokenProblem {
  Rejection why;
  std::string_view code;
  std::string_view message;
};
std::optional<TokenProblem> tokenProblem(const auth::TokenCheck& check);

// 200 (login) or 201 (register) {"username":...,"token":...,"expires_at":...}, or the error
// reply; `why` is set when the reply is a rejection to count (left alone otherwise).
HttpReply authReply(const auth::AuthResult& result, bool registering, Rejection& why,
                    bool& rejected);

}  // namespace parley::http
