#include "chat/TokenRefusal.h"

#include "auth/TokenService.h"
#include "chat/Names.h"

namespace parley::chat {

std::optional<TokenRefusal> tokenRefusal(const auth::TokenCheck& check) {
  if (check.status == auth::TokenStatus::Expired)
    return TokenRefusal{metrics::Rejection::TokenExpired, "token_expired",
                        "the token has expired: log in again"};
  // A token we signed whose name the WebSocket rules refuse (an older binary's rules) names no
  // one this server can seat.
  if (check.status != auth::TokenStatus::Valid || usernameError(check.username))
    return TokenRefusal{metrics::Rejection::InvalidToken, "invalid_token",
                        "the token is not one this server issued"};
  return std::nullopt;
}

}  // namespace parley::chat
