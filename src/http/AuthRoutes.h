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
}
namespace parley::metrics {
enum class Rejection : unsigned;
}

namespace parley::http {

struct Credentials {
  std::string username;
  std::string password;
};

inline constexpr std::size_t kMinPasswordBytes = 8;
inline constexpr std::size_t kMaxPasswordBytes = 1024;

// {"username":"...","password":"..."} with a valid name (the WebSocket's rules; given back in
// NFC; not "anonymous" nor a name that looks like it) and a password of 8-1024 bytes; otherwise
// the 400 to send, and `why` to count.
std::variant<Credentials, HttpReply> parseCredentials(std::string_view body,
                                                      metrics::Rejection& why);

// 200 (login) or 201 (register) {"username":...,"token":...,"expires_at":...}, or the error
// reply; `why` is set when the reply is a rejection to count (left alone otherwise).
HttpReply authReply(const auth::AuthResult& result, bool registering, metrics::Rejection& why,
                    bool& rejected);

}  // namespace parley::http
