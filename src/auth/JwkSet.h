// JwkSet: the public keys of a JSON Web Key Set (RFC 7517) that Parley verifies tokens with:
// RSA keys for RS256 (2048 to 8192 bits) and P-256 keys for ES256, held parsed (OpenSSL
// EVP_PKEYs) so that a token's check never parses a key. Immutable once made: the shards read a
// set while the key fetcher builds its successor (auth/AppTokenVerifier swaps them).
// Never holds a private key or a symmetric one: a JWK of kty "oct" is skipped, so no public
// key text can ever become an HMAC secret.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct evp_pkey_st;  // OpenSSL's EVP_PKEY, kept out of this header

namespace parley::auth {

enum class JwsAlg : std::uint8_t { RS256, ES256 };

class JwkSet {
 public:
  struct Key {
    std::string kid;  // may be empty: then only a token without a kid tries it
    JwsAlg alg;
    evp_pkey_st* pkey;  // owned by the set
  };

  // The keys of `json` Parley can use. Others (another kty, curve or alg, "use" other than
  // "sig", an RSA key under 2048 bits, a point not on the curve, malformed members) are skipped
  // and counted in `skipped`. Null, with `error` set, when `json` is not a JWKS or holds no key
  // Parley can use: the caller keeps the keys it has rather than refuse every token.
  static std::shared_ptr<const JwkSet> parse(std::string_view json, std::string& error,
                                             std::size_t& skipped);

  JwkSet() = default;
  JwkSet(const JwkSet&) = delete;
  JwkSet& operator=(const JwkSet&) = delete;
  ~JwkSet();

  const std::vector<Key>& keys() const { return keys_; }
  // The key with this kid and algorithm, or null. (A token without a kid: see AppTokenVerifier.)
  const Key* find(std::string_view kid, JwsAlg alg) const;

 private:
  std::vector<Key> keys_;
};

}  // namespace parley::auth
