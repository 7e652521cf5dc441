#include "auth/TokenService.h"

#include <jwt.h>
#include <sodium.h>

#include <charconv>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <stdexcept>

#include "auth/AppTokenVerifier.h"

namespace parley::auth {

namespace {

constexpr const char* kIssuer = "parley";

struct JwtFree {
  void operator()(jwt_t* jwt) const { jwt_free(jwt); }
};
using JwtPtr = std::unique_ptr<jwt_t, JwtFree>;

// libjwt 1.10 has no jwt_free_str: its strings come from malloc.
struct CFree {
  void operator()(char* s) const { std::free(s); }
};
using CString = std::unique_ptr<char, CFree>;

bool isBase64UrlChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

// header.payload.signature, each part non-empty base64url without padding. Checked before libjwt
// sees the token: it splits at the first two dots only, and its base64 decoder skips characters
// it does not know, so "a.b.c.d", padding and stray bytes would otherwise reach the parser.
bool wellFormed(std::string_view token) {
  std::size_t dots = 0;
  std::size_t partLength = 0;
  for (char c : token) {
    if (c == '.') {
      if (partLength == 0) return false;
      ++dots;
      partLength = 0;
    } else if (isBase64UrlChar(c)) {
      ++partLength;
    } else {
      return false;
    }
  }
  return dots == 2 && partLength > 0;
}

// "exp" as the JSON text of the claim: jwt_get_grant_int gives 0 with errno unset for a string,
// a float or a bool, which would turn a malformed token into an Expired one.
bool integerClaim(jwt_t* jwt, const char* name, std::int64_t& out) {
  const CString json(jwt_get_grants_json(jwt, name));
  if (!json) return false;
  const std::string_view text(json.get());
  const char* first = text.data();
  const char* last = first + text.size();
  if (first != last && *first == '-') ++first;
  if (first == last) return false;
  for (const char* p = first; p != last; ++p)
    if (*p < '0' || *p > '9') return false;
  const auto [end, ec] = std::from_chars(text.data(), last, out);
  return ec == std::errc() && end == last;
}

}  // namespace

TokenService::TokenService(std::string secret, std::int64_t ttlSeconds)
    : secret_(std::move(secret)), ttlSeconds_(ttlSeconds) {
  if (secret_.size() < kMinSecretBytes) {
    sodium_memzero(secret_.data(), secret_.size());
    throw std::invalid_argument("token secret shorter than " + std::to_string(kMinSecretBytes) +
                                " bytes");
  }
  if (secret_.size() > static_cast<std::size_t>(INT_MAX)) {
    sodium_memzero(secret_.data(), secret_.size());
    throw std::invalid_argument("token secret too long");  // libjwt takes an int length
  }
  if (ttlSeconds_ < 1) {
    sodium_memzero(secret_.data(), secret_.size());
    throw std::invalid_argument("token lifetime must be at least one second");
  }
}

TokenService::~TokenService() { sodium_memzero(secret_.data(), secret_.size()); }

std::string TokenService::randomSecret() {
  // Safe to call again; makes randombytes thread-safe if no PasswordHasher did it first.
  if (sodium_init() < 0) throw std::runtime_error("libsodium could not be initialised");
  unsigned char bytes[32];
  randombytes_buf(bytes, sizeof bytes);
  char hex[sizeof bytes * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, bytes, sizeof bytes);
  sodium_memzero(bytes, sizeof bytes);
  std::string out(hex, sizeof bytes * 2);
  sodium_memzero(hex, sizeof hex);
  return out;
}

std::string TokenService::issue(std::string_view username, std::int64_t nowSeconds,
                                std::int64_t& expiresAt) const {
  expiresAt = 0;
  if (username.empty() || username.find('\0') != std::string_view::npos) return {};
  // Saturates instead of overflowing: such a token simply never expires.
  const std::int64_t exp = nowSeconds > std::numeric_limits<std::int64_t>::max() - ttlSeconds_
                               ? std::numeric_limits<std::int64_t>::max()
                               : nowSeconds + ttlSeconds_;
  jwt_t* raw = nullptr;
  if (jwt_new(&raw) != 0) return {};
  const JwtPtr jwt(raw);
  // libjwt copies the key into the jwt_t and wipes that copy in jwt_free (checked in 1.10.2).
  const std::string subject(username);
  if (jwt_set_alg(jwt.get(), JWT_ALG_HS256, reinterpret_cast<const unsigned char*>(secret_.data()),
                  static_cast<int>(secret_.size())) != 0 ||
      jwt_add_grant(jwt.get(), "iss", kIssuer) != 0 ||
      jwt_add_grant(jwt.get(), "sub", subject.c_str()) != 0 ||  // EINVAL when not UTF-8
      jwt_add_grant_int(jwt.get(), "iat", nowSeconds) != 0 ||
      jwt_add_grant_int(jwt.get(), "exp", exp) != 0)
    return {};
  const CString encoded(jwt_encode_str(jwt.get()));
  if (!encoded) return {};
  expiresAt = exp;
  return std::string(encoded.get());
}

TokenCheck TokenService::verify(std::string_view token, std::int64_t nowSeconds) const {
  TokenCheck check;
  if (token.size() > AppTokenVerifier::kMaxTokenBytes || !wellFormed(token)) return check;
  // The header decides whose token it is: RS256/ES256 are the application's (and only those:
  // an HS256 token is checked with our secret alone, never with a public key of the set).
  if (app_)
    if (auto checked = app_->verify(token, nowSeconds)) return std::move(*checked);
  if (token.size() > kMaxTokenBytes) return check;
  const std::string terminated(token);  // libjwt reads a C string; wellFormed() refused NULs

  jwt_t* raw = nullptr;
  // Never a NULL key: libjwt would then accept any signature, or none.
  if (jwt_decode(&raw, terminated.c_str(), reinterpret_cast<const unsigned char*>(secret_.data()),
                 static_cast<int>(secret_.size())) != 0)
    return check;
  const JwtPtr jwt(raw);

  // libjwt verifies with whatever HMAC the header names (HS512 passes with our key) and maps the
  // name case-insensitively ("hs256"), so both the parsed and the literal alg must be ours.
  const char* alg = jwt_get_header(jwt.get(), "alg");
  if (jwt_get_alg(jwt.get()) != JWT_ALG_HS256 || alg == nullptr || std::strcmp(alg, "HS256") != 0)
    return check;

  const char* iss = jwt_get_grant(jwt.get(), "iss");  // NULL unless a JSON string
  if (iss == nullptr || std::strcmp(iss, kIssuer) != 0) return check;
  const char* sub = jwt_get_grant(jwt.get(), "sub");
  if (sub == nullptr || *sub == '\0') return check;
  std::int64_t exp = 0;
  if (!integerClaim(jwt.get(), "exp", exp)) return check;

  check.status = nowSeconds < exp ? TokenStatus::Valid : TokenStatus::Expired;
  check.username = sub;
  check.expiresAt = exp;
  return check;
}

}  // namespace parley::auth
