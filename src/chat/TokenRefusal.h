// TokenRefusal: why a checked token is not good now, as the protocol says it — the rejection to
// count, the stable error code and the sentence. One rule for every place a token arrives: the
// upgrade, the REST reads, /api/refresh and a {"type":"auth"} renewal on a WebSocket.
// Never checks a signature itself (auth/TokenService does) and never decides what happens next.
#pragma once

#include <optional>
#include <string_view>

#include "metrics/Metrics.h"

namespace parley::auth {
struct TokenCheck;
}

namespace parley::chat {

struct TokenRefusal {
  metrics::Rejection why;
  std::string_view code;     // invalid_token | token_expired
  std::string_view message;  // for the person behind the client
};

// Nothing when `check` says the token is good and names a valid user.
std::optional<TokenRefusal> tokenRefusal(const auth::TokenCheck& check);

}  // namespace parley::chat
