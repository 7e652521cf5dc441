// fuzz_token: auth/TokenService::verify with a fixed secret, on three kinds of input (the last
// input byte chooses):
// 0. raw bytes as a token;
// 1. a token issue() made for a username and an age the fuzzer chose, then mutated (bits flipped,
//    bytes set, inserted, erased, parts cut, duplicated or swapped);
// 2. a header and claims the fuzzer wrote, encoded and signed here: with our key as HS256,
//    HS384 or HS512, with another key, or unsigned.
// Checks: a token is accepted (Valid or Expired) only if it is exactly what issue() gives for its
// subject and expiry (kinds 0 and 1: verify must never accept a token it did not issue); an
// issued token verifies as Valid before its exp and Expired from it, with its subject and exp;
// a token signed here is accepted only when signed with our key as HS256 under a header whose
// alg is exactly "HS256" and with claims iss "parley", a non-empty string sub and an integer
// exp, which are what verify reports.
#include <fuzzer/FuzzedDataProvider.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "FuzzSupport.h"
#include "auth/TokenService.h"

namespace {

using parley::auth::TokenCheck;
using parley::auth::TokenService;
using parley::auth::TokenStatus;

constexpr std::int64_t kNow = 1'700'000'000;
constexpr std::int64_t kTtl = 86'400;
const std::string kSecret = "parley-fuzz-secret-0123456789abcdef-0123456789";

const TokenService& service() {
  static const TokenService tokens(kSecret, kTtl);
  return tokens;
}

bool accepted(const TokenCheck& c) { return c.status != TokenStatus::Invalid; }

// The one property that matters: what verify accepts, issue() made.
void checkOnlyIssuedAccepted(std::string_view token, const TokenCheck& c) {
  if (!accepted(c)) return;
  std::int64_t exp = 0;
  const std::string reissued = service().issue(c.username, c.expiresAt - kTtl, exp);
  FUZZ_CHECK(reissued == token,
             "accepted a token issue() did not make:\n  %.*s\n  issue() gives %s",
             static_cast<int>(token.size()), token.data(), reissued.c_str());
}

std::string base64url(std::string_view bytes) {
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                  '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(std::string_view(out.c_str()).size());
  return out;
}

std::string hmac(const EVP_MD* md, std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HMAC(md, key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &n);
  return std::string(reinterpret_cast<char*>(out), n);
}

void issuedThenMutated(FuzzedDataProvider& in) {
  const std::string username = in.ConsumeRandomLengthString(48);
  const std::int64_t age = in.ConsumeIntegralInRange<std::int64_t>(-kTtl, 2 * kTtl);
  std::int64_t exp = 0;
  const std::string issued = service().issue(username, kNow - age, exp);
  const bool subjectOk = !username.empty() && username.find('\0') == std::string::npos &&
                         parley::fuzz::referenceUtf8(username);
  FUZZ_CHECK(issued.empty() != subjectOk, "issue() gave %zu bytes for a %s subject", issued.size(),
             subjectOk ? "good" : "bad");
  if (issued.empty()) return;
  FUZZ_CHECK(exp == kNow - age + kTtl, "exp %lld", static_cast<long long>(exp));

  // Issued tokens verify, and only until exp.
  const TokenCheck now = service().verify(issued, kNow);
  FUZZ_CHECK(now.status == (kNow < exp ? TokenStatus::Valid : TokenStatus::Expired),
             "issued token: status %d", static_cast<int>(now.status));
  FUZZ_CHECK(now.username == username && now.expiresAt == exp, "issued token: other claims");
  FUZZ_CHECK(service().verify(issued, exp - 1).status == TokenStatus::Valid, "expired early");
  FUZZ_CHECK(service().verify(issued, exp).status == TokenStatus::Expired, "valid at exp");
  checkOnlyIssuedAccepted(issued, now);

  std::string token = issued;
  const int edits = in.ConsumeIntegralInRange(1, 8);
  for (int i = 0; i < edits && !token.empty(); ++i) {
    const std::size_t at = in.ConsumeIntegralInRange<std::size_t>(0, token.size() - 1);
    const auto byte = in.ConsumeIntegral<std::uint8_t>();
    switch (in.ConsumeIntegralInRange(0, 6)) {
      case 0:
        token[at] = static_cast<char>(token[at] ^ (1 << (byte & 7)));
        break;
      case 1:
        token[at] = static_cast<char>(byte);
        break;
      case 2:
        token.insert(at, 1, static_cast<char>(byte));
        break;
      case 3:
        token.erase(at, 1 + byte % 4);
        break;
      case 4:
        token.resize(at);
        break;
      case 5:  // a run of the token repeated (a part, a dot, padding-like tails)
        token.insert(at, token.substr(at, 1 + byte % 16));
        break;
      case 6: {  // two of the three parts swapped
        const auto d1 = token.find('.');
        const auto d2 = d1 == std::string::npos ? d1 : token.find('.', d1 + 1);
        if (d2 == std::string::npos) break;
        const std::string h = token.substr(0, d1);
        const std::string p = token.substr(d1 + 1, d2 - d1 - 1);
        const std::string s = token.substr(d2 + 1);
        token = byte & 1 ? p + "." + h + "." + s : h + "." + s + "." + p;
        break;
      }
    }
  }
  const TokenCheck c = service().verify(token, kNow);
  checkOnlyIssuedAccepted(token, c);
}

// The member `key` of a JSON object as written by the fuzzer, or nullptr.
const boost::json::value* claim(const boost::json::value& v, std::string_view key) {
  const auto* obj = v.if_object();
  return obj ? obj->if_contains(key) : nullptr;
}

void signedHere(FuzzedDataProvider& in) {
  const std::string header = in.ConsumeRandomLengthString(96);
  const std::string payload = in.ConsumeRandomLengthString(160);
  const int how = in.ConsumeIntegralInRange(0, 5);
  const std::string signingInput = base64url(header) + "." + base64url(payload);
  std::string signature;
  switch (how) {
    case 0:
      signature = hmac(EVP_sha256(), kSecret, signingInput);
      break;
    case 1:
      signature = hmac(EVP_sha384(), kSecret, signingInput);
      break;
    case 2:
      signature = hmac(EVP_sha512(), kSecret, signingInput);
      break;
    case 3:
      signature = hmac(EVP_sha256(), kSecret + "x", signingInput);
      break;
    case 4:
      signature = hmac(EVP_sha256(), std::string_view(kSecret).substr(1), signingInput);
      break;
    case 5:
      signature = "";
      break;
  }
  const std::string token = signingInput + "." + base64url(signature);
  const TokenCheck c = service().verify(token, kNow);
  if (!accepted(c)) return;

  FUZZ_CHECK(how == 0, "accepted a token signed with method %d", how);
  FUZZ_CHECK((c.status == TokenStatus::Valid) == (kNow < c.expiresAt), "status and exp differ");
  // The claims, read again with Boost.JSON. Where it cannot read what libjwt (jansson) did, there
  // is nothing to compare; both are signed bytes, which only a key holder can write:
  // - libjwt reads the decoded header and claims as C strings: what follows a NUL is ignored;
  // - jansson takes numbers Boost.JSON refuses (0E7777777777777777777777770000).
  // (Duplicate names: the last one counts in both.)
  auto upToNul = [](const std::string& s) { return std::string_view(s.c_str()); };
  boost::system::error_code ec;
  const boost::json::value h = boost::json::parse(upToNul(header), ec);
  if (ec) return;
  const auto* alg = claim(h, "alg");
  FUZZ_CHECK(alg && alg->is_string() && alg->get_string() == "HS256",
             "accepted alg other than \"HS256\": %s", header.c_str());
  const boost::json::value p = boost::json::parse(upToNul(payload), ec);
  if (ec) return;
  const auto* iss = claim(p, "iss");
  FUZZ_CHECK(iss && iss->is_string() && iss->get_string() == "parley", "iss: %s", payload.c_str());
  const auto* sub = claim(p, "sub");
  FUZZ_CHECK(sub && sub->is_string() && !sub->get_string().empty() &&
                 std::string_view(sub->get_string()) == c.username,
             "sub: %s", payload.c_str());
  const auto* exp = claim(p, "exp");
  FUZZ_CHECK(exp && (exp->is_int64() || exp->is_uint64()), "exp not an integer: %s",
             payload.c_str());
  FUZZ_CHECK(exp->is_int64() && exp->get_int64() == c.expiresAt, "exp differs: %s",
             payload.c_str());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  switch (in.ConsumeIntegral<std::uint8_t>() % 3) {
    case 0: {
      const std::string token = in.ConsumeRemainingBytesAsString();
      checkOnlyIssuedAccepted(token, service().verify(token, kNow));
      break;
    }
    case 1:
      issuedThenMutated(in);
      break;
    case 2:
      signedHere(in);
      break;
  }
  return 0;
}
