// TokenService: issues and checks the HS256 JSON Web Tokens (libjwt) that name a logged-in user,
// and is the one door every token path checks tokens through: an RS256/ES256 token from the
// application's identity provider goes on to auth/AppTokenVerifier when one is configured.
// Never lets a token choose its algorithm, nor takes libjwt's decode as a check of exp/iss/sub.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "auth/RoomGrants.h"

namespace parley::auth {

class AppTokenVerifier;

enum class TokenStatus { Valid, Invalid, Expired };

struct TokenCheck {
  TokenStatus status = TokenStatus::Invalid;
  std::string username;        // the token's "sub", when Valid or Expired
  std::int64_t expiresAt = 0;  // unix seconds ("exp"), when Valid or Expired
  // The token came from the application's identity provider (AppTokenVerifier), not from this
  // server: /api/refresh does not turn it into one of Parley's own.
  bool fromApp = false;
  // The rooms it reaches ("parley_rooms"); null: every room.
  std::unique_ptr<const RoomGrants> rooms;
};

class TokenService {
 public:
  static constexpr std::size_t kMinSecretBytes = 32;
  // Longer than any token issue() makes for a sane username, short enough that decoding one is
  // cheap on an event loop.
  static constexpr std::size_t kMaxTokenBytes = 4096;

  // HS256 with `secret` as the key. Throws std::invalid_argument if the secret is shorter than
  // kMinSecretBytes or ttlSeconds < 1 (start-up only).
  TokenService(std::string secret, std::int64_t ttlSeconds);
  // The secret is wiped, not just freed: a core dump or a reused page must not hand it out.
  ~TokenService();
  TokenService(const TokenService&) = default;
  TokenService& operator=(const TokenService&) = default;

  // A random 32-byte secret (libsodium randombytes_buf), hex-encoded: for servers given none.
  static std::string randomSecret();

  std::int64_t ttlSeconds() const { return ttlSeconds_; }

  // A token for `username`: claims {"iss":"parley","sub":username,"iat":now,"exp":now+ttl}.
  // Sets expiresAt to exp. "" (and expiresAt 0) when `username` cannot be a subject: empty, not
  // UTF-8, or holding a NUL (libjwt would cut it short); or when out of memory.
  std::string issue(std::string_view username, std::int64_t nowSeconds,
                    std::int64_t& expiresAt) const;

  // Valid only when: at most kMaxTokenBytes, three base64url parts, decodes with OUR key, the
  // header alg is exactly "HS256", "iss" == "parley", "sub" a non-empty string, "exp" a JSON
  // integer and nowSeconds < exp. A correctly signed token past exp -> Expired (with
  // username/expiresAt filled). With acceptAppTokens(), a token whose header names RS256 or
  // ES256 is the AppTokenVerifier's to check instead. Thread-safe and lock-free (the key set is
  // read through an atomic pointer): called from every event loop.
  TokenCheck verify(std::string_view token, std::int64_t nowSeconds) const;

  // From now on, RS256/ES256 tokens are checked by `app` (which outlives this service). Before
  // any verify(): start-up only.
  void acceptAppTokens(const AppTokenVerifier* app) { app_ = app; }

 private:
  std::string secret_;
  std::int64_t ttlSeconds_;
  const AppTokenVerifier* app_ = nullptr;
};

}  // namespace parley::auth
