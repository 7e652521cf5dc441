#include <gtest/gtest.h>
#include <jwt.h>
#include <sodium.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "auth/LoginThrottle.h"
#include "auth/PasswordHasher.h"
#include "auth/TokenService.h"

namespace parley::auth {
namespace {

using namespace std::string_view_literals;

// ---------------------------------------------------------------------------------------------
// PasswordHasher. Each hash or verify costs ~0.1-0.2 s, so the tests share one hash.

const PasswordHasher& hasher() {
  static const PasswordHasher h;
  return h;
}

const std::string& sharedHash() {
  static const std::string h = hasher().hash("correct horse battery staple");
  return h;
}

TEST(PasswordHasher, RoundTripInTheArgon2idForm) {
  const std::string& h = sharedHash();
  ASSERT_EQ(h.rfind("$argon2id$v=19$m=", 0), 0u) << h;
  EXPECT_TRUE(hasher().verify(h, "correct horse battery staple"));
  EXPECT_FALSE(hasher().verify(h, "correct horse battery stapler"));
}

TEST(PasswordHasher, SaltMakesEveryHashDifferent) {
  const std::string again = hasher().hash("correct horse battery staple");
  ASSERT_FALSE(again.empty());
  EXPECT_NE(again, sharedHash());
  EXPECT_TRUE(hasher().verify(again, "correct horse battery staple"));
}

TEST(PasswordHasher, EmbeddedNulIsPartOfThePassword) {
  const std::string_view password("ab\0cd", 5);
  const std::string h = hasher().hash(password);
  ASSERT_FALSE(h.empty());
  EXPECT_TRUE(hasher().verify(h, password));
  EXPECT_FALSE(hasher().verify(h, "ab"));  // what a c_str() would have hashed
}

TEST(PasswordHasher, MalformedStoredStringsAreFalse) {
  const std::string& h = sharedHash();
  const std::string password = "correct horse battery staple";
  EXPECT_FALSE(hasher().verify("", password));
  EXPECT_FALSE(hasher().verify("garbage", password));
  EXPECT_FALSE(hasher().verify("$argon2id$", password));
  EXPECT_FALSE(hasher().verify(h.substr(0, h.size() - 5), password));  // truncated hash
  EXPECT_FALSE(hasher().verify(h.substr(0, h.rfind('$')), password));  // no hash part
  EXPECT_FALSE(hasher().verify(h + "AAAA", password));
  EXPECT_FALSE(hasher().verify(h + std::string(1, '\0'), password));  // C would stop at the NUL
  EXPECT_FALSE(hasher().verify(h + std::string(200, 'A'), password));
  EXPECT_FALSE(hasher().needsRehash(""));
  EXPECT_FALSE(hasher().needsRehash("garbage"));
}

TEST(PasswordHasher, NeedsRehashForOtherLimitsOrArgon2i) {
  EXPECT_FALSE(hasher().needsRehash(sharedHash()));
  char cheap[crypto_pwhash_STRBYTES];
  ASSERT_EQ(
      crypto_pwhash_str(cheap, "pw", 2, crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN), 0);
  EXPECT_TRUE(hasher().needsRehash(cheap));
  EXPECT_TRUE(hasher().verify(cheap, "pw"));  // old hashes keep working until rehashed
  ASSERT_EQ(crypto_pwhash_argon2i_str(cheap, "pw", 2, crypto_pwhash_argon2i_OPSLIMIT_MIN,
                                      crypto_pwhash_argon2i_MEMLIMIT_MIN),
            0);
  EXPECT_TRUE(hasher().needsRehash(cheap));
}

TEST(PasswordHasher, TheStandInIsARealHashAtTodaysCost) {
  // verifyNothing() costs what a real verify costs only if its stand-in is a well-formed hash
  // made with the limits hash() uses now: a changed libsodium default shows here.
  EXPECT_TRUE(PasswordHasher::kStandIn.starts_with("$argon2id$"));
  EXPECT_FALSE(hasher().needsRehash(PasswordHasher::kStandIn));
  EXPECT_TRUE(hasher().verify(PasswordHasher::kStandIn, "parley: a password no account has"));
  hasher().verifyNothing("anything");  // and it returns
}

// ---------------------------------------------------------------------------------------------
// TokenService

const std::string kSecret = "0123456789abcdef0123456789abcdef";  // exactly kMinSecretBytes
const std::string kOtherSecret = "fedcba9876543210fedcba9876543210";
constexpr std::int64_t kTtl = 3600;
constexpr std::int64_t kNow = 1'700'000'000;

std::string base64url(std::string_view bytes) {
  std::string out(sodium_base64_encoded_len(bytes.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                  '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(out.find('\0'));
  return out;
}

std::string unbase64url(std::string_view text) {
  std::string out(text.size(), '\0');
  std::size_t length = 0;
  EXPECT_EQ(sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(),
                              text.size(), nullptr, &length, nullptr,
                              sodium_base64_VARIANT_URLSAFE_NO_PADDING),
            0);
  out.resize(length);
  return out;
}

std::string hmacSha256(std::string_view key, std::string_view data) {
  crypto_auth_hmacsha256_state state;
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_init(&state, reinterpret_cast<const unsigned char*>(key.data()),
                              key.size());
  crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(data.data()),
                                data.size());
  crypto_auth_hmacsha256_final(&state, mac);
  return std::string(reinterpret_cast<const char*>(mac), sizeof mac);
}

// A token built by hand, HMAC-SHA256-signed with `key` whatever the header says: lets a test
// reach the claim checks with a signature that is right.
std::string signedToken(std::string_view headerJson, std::string_view payloadJson,
                        std::string_view key = kSecret) {
  const std::string signingInput = base64url(headerJson) + "." + base64url(payloadJson);
  return signingInput + "." + base64url(hmacSha256(key, signingInput));
}

constexpr std::string_view kHs256Header = R"({"alg":"HS256","typ":"JWT"})";

std::string payload(std::string_view claims) {
  std::string out = "{";  // appended, not "{" + ...: g++ 12 -O2 warns falsely (-Wrestrict)
  out.append(claims);
  out.push_back('}');
  return out;
}

std::vector<std::string> split(const std::string& token) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (std::size_t dot; (dot = token.find('.', start)) != std::string::npos; start = dot + 1)
    parts.push_back(token.substr(start, dot - start));
  parts.push_back(token.substr(start));
  return parts;
}

// A token libjwt itself signs with `alg` and our secret.
std::string libjwtToken(jwt_alg_t alg, std::string_view secret = kSecret) {
  jwt_t* jwt = nullptr;
  EXPECT_EQ(jwt_new(&jwt), 0);
  EXPECT_EQ(jwt_set_alg(jwt, alg, reinterpret_cast<const unsigned char*>(secret.data()),
                        static_cast<int>(secret.size())),
            0);
  jwt_add_grant(jwt, "iss", "parley");
  jwt_add_grant(jwt, "sub", "alice");
  jwt_add_grant_int(jwt, "exp", kNow + 100);
  char* encoded = jwt_encode_str(jwt);
  std::string out = encoded ? encoded : "";
  std::free(encoded);
  jwt_free(jwt);
  return out;
}

TEST(TokenService, IssueThenVerify) {
  const TokenService tokens(kSecret, kTtl);
  EXPECT_EQ(tokens.ttlSeconds(), kTtl);
  std::int64_t expiresAt = 0;
  const std::string token = tokens.issue("alice", kNow, expiresAt);
  ASSERT_FALSE(token.empty());
  EXPECT_EQ(expiresAt, kNow + kTtl);

  const auto parts = split(token);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(unbase64url(parts[1]),
            R"({"exp":1700003600,"iat":1700000000,"iss":"parley","sub":"alice"})");

  for (std::int64_t now : {kNow, kNow + kTtl - 1}) {
    const TokenCheck check = tokens.verify(token, now);
    EXPECT_EQ(check.status, TokenStatus::Valid) << now;
    EXPECT_EQ(check.username, "alice");
    EXPECT_EQ(check.expiresAt, kNow + kTtl);
  }
}

TEST(TokenService, UnicodeUsernameRoundTrips) {
  const TokenService tokens(kSecret, kTtl);
  std::int64_t expiresAt = 0;
  const std::string name = "Zo\xC3\xAB \xF0\x9F\x98\x80";
  const TokenCheck check = tokens.verify(tokens.issue(name, kNow, expiresAt), kNow);
  EXPECT_EQ(check.status, TokenStatus::Valid);
  EXPECT_EQ(check.username, name);
}

TEST(TokenService, PastExpIsExpiredWithTheUsername) {
  const TokenService tokens(kSecret, kTtl);
  std::int64_t expiresAt = 0;
  const std::string token = tokens.issue("alice", kNow, expiresAt);
  for (std::int64_t now : {expiresAt, expiresAt + 1, expiresAt + 10 * kTtl}) {
    const TokenCheck check = tokens.verify(token, now);
    EXPECT_EQ(check.status, TokenStatus::Expired) << now;
    EXPECT_EQ(check.username, "alice");
    EXPECT_EQ(check.expiresAt, expiresAt);
  }
}

TEST(TokenService, OtherSecretIsInvalid) {
  const TokenService ours(kSecret, kTtl);
  const TokenService theirs(kOtherSecret, kTtl);
  std::int64_t expiresAt = 0;
  const TokenCheck check = ours.verify(theirs.issue("alice", kNow, expiresAt), kNow);
  EXPECT_EQ(check.status, TokenStatus::Invalid);
  EXPECT_EQ(check.username, "");
  EXPECT_EQ(check.expiresAt, 0);
  EXPECT_EQ(theirs.verify(ours.issue("alice", kNow, expiresAt), kNow).status, TokenStatus::Invalid);
}

TEST(TokenService, HandBuiltTokensReachTheClaimChecks) {
  // The control for the tests below: the hand-built signature is right, so their Invalid comes
  // from what they change, not from the builder.
  const TokenService tokens(kSecret, kTtl);
  const TokenCheck check = tokens.verify(
      signedToken(kHs256Header, payload(R"("iss":"parley","sub":"bob","exp":1700000100)")), kNow);
  EXPECT_EQ(check.status, TokenStatus::Valid);
  EXPECT_EQ(check.username, "bob");
  EXPECT_EQ(check.expiresAt, 1'700'000'100);
  EXPECT_EQ(
      tokens
          .verify(signedToken(kHs256Header, payload(R"("iss":"parley","sub":"bob","exp":-5)")),
                  kNow)
          .status,
      TokenStatus::Expired);
}

TEST(TokenService, TamperedPayloadIsInvalid) {
  const TokenService tokens(kSecret, kTtl);
  std::int64_t expiresAt = 0;
  const std::string token = tokens.issue("alice", kNow, expiresAt);
  const auto parts = split(token);

  std::string flipped = token;
  char& c = flipped[parts[0].size() + 1 + parts[1].size() / 2];
  c = c == 'A' ? 'B' : 'A';
  EXPECT_EQ(tokens.verify(flipped, kNow).status, TokenStatus::Invalid);

  // Same signature, payload re-encoded with another subject.
  std::string claims = unbase64url(parts[1]);
  claims.replace(claims.find("alice"), 5, "admin");
  const std::string swapped = parts[0] + "." + base64url(claims) + "." + parts[2];
  EXPECT_EQ(tokens.verify(swapped, kNow).status, TokenStatus::Invalid);

  std::string otherSignature = token;
  otherSignature.back() = otherSignature.back() == 'A' ? 'B' : 'A';
  EXPECT_EQ(tokens.verify(otherSignature, kNow).status, TokenStatus::Invalid);
}

TEST(TokenService, AlgNoneIsInvalid) {
  const TokenService tokens(kSecret, kTtl);
  const std::string claims =
      base64url(payload(R"("iss":"parley","sub":"admin","exp":99999999999)"));
  const std::string none = base64url(R"({"alg":"none","typ":"JWT"})");
  EXPECT_EQ(tokens.verify(none + "." + claims + ".", kNow).status, TokenStatus::Invalid);
  EXPECT_EQ(tokens.verify(none + "." + claims + ".AAAA", kNow).status, TokenStatus::Invalid);
  EXPECT_EQ(tokens
                .verify(signedToken(R"({"alg":"none"})",
                                    payload(R"("iss":"parley","sub":"a","exp":99999999999)")),
                        kNow)
                .status,
            TokenStatus::Invalid);
}

TEST(TokenService, OtherAlgorithmWithOurSecretIsInvalid) {
  const TokenService tokens(kSecret, kTtl);
  // libjwt verifies these with our key and reports success; only the alg check refuses them.
  const std::string hs256 = libjwtToken(JWT_ALG_HS256);
  ASSERT_EQ(tokens.verify(hs256, kNow).status, TokenStatus::Valid);  // control
  EXPECT_EQ(tokens.verify(libjwtToken(JWT_ALG_HS512), kNow).status, TokenStatus::Invalid);
  EXPECT_EQ(tokens.verify(libjwtToken(JWT_ALG_HS384), kNow).status, TokenStatus::Invalid);
  // libjwt maps alg names case-insensitively.
  EXPECT_EQ(tokens
                .verify(signedToken(R"({"alg":"hs256","typ":"JWT"})",
                                    payload(R"("iss":"parley","sub":"a","exp":1700000100)")),
                        kNow)
                .status,
            TokenStatus::Invalid);
}

TEST(TokenService, IssuerMustBeParley) {
  const TokenService tokens(kSecret, kTtl);
  for (std::string_view claims :
       {R"("sub":"a","exp":1700000100)"sv, R"("iss":"other","sub":"a","exp":1700000100)"sv,
        R"("iss":"Parley","sub":"a","exp":1700000100)"sv, R"("iss":7,"sub":"a","exp":1700000100)"sv,
        R"("iss":null,"sub":"a","exp":1700000100)"sv})
    EXPECT_EQ(tokens.verify(signedToken(kHs256Header, payload(claims)), kNow).status,
              TokenStatus::Invalid)
        << claims;
}

TEST(TokenService, SubjectMustBeANonEmptyString) {
  const TokenService tokens(kSecret, kTtl);
  for (std::string_view claims :
       {R"("iss":"parley","exp":1700000100)"sv, R"("iss":"parley","sub":"","exp":1700000100)"sv,
        R"("iss":"parley","sub":42,"exp":1700000100)"sv,
        R"("iss":"parley","sub":["a"],"exp":1700000100)"sv})
    EXPECT_EQ(tokens.verify(signedToken(kHs256Header, payload(claims)), kNow).status,
              TokenStatus::Invalid)
        << claims;
}

TEST(TokenService, ExpMustBeAJsonInteger) {
  const TokenService tokens(kSecret, kTtl);
  // libjwt's jwt_get_grant_int gives 0 without an error for all of these: Expired, not Invalid,
  // if it were trusted.
  for (std::string_view claims :
       {R"("iss":"parley","sub":"a")"sv, R"("iss":"parley","sub":"a","exp":"1700000100")"sv,
        R"("iss":"parley","sub":"a","exp":1700000100.0)"sv,
        R"("iss":"parley","sub":"a","exp":1.7e9)"sv, R"("iss":"parley","sub":"a","exp":true)"sv,
        R"("iss":"parley","sub":"a","exp":null)"sv,
        R"("iss":"parley","sub":"a","exp":[1700000100])"sv}) {
    const TokenCheck check = tokens.verify(signedToken(kHs256Header, payload(claims)), kNow);
    EXPECT_EQ(check.status, TokenStatus::Invalid) << claims;
    EXPECT_EQ(check.username, "") << claims;
  }
}

TEST(TokenService, MalformedInputIsInvalid) {
  const TokenService tokens(kSecret, kTtl);
  std::int64_t expiresAt = 0;
  const std::string good = tokens.issue("alice", kNow, expiresAt);
  const auto parts = split(good);
  const std::vector<std::string> bad = {
      "",
      "garbage",
      "a.b.c",
      "..",
      "...",
      std::string(5000, 'a'),
      good + ".",
      good + ".AAAA",
      good + "=",
      " " + good,
      good + "\n",
      good + std::string(1, '\0') + "x",
      parts[0] + "." + parts[1],
      parts[0] + ".." + parts[2],
      "." + parts[1] + "." + parts[2],
      std::string(good).insert(parts[0].size() + 1 + 5, std::string(1, '\0')),
      std::string(5000, '\0'),
  };
  for (const std::string& token : bad)
    EXPECT_EQ(tokens.verify(token, kNow).status, TokenStatus::Invalid) << token;

  // Correctly signed, but not base64url: libjwt's decoder skips the stray characters and accepts.
  const std::string signingInput =
      base64url(kHs256Header) + "." +
      base64url(payload(R"("iss":"parley","sub":"a","exp":1700000100)"));
  for (std::string_view stray : {"!"sv, "~"sv, "=="sv, "+/"sv}) {
    std::string input = signingInput;
    input.insert(input.size() - 3, stray);
    EXPECT_EQ(tokens.verify(input + "." + base64url(hmacSha256(kSecret, input)), kNow).status,
              TokenStatus::Invalid)
        << stray;
  }
}

TEST(TokenService, MoreThan4096BytesIsInvalidEvenWhenSigned) {
  const TokenService tokens(kSecret, kTtl);
  // Grows a padding claim until the token passes the limit; the last one under it is the control.
  std::string lastUnder;
  std::string firstOver;
  for (std::size_t pad = 2900; firstOver.empty(); ++pad) {
    const std::string token =
        signedToken(kHs256Header, payload(R"("iss":"parley","sub":"a","exp":1700000100,"pad":")" +
                                          std::string(pad, 'x') + "\""));
    (token.size() <= TokenService::kMaxTokenBytes ? lastUnder : firstOver) = token;
  }
  ASSERT_EQ(lastUnder.size(), 4096u);
  EXPECT_EQ(tokens.verify(lastUnder, kNow).status, TokenStatus::Valid);
  EXPECT_EQ(tokens.verify(firstOver, kNow).status, TokenStatus::Invalid);
}

TEST(TokenService, ConstructorRefusesShortSecretAndLifetime) {
  EXPECT_THROW(TokenService(kSecret.substr(1), kTtl), std::invalid_argument);
  EXPECT_THROW(TokenService("", kTtl), std::invalid_argument);
  EXPECT_THROW(TokenService(kSecret, 0), std::invalid_argument);
  EXPECT_THROW(TokenService(kSecret, -1), std::invalid_argument);
  EXPECT_NO_THROW(TokenService(kSecret, 1));
}

TEST(TokenService, IssueRefusesWhatCannotBeASubject) {
  const TokenService tokens(kSecret, kTtl);
  for (std::string_view name : {""sv, "a\0b"sv, "\xFF"sv, "caf\xC3"sv}) {
    std::int64_t expiresAt = 123;
    EXPECT_EQ(tokens.issue(name, kNow, expiresAt), "");
    EXPECT_EQ(expiresAt, 0);
  }
}

TEST(TokenService, RandomSecretIs32HexBytes) {
  const std::string a = TokenService::randomSecret();
  const std::string b = TokenService::randomSecret();
  ASSERT_EQ(a.size(), 64u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos) << a;
  EXPECT_NE(a, b);
  const TokenService tokens(a, kTtl);
  std::int64_t expiresAt = 0;
  EXPECT_EQ(tokens.verify(tokens.issue("alice", kNow, expiresAt), kNow).status, TokenStatus::Valid);
}

TEST(TokenService, ConcurrentVerifies) {
  const TokenService tokens(kSecret, kTtl);
  std::int64_t expiresAt = 0;
  const std::string good = tokens.issue("alice", kNow, expiresAt);
  const std::string bad = libjwtToken(JWT_ALG_HS512);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 300; ++i) {
        if (tokens.verify(good, kNow).status != TokenStatus::Valid) ++wrong;
        if (tokens.verify(bad, kNow).status != TokenStatus::Invalid) ++wrong;
      }
    });
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
}

// ---------------------------------------------------------------------------------------------
// LoginThrottle

TEST(LoginThrottle, BurstThenRefusalWithTheWait) {
  LoginThrottle throttle(3, 0.5, 100);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(throttle.take("10.0.0.1", 0), 0) << i;
  EXPECT_EQ(throttle.take("10.0.0.1", 0), 2);  // one token at 0.5/s
  EXPECT_EQ(throttle.take("10.0.0.1", 0), 2);  // a refusal takes nothing
  EXPECT_EQ(throttle.take("10.0.0.1", 999), 2);
  EXPECT_EQ(throttle.take("10.0.0.1", 1000), 1);
}

TEST(LoginThrottle, WaitTellsWithoutTakingOrRemembering) {
  LoginThrottle throttle(2, 0.5, 100);
  EXPECT_EQ(throttle.wait("a", 0), 0);
  EXPECT_EQ(throttle.tracked(), 0u);  // asking is not an attempt
  ASSERT_EQ(throttle.take("a", 0), 0);
  EXPECT_EQ(throttle.wait("a", 0), 0);  // one left
  ASSERT_EQ(throttle.take("a", 0), 0);
  EXPECT_EQ(throttle.wait("a", 0), 2);
  EXPECT_EQ(throttle.wait("a", 0), 2);  // still: nothing was taken
  EXPECT_EQ(throttle.wait("a", 1500), 1);
  EXPECT_EQ(throttle.wait("a", 2000), 0);
  EXPECT_EQ(throttle.take("a", 2000), 0);
}

TEST(LoginThrottle, RefillsOverTimeUpToTheBurst) {
  LoginThrottle throttle(3, 0.5, 100);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(throttle.take("a", 0), 0);
  EXPECT_EQ(throttle.take("a", 1999), 1);
  EXPECT_EQ(throttle.take("a", 2000), 0);
  EXPECT_GE(throttle.take("a", 2000), 1);
  // An hour idle refills to the burst, no more.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(throttle.take("a", 3'602'000), 0) << i;
  EXPECT_EQ(throttle.take("a", 3'602'000), 2);
}

TEST(LoginThrottle, FractionalRefillsAddUp) {
  LoginThrottle throttle(1, 10, 10);  // a token per 100 ms
  ASSERT_EQ(throttle.take("a", 0), 0);
  // 8 ms + 92 ms: 0.08 + 0.92 tokens sum to 0.9999999999999999 in doubles, and must still make
  // the whole token that 100 ms earn.
  EXPECT_EQ(throttle.take("a", 8), 1);
  EXPECT_EQ(throttle.take("a", 100), 0);
  EXPECT_EQ(throttle.take("a", 100), 1);
}

TEST(LoginThrottle, WaitIsWholeSecondsRoundedUp) {
  LoginThrottle fast(1, 4, 10);
  ASSERT_EQ(fast.take("a", 0), 0);
  EXPECT_EQ(fast.take("a", 0), 1);  // 0.25 s
  LoginThrottle slow(1, 0.1, 10);
  ASSERT_EQ(slow.take("a", 0), 0);
  EXPECT_EQ(slow.take("a", 0), 10);
  EXPECT_EQ(slow.take("a", 500), 10);  // 9.5 s
  EXPECT_EQ(slow.take("a", 1000), 9);
}

TEST(LoginThrottle, ClockSteppingBackGivesNothing) {
  LoginThrottle throttle(1, 1, 10);
  ASSERT_EQ(throttle.take("a", 10'000), 0);
  EXPECT_EQ(throttle.take("a", 5'000), 1);
  EXPECT_EQ(throttle.take("a", 10'500), 1);  // 0.5 s since 10'000, not 5.5 s since 5'000
  EXPECT_EQ(throttle.take("a", 11'000), 0);
}

TEST(LoginThrottle, AddressesAreIndependent) {
  LoginThrottle throttle(2, 1, 100);
  EXPECT_EQ(throttle.take("a", 0), 0);
  EXPECT_EQ(throttle.take("a", 0), 0);
  EXPECT_GT(throttle.take("a", 0), 0);
  EXPECT_EQ(throttle.take("b", 0), 0);
  EXPECT_EQ(throttle.take("b", 0), 0);
  EXPECT_GT(throttle.take("b", 0), 0);
  EXPECT_EQ(throttle.tracked(), 2u);
}

TEST(LoginThrottle, RemembersAtMostMaxAddresses) {
  constexpr std::size_t kMax = 50;
  LoginThrottle throttle(5, 0.01, kMax);
  for (std::size_t i = 0; i < 10 * kMax; ++i) {
    // Several attempts each, so no bucket is full again when it is evicted.
    for (int j = 0; j < 3; ++j)
      ASSERT_EQ(throttle.take("10.1.0." + std::to_string(i), static_cast<std::int64_t>(i)), 0);
    ASSERT_LE(throttle.tracked(), kMax) << i;
  }
  EXPECT_EQ(throttle.tracked(), kMax);
}

TEST(LoginThrottle, EvictedAddressStartsWithAFullBucket) {
  LoginThrottle throttle(2, 0.001, 4);
  ASSERT_EQ(throttle.take("a", 0), 0);
  ASSERT_EQ(throttle.take("a", 0), 0);
  ASSERT_GT(throttle.take("a", 0), 0);
  // Four newer addresses, none full again: "a", the least recently seen, goes.
  for (const char* other : {"b", "c", "d", "e"}) ASSERT_EQ(throttle.take(other, 10), 0);
  EXPECT_EQ(throttle.tracked(), 4u);
  EXPECT_EQ(throttle.take("a", 20), 0);
  EXPECT_EQ(throttle.take("a", 20), 0);
  EXPECT_GT(throttle.take("a", 20), 0);
  EXPECT_EQ(throttle.tracked(), 4u);
}

TEST(LoginThrottle, FullBucketsAreForgottenBeforeTheLeastRecent) {
  LoginThrottle throttle(2, 1, 2);
  ASSERT_EQ(throttle.take("a", 0), 0);
  ASSERT_EQ(throttle.take("a", 0), 0);    // empty: full again at 2000
  ASSERT_EQ(throttle.take("b", 100), 0);  // one left: full again at 1100
  // At 1500 "b" is full again and "a" (seen least recently) is not: "b" goes.
  ASSERT_EQ(throttle.take("c", 1500), 0);
  EXPECT_EQ(throttle.tracked(), 2u);
  // "a" kept its 1.5 tokens: one attempt, then a wait. A fresh bucket would allow two.
  EXPECT_EQ(throttle.take("a", 1500), 0);
  EXPECT_EQ(throttle.take("a", 1500), 1);
}

TEST(LoginThrottle, ConstructorRefusesNonsense) {
  EXPECT_THROW(LoginThrottle(0.5, 1, 10), std::invalid_argument);
  EXPECT_THROW(LoginThrottle(1, 0, 10), std::invalid_argument);
  EXPECT_THROW(LoginThrottle(1, -1, 10), std::invalid_argument);
  EXPECT_THROW(LoginThrottle(1, 1, 0), std::invalid_argument);
  EXPECT_THROW(LoginThrottle(1, std::nan(""), 10), std::invalid_argument);
}

}  // namespace
}  // namespace parley::auth
