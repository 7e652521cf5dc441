// AppTokenVerifier: checks the RS256 and ES256 JSON Web Tokens of an identity provider or the
// application's backend against the keys of a JWKS (auth/JwkSet, kept fresh by
// auth/JwksFetcher): signature, typ (JWT or at+jwt, RFC 9068), iss, aud, exp/nbf/iat with a
// clock-skew allowance, the user's name claim and the optional "parley_rooms" grants.
// Never lets a token choose its key's kind (the alg must match the JWK's type), never uses a
// key a token points at (jku, x5u, jwk headers are ignored), never blocks: a token naming a key
// Parley has not seen is refused now and the fetcher is asked to fetch the keys again.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "auth/TokenService.h"

namespace parley::auth {

class JwkSet;

struct AppTokenOptions {
  std::string issuer;    // "iss" must equal it
  std::string audience;  // "aud" (a string, or an array of them) must hold it
  // The claim naming the user; "sub" when the token lacks it (or it is not a non-empty string).
  std::string nameClaim = "preferred_username";
  std::int64_t skewSeconds = 60;  // allowed between the issuer's clock and ours, each way
};

class AppTokenVerifier {
 public:
  // Longer than Parley's own tokens may be: an identity provider's access tokens carry scopes,
  // roles and groups (8 KiB is also the whole request header's limit).
  static constexpr std::size_t kMaxTokenBytes = 8192;

  explicit AppTokenVerifier(AppTokenOptions options);

  const AppTokenOptions& options() const { return options_; }

  // The keys tokens are checked with from now on (the fetcher's thread; shards read at once).
  void setKeys(std::shared_ptr<const JwkSet> keys);
  std::shared_ptr<const JwkSet> keys() const { return keys_.load(); }
  // Called on the checking thread when a token names a key the set lacks (it must not block:
  // JwksFetcher::refetchSoon). Set once, before any verify().
  void onUnknownKey(std::function<void()> f) { onUnknownKey_ = std::move(f); }

  // Nothing when the token's header names no RS256/ES256 algorithm: it is not one of these (the
  // caller checks it as one of Parley's own, which refuses "none" and anything else). Otherwise
  // the check: Valid with the name, exp (+ the skew, so that a connection is not closed before
  // the token stops being accepted) and the rooms it is limited to; Expired past exp + skew;
  // Invalid for anything else. Thread-safe: called from every event loop.
  std::optional<TokenCheck> verify(std::string_view token, std::int64_t nowSeconds) const;

 private:
  AppTokenOptions options_;
  std::atomic<std::shared_ptr<const JwkSet>> keys_;
  std::function<void()> onUnknownKey_;
};

}  // namespace parley::auth
