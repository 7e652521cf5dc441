#include "auth/JwkSet.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "auth/Base64Url.h"

namespace parley::auth {

namespace {

constexpr int kMinRsaBits = 2048;
// A larger modulus costs every verification more (16384 bits: ~1 ms on the shard) and buys
// nothing an identity provider uses.
constexpr int kMaxRsaBits = 8192;

struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
struct ParamBldFree {
  void operator()(OSSL_PARAM_BLD* b) const { OSSL_PARAM_BLD_free(b); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct BnFree {
  void operator()(BIGNUM* b) const { BN_free(b); }
};

// A member of `jwk` as a string, or "" when absent or not a string.
std::string_view member(const boost::json::object& jwk, std::string_view name) {
  const auto* v = jwk.if_contains(name);
  if (!v || !v->is_string()) return {};
  return v->get_string();
}

bool decodeMember(const boost::json::object& jwk, std::string_view name, std::string& out) {
  const std::string_view text = member(jwk, name);
  return !text.empty() && decodeBase64Url(text, out) && !out.empty();
}

// Builds a public key from OSSL_PARAMs ("RSA" or "EC"); null when OpenSSL refuses them.
EVP_PKEY* fromData(const char* type, OSSL_PARAM_BLD* bld, bool checkPoint) {
  std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(bld));
  if (!params) return nullptr;
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(
      EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* pkey = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
      EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_PUBLIC_KEY, params.get()) <= 0)
    return nullptr;
  if (checkPoint) {
    // fromdata takes any 65 bytes; a point off the curve must not become a key.
    std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> check(
        EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
    if (!check || EVP_PKEY_public_check(check.get()) != 1) {
      EVP_PKEY_free(pkey);
      return nullptr;
    }
  }
  return pkey;
}

EVP_PKEY* rsaKey(const boost::json::object& jwk) {
  std::string n, e;
  if (!decodeMember(jwk, "n", n) || !decodeMember(jwk, "e", e)) return nullptr;
  std::unique_ptr<BIGNUM, BnFree> bn(BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()),
                                               static_cast<int>(n.size()), nullptr));
  std::unique_ptr<BIGNUM, BnFree> be(BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()),
                                               static_cast<int>(e.size()), nullptr));
  if (!bn || !be) return nullptr;
  const int bits = BN_num_bits(bn.get());
  if (bits < kMinRsaBits || bits > kMaxRsaBits) return nullptr;
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> bld(OSSL_PARAM_BLD_new());
  if (!bld || !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn.get()) ||
      !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, be.get()))
    return nullptr;
  return fromData("RSA", bld.get(), false);
}

EVP_PKEY* p256Key(const boost::json::object& jwk) {
  if (member(jwk, "crv") != "P-256") return nullptr;
  std::string x, y;
  if (!decodeMember(jwk, "x", x) || !decodeMember(jwk, "y", y) || x.size() != 32 || y.size() != 32)
    return nullptr;
  std::string point(1, '\x04');  // uncompressed: 04 || x || y
  point += x;
  point += y;
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
      !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                        point.size()))
    return nullptr;
  return fromData("EC", bld.get(), true);
}

}  // namespace

JwkSet::~JwkSet() {
  for (const Key& k : keys_) EVP_PKEY_free(k.pkey);
}

std::shared_ptr<const JwkSet> JwkSet::parse(std::string_view json, std::string& error,
                                            std::size_t& skipped) {
  skipped = 0;
  boost::system::error_code ec;
  const boost::json::value doc = boost::json::parse(json, ec);
  if (ec || !doc.is_object()) {
    error = "not a JSON object";
    return nullptr;
  }
  const auto* keys = doc.get_object().if_contains("keys");
  if (!keys || !keys->is_array()) {
    error = "no \"keys\" array";
    return nullptr;
  }
  auto set = std::make_shared<JwkSet>();
  for (const auto& entry : keys->get_array()) {
    if (!entry.is_object()) {
      ++skipped;
      continue;
    }
    const auto& jwk = entry.get_object();
    const std::string_view kty = member(jwk, "kty");
    const std::string_view alg = member(jwk, "alg");
    const std::string_view use = member(jwk, "use");
    const auto* kidValue = jwk.if_contains("kid");
    if ((jwk.contains("use") && use != "sig") || (kidValue && !kidValue->is_string())) {
      ++skipped;
      continue;
    }
    EVP_PKEY* pkey = nullptr;
    JwsAlg which{};
    // "alg", when given, must name the algorithm the key is used with here.
    const bool anyAlg = !jwk.contains("alg");
    if (kty == "RSA" && (anyAlg || alg == "RS256")) {
      pkey = rsaKey(jwk);
      which = JwsAlg::RS256;
    } else if (kty == "EC" && (anyAlg || alg == "ES256")) {
      pkey = p256Key(jwk);
      which = JwsAlg::ES256;
    }
    if (!pkey) {
      ++skipped;
      continue;
    }
    set->keys_.push_back(
        Key{kidValue ? std::string(kidValue->get_string()) : std::string(), which, pkey});
  }
  if (set->keys_.empty()) {
    error = "no RS256 or ES256 signing key in the set";
    return nullptr;
  }
  return set;
}

const JwkSet::Key* JwkSet::find(std::string_view kid, JwsAlg alg) const {
  for (const Key& k : keys_)
    if (k.alg == alg && k.kid == kid) return &k;
  return nullptr;
}

}  // namespace parley::auth
