#include "auth/AppTokenVerifier.h"

// The signatures are checked with OpenSSL directly, not libjwt (which checks Parley's own
// HS256 tokens): libjwt 1.10 takes a key only as PEM text and parses it again for every token,
// knows nothing of JWK or JWKS (no kid lookup, no n/e or x/y keys), and checks no claim at all
// (not even exp). Here a key is parsed once when the set is fetched (auth/JwkSet) and every
// check is one EVP_DigestVerify. ES256 signatures in a JWS are the raw r||s pair (RFC 7518
// section 3.4), 64 bytes, which OpenSSL wants as a DER ECDSA-Sig-Value: converted below.
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cmath>
#include <limits>

#include "auth/Base64Url.h"
#include "auth/JwkSet.h"
#include "auth/RoomGrants.h"

namespace parley::auth {

namespace {

struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct EcdsaSigFree {
  void operator()(ECDSA_SIG* s) const { ECDSA_SIG_free(s); }
};

// Per thread, reused: a check decodes into buffers that already have their capacity, and
// parses JSON into an arena that is already there (a connect allocates for OpenSSL's
// verification context and the TokenCheck's strings, little else).
struct Scratch {
  std::string header, payload, signature;
  alignas(16) unsigned char arena[32 * 1024];
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> md{EVP_MD_CTX_new()};
};
Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

bool equalsIgnoringCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// RFC 9068 access tokens say "at+jwt" (or its full media type); other JWTs say "JWT" or
// nothing. Any other typ (a logout token, a DPoP proof...) is not a token to connect with.
bool acceptedType(const boost::json::object& header) {
  const auto* typ = header.if_contains("typ");
  if (!typ) return true;
  if (!typ->is_string()) return false;
  const std::string_view t = typ->get_string();
  return equalsIgnoringCase(t, "JWT") || equalsIgnoringCase(t, "at+jwt") ||
         equalsIgnoringCase(t, "application/at+jwt");
}

// A NumericDate (RFC 7519: seconds, possibly with a fraction), floored; false when absent or not
// a number in range.
bool numericDate(const boost::json::object& claims, std::string_view name, std::int64_t& out) {
  const auto* v = claims.if_contains(name);
  if (!v) return false;
  if (v->is_int64()) {
    out = v->get_int64();
    return true;
  }
  if (v->is_uint64()) return false;  // past 2^63 seconds: not a date
  if (v->is_double()) {
    const double d = v->get_double();
    if (!std::isfinite(d) || d < -9.0e18 || d > 9.0e18) return false;
    out = static_cast<std::int64_t>(std::floor(d));
    return true;
  }
  return false;
}

bool audienceHolds(const boost::json::value* aud, std::string_view audience) {
  if (!aud) return false;
  if (aud->is_string()) return aud->get_string() == audience;
  if (!aud->is_array()) return false;
  for (const auto& a : aud->get_array())
    if (a.is_string() && a.get_string() == audience) return true;
  return false;
}

std::int64_t saturatingAdd(std::int64_t a, std::int64_t b) {
  if (b > 0 && a > std::numeric_limits<std::int64_t>::max() - b)
    return std::numeric_limits<std::int64_t>::max();
  if (b < 0 && a < std::numeric_limits<std::int64_t>::min() - b)
    return std::numeric_limits<std::int64_t>::min();
  return a + b;
}

// "parley_rooms": an object of room (or prefix*) -> "read" | "write". Anything else in it makes
// the token invalid: a grant Parley misreads must not reach more than meant.
bool readGrants(const boost::json::value& value, RoomGrants& grants) {
  if (!value.is_object()) return false;
  for (const auto& [room, access] : value.get_object()) {
    if (!access.is_string()) return false;
    const std::string_view a = access.get_string();
    const GrantLevel level = a == "write"  ? GrantLevel::Write
                             : a == "read" ? GrantLevel::Read
                                           : GrantLevel::None;
    if (level == GrantLevel::None || !grants.add(room, level)) return false;
  }
  return true;
}

bool verifySignature(const JwkSet::Key& key, std::string_view signingInput,
                     std::string_view signature, EVP_MD_CTX* md) {
  unsigned char der[80];  // an ECDSA-Sig-Value of two 32-byte integers: at most 72 bytes
  const unsigned char* sig = reinterpret_cast<const unsigned char*>(signature.data());
  std::size_t sigLength = signature.size();
  if (key.alg == JwsAlg::ES256) {
    if (signature.size() != 64) return false;
    std::unique_ptr<ECDSA_SIG, EcdsaSigFree> pair(ECDSA_SIG_new());
    BIGNUM* r = BN_bin2bn(sig, 32, nullptr);
    BIGNUM* s = BN_bin2bn(sig + 32, 32, nullptr);
    if (!pair || !r || !s || ECDSA_SIG_set0(pair.get(), r, s) != 1) {
      BN_free(r);
      BN_free(s);
      return false;
    }
    unsigned char* out = der;
    const int n = i2d_ECDSA_SIG(pair.get(), nullptr);
    if (n <= 0 || static_cast<std::size_t>(n) > sizeof der) return false;
    sigLength = static_cast<std::size_t>(i2d_ECDSA_SIG(pair.get(), &out));
    sig = der;
  }
  EVP_MD_CTX_reset(md);
  return EVP_DigestVerifyInit(md, nullptr, EVP_sha256(), nullptr, key.pkey) == 1 &&
         EVP_DigestVerify(md, sig, sigLength,
                          reinterpret_cast<const unsigned char*>(signingInput.data()),
                          signingInput.size()) == 1;
}

}  // namespace

AppTokenVerifier::AppTokenVerifier(AppTokenOptions options) : options_(std::move(options)) {}

void AppTokenVerifier::setKeys(std::shared_ptr<const JwkSet> keys) { keys_.store(std::move(keys)); }

std::optional<TokenCheck> AppTokenVerifier::verify(std::string_view token,
                                                   std::int64_t nowSeconds) const {
  TokenCheck check;                                        // Invalid
  if (token.size() > kMaxTokenBytes) return std::nullopt;  // Parley's own rules refuse it
  const std::size_t dot1 = token.find('.');
  const std::size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
    return std::nullopt;
  Scratch& s = scratch();
  s.header.clear();
  if (!decodeBase64Url(token.substr(0, dot1), s.header)) return std::nullopt;

  boost::json::monotonic_resource arena(s.arena, sizeof s.arena);
  boost::system::error_code ec;
  const boost::json::value header = boost::json::parse(s.header, ec, &arena);
  if (ec || !header.is_object()) return std::nullopt;
  const auto& h = header.get_object();
  const auto* algValue = h.if_contains("alg");
  if (!algValue || !algValue->is_string()) return std::nullopt;
  // Exactly these names (RFC 7515: case-sensitive). "rs256", HS256, none: not ours.
  JwsAlg alg;
  if (algValue->get_string() == "RS256")
    alg = JwsAlg::RS256;
  else if (algValue->get_string() == "ES256")
    alg = JwsAlg::ES256;
  else
    return std::nullopt;

  // From here on the token claims to be one of ours: every failure is Invalid.
  if (!acceptedType(h) || h.contains("crit")) return check;  // no extension is understood here
  const auto* kidValue = h.if_contains("kid");
  if (kidValue && !kidValue->is_string()) return check;
  const std::string_view kid = kidValue ? std::string_view(kidValue->get_string()) : "";

  s.signature.clear();
  if (!decodeBase64Url(token.substr(dot2 + 1), s.signature)) return check;
  const std::string_view signingInput = token.substr(0, dot2);
  const std::shared_ptr<const JwkSet> keys = keys_.load();
  bool verified = false;
  bool unknownKey = false;
  if (!kid.empty()) {
    const JwkSet::Key* key = keys ? keys->find(kid, alg) : nullptr;
    if (key)
      verified = verifySignature(*key, signingInput, s.signature, s.md.get());
    else
      unknownKey = true;
  } else {
    // No kid: every key of the algorithm is tried (a set holds a handful); none verifying may
    // mean a rotation the set has not seen yet.
    if (keys)
      for (const auto& key : keys->keys())
        if (key.alg == alg &&
            (verified = verifySignature(key, signingInput, s.signature, s.md.get())))
          break;
    unknownKey = !verified;
  }
  if (unknownKey && onUnknownKey_) onUnknownKey_();
  if (!verified) return check;

  // Signed by a key of the set: now the claims are worth reading.
  s.payload.clear();
  if (!decodeBase64Url(token.substr(dot1 + 1, dot2 - dot1 - 1), s.payload)) return check;
  const boost::json::value payload = boost::json::parse(s.payload, ec, &arena);
  if (ec || !payload.is_object()) return check;
  const auto& claims = payload.get_object();

  const auto* iss = claims.if_contains("iss");
  if (!iss || !iss->is_string() || iss->get_string() != options_.issuer) return check;
  if (!audienceHolds(claims.if_contains("aud"), options_.audience)) return check;
  std::int64_t exp = 0, nbf = 0, iat = 0;
  if (!numericDate(claims, "exp", exp)) return check;
  const std::int64_t skew = options_.skewSeconds;
  // Not yet valid: nbf, or an iat in the future, beyond the skew.
  if (claims.contains("nbf") &&
      (!numericDate(claims, "nbf", nbf) || nbf > saturatingAdd(nowSeconds, skew)))
    return check;
  if (claims.contains("iat") &&
      (!numericDate(claims, "iat", iat) || iat > saturatingAdd(nowSeconds, skew)))
    return check;

  const auto* name = claims.if_contains(options_.nameClaim);
  if (!name || !name->is_string() || name->get_string().empty()) name = claims.if_contains("sub");
  if (!name || !name->is_string() || name->get_string().empty()) return check;

  std::unique_ptr<RoomGrants> grants;
  if (const auto* rooms = claims.if_contains("parley_rooms")) {
    grants = std::make_unique<RoomGrants>();
    if (!readGrants(*rooms, *grants)) return check;
  }

  const std::int64_t deadline = saturatingAdd(exp, skew);
  check.status = nowSeconds < deadline ? TokenStatus::Valid : TokenStatus::Expired;
  check.username = std::string(name->get_string());
  check.expiresAt = deadline;
  check.fromApp = true;
  check.rooms = std::move(grants);
  return check;
}

}  // namespace parley::auth
