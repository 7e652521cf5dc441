// The application's tokens: AppTokenVerifier (through TokenService, the door every path uses),
// JwkSet, RoomGrants, Base64Url and JwksFetcher. Keys are made here with OpenSSL; tokens are
// signed here with OpenSSL (ES256 converted from DER to the raw r||s of a JWS).
#include <gtest/gtest.h>
#include <jwt.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "auth/AppTokenVerifier.h"
#include "auth/Base64Url.h"
#include "auth/JwkSet.h"
#include "auth/JwksFetcher.h"
#include "auth/RoomGrants.h"
#include "auth/TokenService.h"

namespace parley::auth {
namespace {

constexpr std::int64_t kNow = 1'800'000'000;
const char* kIssuer = "https://idp.example";
const char* kAudience = "parley";

std::string b64url(std::string_view bytes) {
  static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    out += a[v >> 18];
    out += a[(v >> 12) & 63];
    out += a[(v >> 6) & 63];
    out += a[v & 63];
  }
  if (bytes.size() - i == 1) {
    const unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    out += a[v >> 18];
    out += a[(v >> 12) & 63];
  } else if (bytes.size() - i == 2) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8);
    out += a[v >> 18];
    out += a[(v >> 12) & 63];
    out += a[(v >> 6) & 63];
  }
  return out;
}

std::string bnBytes(const BIGNUM* bn, int size = 0) {
  std::string out(size ? size : BN_num_bytes(bn), '\0');
  if (size)
    BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), size);
  else
    BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

// A key pair made now, and its public half as a JWK.
struct TestKey {
  EVP_PKEY* pkey = nullptr;
  bool ec = false;
  std::string kid;
  TestKey(bool ecKey, std::string id, int rsaBits = 2048) : ec(ecKey), kid(std::move(id)) {
    pkey = ec ? EVP_EC_gen("P-256") : EVP_RSA_gen(static_cast<unsigned>(rsaBits));
  }
  ~TestKey() { EVP_PKEY_free(pkey); }
  TestKey(const TestKey&) = delete;

  std::string jwk() const {
    std::string kidMember = kid.empty() ? "" : ",\"kid\":\"" + kid + "\"";
    if (!ec) {
      BIGNUM *n = nullptr, *e = nullptr;
      EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n);
      EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e);
      std::string j = "{\"kty\":\"RSA\",\"use\":\"sig\",\"alg\":\"RS256\"" + kidMember +
                      ",\"n\":\"" + b64url(bnBytes(n)) + "\",\"e\":\"" + b64url(bnBytes(e)) + "\"}";
      BN_free(n);
      BN_free(e);
      return j;
    }
    BIGNUM *x = nullptr, *y = nullptr;
    EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x);
    EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y);
    std::string j = "{\"kty\":\"EC\",\"crv\":\"P-256\"" + kidMember + ",\"x\":\"" +
                    b64url(bnBytes(x, 32)) + "\",\"y\":\"" + b64url(bnBytes(y, 32)) + "\"}";
    BN_free(x);
    BN_free(y);
    return j;
  }

  std::string publicPem() const {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, pkey);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<std::size_t>(n));
    BIO_free(bio);
    return out;
  }

  // header.payload.signature, the header {"alg":...,"kid":...} plus `extraHeader` members.
  std::string sign(const std::string& payload, const std::string& extraHeader = "",
                   const char* alg = nullptr) const {
    std::string header = std::string("{\"alg\":\"") + (alg ? alg : ec ? "ES256" : "RS256") + "\"";
    if (!kid.empty()) header += ",\"kid\":\"" + kid + "\"";
    header += extraHeader + "}";
    const std::string input = b64url(header) + "." + b64url(payload);
    EVP_MD_CTX* md = EVP_MD_CTX_new();
    std::size_t len = 0;
    EVP_DigestSignInit(md, nullptr, EVP_sha256(), nullptr, pkey);
    EVP_DigestSign(md, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                   input.size());
    std::string sig(len, '\0');
    EVP_DigestSign(md, reinterpret_cast<unsigned char*>(sig.data()), &len,
                   reinterpret_cast<const unsigned char*>(input.data()), input.size());
    sig.resize(len);
    EVP_MD_CTX_free(md);
    if (ec) {  // DER -> r||s
      const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
      ECDSA_SIG* s = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
      sig = bnBytes(ECDSA_SIG_get0_r(s), 32) + bnBytes(ECDSA_SIG_get0_s(s), 32);
      ECDSA_SIG_free(s);
    }
    return input + "." + b64url(sig);
  }
};

const TestKey& rsa() {
  static const TestKey k(false, "rsa-1");
  return k;
}
const TestKey& p256() {
  static const TestKey k(true, "ec-1");
  return k;
}

std::string claims(const std::string& extra = "", std::int64_t exp = kNow + 300) {
  return std::string("{\"iss\":\"") + kIssuer + "\",\"aud\":\"" + kAudience +
         "\",\"sub\":\"user-42\",\"preferred_username\":\"Alice\",\"exp\":" + std::to_string(exp) +
         ",\"iat\":" + std::to_string(kNow - 10) + extra + "}";
}

std::shared_ptr<const JwkSet> setOf(const std::string& keysJson) {
  std::string error;
  std::size_t skipped = 0;
  return JwkSet::parse("{\"keys\":[" + keysJson + "]}", error, skipped);
}

// TokenService with the application's verifier behind it: what every token path calls.
struct Verifiers {
  AppTokenVerifier app{AppTokenOptions{kIssuer, kAudience, "preferred_username", 60}};
  TokenService own{std::string(40, 's'), 3600};
  std::atomic<int> unknownKeys{0};
  Verifiers() {
    app.setKeys(setOf(rsa().jwk() + "," + p256().jwk()));
    app.onUnknownKey([this] { ++unknownKeys; });
    own.acceptAppTokens(&app);
  }
  TokenCheck verify(const std::string& token, std::int64_t now = kNow) const {
    return own.verify(token, now);
  }
};

TEST(AppToken, Rs256AndEs256AreAcceptedWithTheNameClaim) {
  Verifiers v;
  for (const TestKey* key : {&rsa(), &p256()}) {
    const TokenCheck c = v.verify(key->sign(claims()));
    EXPECT_EQ(c.status, TokenStatus::Valid);
    EXPECT_EQ(c.username, "Alice");
    EXPECT_EQ(c.expiresAt, kNow + 300 + 60);  // exp + skew: closed when no longer accepted
    EXPECT_TRUE(c.fromApp);
    EXPECT_EQ(c.rooms, nullptr);
  }
  EXPECT_EQ(v.unknownKeys, 0);
}

TEST(AppToken, AccessTokenTypesAreAcceptedOthersAreNot) {
  Verifiers v;
  for (const char* typ : {"JWT", "at+jwt", "application/at+jwt", "AT+JWT"})
    EXPECT_EQ(v.verify(rsa().sign(claims(), std::string(",\"typ\":\"") + typ + "\"")).status,
              TokenStatus::Valid)
        << typ;
  for (const char* typ : {"logout+jwt", "dpop+jwt", ""})
    EXPECT_EQ(v.verify(rsa().sign(claims(), std::string(",\"typ\":\"") + typ + "\"")).status,
              TokenStatus::Invalid)
        << typ;
  EXPECT_EQ(v.verify(rsa().sign(claims(), ",\"crit\":[\"exp\"]")).status, TokenStatus::Invalid);
}

TEST(AppToken, NameFallsBackToSub) {
  Verifiers v;
  const std::string noName = std::string("{\"iss\":\"") + kIssuer + "\",\"aud\":\"" + kAudience +
                             "\",\"sub\":\"bob\",\"exp\":" + std::to_string(kNow + 60) + "}";
  EXPECT_EQ(v.verify(p256().sign(noName)).username, "bob");
  const std::string emptyName =
      std::string("{\"iss\":\"") + kIssuer + "\",\"aud\":\"" + kAudience +
      "\",\"preferred_username\":\"\",\"exp\":" + std::to_string(kNow + 60) + "}";
  EXPECT_EQ(v.verify(p256().sign(emptyName)).status, TokenStatus::Invalid);  // no sub either
}

TEST(AppToken, IssuerAndAudienceMustMatch) {
  Verifiers v;
  auto with = [](const char* iss, const std::string& aud) {
    return std::string("{\"iss\":\"") + iss + "\",\"aud\":" + aud +
           ",\"sub\":\"a\",\"exp\":" + std::to_string(kNow + 60) + "}";
  };
  EXPECT_EQ(v.verify(rsa().sign(with(kIssuer, "[\"other\",\"parley\"]"))).status,
            TokenStatus::Valid);
  EXPECT_EQ(v.verify(rsa().sign(with("https://evil.example", "\"parley\""))).status,
            TokenStatus::Invalid);
  EXPECT_EQ(v.verify(rsa().sign(with(kIssuer, "\"other\""))).status, TokenStatus::Invalid);
  EXPECT_EQ(v.verify(rsa().sign(with(kIssuer, "[\"other\"]"))).status, TokenStatus::Invalid);
  EXPECT_EQ(v.verify(rsa().sign(with(kIssuer, "null"))).status, TokenStatus::Invalid);
}

TEST(AppToken, TimeClaimsWithTheSkew) {
  Verifiers v;
  EXPECT_EQ(v.verify(rsa().sign(claims("", kNow - 30))).status, TokenStatus::Valid);  // in skew
  const TokenCheck expired = v.verify(rsa().sign(claims("", kNow - 61)));
  EXPECT_EQ(expired.status, TokenStatus::Expired);
  EXPECT_EQ(expired.username, "Alice");
  EXPECT_EQ(v.verify(rsa().sign(claims(",\"nbf\":" + std::to_string(kNow + 30)))).status,
            TokenStatus::Valid);
  EXPECT_EQ(v.verify(rsa().sign(claims(",\"nbf\":" + std::to_string(kNow + 61)))).status,
            TokenStatus::Invalid);  // not yet valid
  const std::string futureIat = std::string("{\"iss\":\"") + kIssuer + "\",\"aud\":\"" + kAudience +
                                "\",\"sub\":\"a\",\"exp\":" + std::to_string(kNow + 600) +
                                ",\"iat\":" + std::to_string(kNow + 120) + "}";
  EXPECT_EQ(v.verify(rsa().sign(futureIat)).status, TokenStatus::Invalid);
  EXPECT_EQ(v.verify(rsa().sign(claims(",\"nbf\":\"soon\""))).status, TokenStatus::Invalid);
  const std::string noExp =
      std::string("{\"iss\":\"") + kIssuer + "\",\"aud\":\"" + kAudience + "\",\"sub\":\"a\"}";
  EXPECT_EQ(v.verify(rsa().sign(noExp)).status, TokenStatus::Invalid);
  // A fractional NumericDate is floored.
  const std::string fractional = std::string("{\"iss\":\"") + kIssuer + "\",\"aud\":\"" +
                                 kAudience +
                                 "\",\"sub\":\"a\",\"exp\":" + std::to_string(kNow + 10) + ".5}";
  EXPECT_EQ(v.verify(rsa().sign(fractional)).expiresAt, kNow + 10 + 60);
}

TEST(AppToken, NoneAndHs256WithThePublicKeyAreRefused) {
  Verifiers v;
  // alg none, no signature or any.
  const std::string none = b64url("{\"alg\":\"none\",\"kid\":\"rsa-1\"}") + "." + b64url(claims());
  EXPECT_EQ(v.verify(none + ".").status, TokenStatus::Invalid);
  EXPECT_EQ(v.verify(none + ".AAAA").status, TokenStatus::Invalid);
  // HS256 keyed with the RSA public key's PEM (the classic confusion): libjwt would accept it
  // if the public key were ever handed to it as an HMAC secret.
  jwt_t* jwt = nullptr;
  ASSERT_EQ(jwt_new(&jwt), 0);
  const std::string pem = rsa().publicPem();
  jwt_set_alg(jwt, JWT_ALG_HS256, reinterpret_cast<const unsigned char*>(pem.data()),
              static_cast<int>(pem.size()));
  jwt_add_header(jwt, "kid", "rsa-1");
  jwt_add_grant(jwt, "iss", kIssuer);
  jwt_add_grant(jwt, "aud", kAudience);
  jwt_add_grant(jwt, "sub", "Mallory");
  jwt_add_grant_int(jwt, "exp", kNow + 60);
  char* encoded = jwt_encode_str(jwt);
  const std::string hs(encoded);
  std::free(encoded);
  jwt_free(jwt);
  EXPECT_EQ(v.verify(hs).status, TokenStatus::Invalid);
  // The lower-case name is not RS256 (RFC 7515: case-sensitive).
  EXPECT_EQ(v.verify(rsa().sign(claims(), "", "rs256")).status, TokenStatus::Invalid);
}

TEST(AppToken, AlgorithmMustMatchTheKeyKind) {
  Verifiers v;
  // ES256 claimed, RSA key's kid: no ES256 key has that kid.
  EXPECT_EQ(v.verify(rsa().sign(claims(), "", "ES256")).status, TokenStatus::Invalid);
}

TEST(AppToken, TamperedOrForeignTokensAreRefused) {
  Verifiers v;
  std::string t = rsa().sign(claims());
  const auto dot = t.find('.');
  std::string forged = t.substr(0, dot + 1) +
                       b64url(claims(",\"parley_rooms\":{\"*\":\"write\"}")) +
                       t.substr(t.rfind('.'));
  EXPECT_EQ(v.verify(forged).status, TokenStatus::Invalid);
  std::string es = p256().sign(claims());
  es.pop_back();  // a signature of the wrong length (and bits)
  EXPECT_EQ(v.verify(es).status, TokenStatus::Invalid);
  // A key that is not in the set, under a kid that is.
  const TestKey stranger(true, "ec-1");
  EXPECT_EQ(v.verify(stranger.sign(claims())).status, TokenStatus::Invalid);
  EXPECT_EQ(v.unknownKeys, 0);  // a known kid that fails is a forgery, not a rotation
}

TEST(AppToken, UnknownKidIsRefusedAndAsksForTheKeys) {
  Verifiers v;
  const TestKey next(false, "rsa-2");
  EXPECT_EQ(v.verify(next.sign(claims())).status, TokenStatus::Invalid);
  EXPECT_EQ(v.unknownKeys, 1);
  v.app.setKeys(setOf(rsa().jwk() + "," + next.jwk()));  // what the fetcher does
  EXPECT_EQ(v.verify(next.sign(claims())).status, TokenStatus::Valid);
  // Without a kid every key of the algorithm is tried.
  const TestKey anonymous(true, "");
  v.app.setKeys(setOf(rsa().jwk() + "," + anonymous.jwk()));
  EXPECT_EQ(v.verify(anonymous.sign(claims())).status, TokenStatus::Valid);
  const TestKey otherAnonymous(true, "");
  EXPECT_EQ(v.verify(otherAnonymous.sign(claims())).status, TokenStatus::Invalid);
  EXPECT_EQ(v.unknownKeys, 2);
}

TEST(AppToken, ParleyOwnTokensStillWork) {
  Verifiers v;
  std::int64_t exp = 0;
  const std::string own = v.own.issue("Carol", kNow, exp);
  const TokenCheck c = v.verify(own);
  EXPECT_EQ(c.status, TokenStatus::Valid);
  EXPECT_EQ(c.username, "Carol");
  EXPECT_FALSE(c.fromApp);
}

TEST(AppToken, ParleyRoomsBecomeGrants) {
  Verifiers v;
  const TokenCheck c = v.verify(rsa().sign(
      claims(",\"parley_rooms\":{\"team-a\":\"write\",\"news\":\"read\",\"proj-*\":\"write\"}")));
  ASSERT_EQ(c.status, TokenStatus::Valid);
  ASSERT_NE(c.rooms, nullptr);
  EXPECT_EQ(c.rooms->access("team-a"), GrantLevel::Write);
  EXPECT_EQ(c.rooms->access("news"), GrantLevel::Read);
  EXPECT_EQ(c.rooms->access("proj-x"), GrantLevel::Write);
  EXPECT_EQ(c.rooms->access("team-b"), GrantLevel::None);
  EXPECT_EQ(c.rooms->access("proj"), GrantLevel::None);
  const TokenCheck empty = v.verify(rsa().sign(claims(",\"parley_rooms\":{}")));
  ASSERT_NE(empty.rooms, nullptr);
  EXPECT_EQ(empty.rooms->access("team-a"), GrantLevel::None);
  for (const char* bad : {"[]", "{\"a\":\"admin\"}", "{\"a\":true}", "{\"*a\":\"read\"}",
                          "{\"\":\"read\"}", "\"team-a\""})
    EXPECT_EQ(v.verify(rsa().sign(claims(std::string(",\"parley_rooms\":") + bad))).status,
              TokenStatus::Invalid)
        << bad;
}

TEST(RoomGrants, ExactBeatsPrefixLongerPrefixBeatsShorter) {
  RoomGrants g;
  ASSERT_TRUE(g.add("*", GrantLevel::Read));
  ASSERT_TRUE(g.add("proj-*", GrantLevel::Write));
  ASSERT_TRUE(g.add("proj-secret", GrantLevel::Read));
  EXPECT_EQ(g.access("lobby"), GrantLevel::Read);
  EXPECT_EQ(g.access("proj-x"), GrantLevel::Write);
  EXPECT_EQ(g.access("proj-secret"), GrantLevel::Read);
  EXPECT_FALSE(g.add("a*b", GrantLevel::Read));
  EXPECT_FALSE(g.add("", GrantLevel::Read));
  EXPECT_EQ(g.size(), 3u);
}

TEST(Base64Url, StrictDecoding) {
  std::string out;
  EXPECT_TRUE(decodeBase64Url("aGk", out));
  EXPECT_EQ(out, "hi");
  out.clear();
  EXPECT_FALSE(decodeBase64Url("aGl", out));  // leftover bits not zero: another encoding of "hi"
  out.clear();
  EXPECT_FALSE(decodeBase64Url("aGk=", out));  // padding
  out.clear();
  EXPECT_FALSE(decodeBase64Url("a+k", out));  // base64, not base64url
  out.clear();
  EXPECT_FALSE(decodeBase64Url("a", out));
}

TEST(JwkSet, SkipsWhatItCannotUse) {
  const TestKey small(false, "small", 1024);
  std::string error;
  std::size_t skipped = 0;
  const std::string offCurve = "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"bad\",\"x\":\"" +
                               b64url(std::string(32, '\1')) + "\",\"y\":\"" +
                               b64url(std::string(32, '\2')) + "\"}";
  auto set = JwkSet::parse(
      "{\"keys\":[" + rsa().jwk() + "," + small.jwk() + "," + offCurve +
          ",{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"},{\"kty\":\"RSA\",\"use\":\"enc\",\"n\":\"AQAB\","
          "\"e\":\"AQAB\"},{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"AA\",\"y\":\"AA\"},42]}",
      error, skipped);
  ASSERT_NE(set, nullptr) << error;
  EXPECT_EQ(set->keys().size(), 1u);
  EXPECT_EQ(skipped, 6u);
  EXPECT_NE(set->find("rsa-1", JwsAlg::RS256), nullptr);
  EXPECT_EQ(set->find("rsa-1", JwsAlg::ES256), nullptr);
  EXPECT_EQ(JwkSet::parse("{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}]}", error, skipped),
            nullptr);
  EXPECT_EQ(JwkSet::parse("[]", error, skipped), nullptr);
  EXPECT_EQ(JwkSet::parse("not json", error, skipped), nullptr);
}

TEST(JwksFetcher, FileFetchedAgainWhenAskedAtMostOncePerGap) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("parley-jwks-" + std::to_string(::getpid()) + ".json");
  auto write = [&](const std::string& keys) {
    std::ofstream(path) << "{\"keys\":[" << keys << "]}";
  };
  write(rsa().jwk());
  AppTokenVerifier app(AppTokenOptions{kIssuer, kAudience, "preferred_username", 60});
  JwksFetcher::Options options;
  options.source = path.string();
  options.minGap = std::chrono::milliseconds(300);
  options.refreshInterval = std::chrono::milliseconds(60'000);
  JwksFetcher fetcher(options, app, nullptr, nullptr);
  std::string error;
  ASSERT_TRUE(fetcher.fetchNow(error)) << error;
  app.onUnknownKey([&] { fetcher.refetchSoon(); });
  fetcher.start();
  const TestKey rotated(true, "ec-2");
  write(rsa().jwk() + "," + rotated.jwk());
  const std::string token = rotated.sign(claims());
  const auto start = std::chrono::steady_clock::now();
  // A flood of tokens with the new kid: refused until the refetch lands, one fetch for all.
  TokenStatus status = TokenStatus::Invalid;
  while (status != TokenStatus::Valid &&
         std::chrono::steady_clock::now() - start < std::chrono::seconds(5)) {
    status = app.verify(token, kNow)->status;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(status, TokenStatus::Valid);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(250));  // the gap
  EXPECT_EQ(fetcher.fetches(), 2u);  // start-up and one refetch
  // A made-up kid, again and again for a second: one fetch per gap at most, each one a gap
  // after the one before.
  const TestKey madeUp(false, "nobody");
  const std::string bogus = madeUp.sign(claims());
  const std::uint64_t before = fetcher.fetches();
  const auto floodStart = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - floodStart < std::chrono::seconds(1)) {
    EXPECT_EQ(app.verify(bogus, kNow)->status, TokenStatus::Invalid);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  const std::uint64_t during = fetcher.fetches() - before;
  EXPECT_GE(during, 2u);
  EXPECT_LE(during, 4u);  // 1 s / 300 ms, and the first may come a gap after the last
  // A broken file leaves the keys in place.
  std::ofstream(path) << "{\"keys\":";
  fetcher.refetchSoon();
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  EXPECT_GE(fetcher.failures(), 1u);
  EXPECT_EQ(app.verify(token, kNow)->status, TokenStatus::Valid);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace parley::auth
