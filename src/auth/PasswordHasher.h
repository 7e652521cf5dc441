// PasswordHasher: argon2id password hashes (libsodium) for register and login.
// Never runs on an event loop (each hash or verify costs ~0.1-0.2 s) and never keeps a password.
#pragma once

#include <string>
#include <string_view>

namespace parley::auth {

class PasswordHasher {
 public:
  // sodium_init(); throws std::runtime_error if it fails (start-up only).
  PasswordHasher();

  // argon2id (crypto_pwhash_str, OPSLIMIT_INTERACTIVE / MEMLIMIT_INTERACTIVE) in the
  // self-describing "$argon2id$v=19$m=...,t=...,p=...$salt$hash" form; "" if it could not
  // (out of memory). `password` is arbitrary bytes, NULs included.
  std::string hash(std::string_view password) const;

  // True when `password` matches `stored` (a string hash() made). False for a malformed stored
  // string, never a throw.
  bool verify(std::string_view stored, std::string_view password) const;

  // Spends the time of one verify() (against kStandIn): a login for an unknown name must take as
  // long as one for a known name, or timing tells which names exist.
  void verifyNothing(std::string_view password) const;
  // A hash no account has, made once with today's limits (a test checks they still are). A
  // constant rather than made at start-up: making it costs 0.2 s and 64 MiB of RSS in every
  // server start, right where the memory tests measure.
  static constexpr std::string_view kStandIn =
      "$argon2id$v=19$m=65536,t=2,p=1$Qag7v05XqpVMFeiqElbtjQ$"
      "Kbx1gGMxW0s2bMdDPhI6w/U+O8j1Op0Ulpt1//EPol8";

  // True when `stored` was made with other limits than today's (libsodium's
  // crypto_pwhash_str_needs_rehash: a lower cost, but also a higher one) or with argon2i. False
  // for a malformed string: there is nothing it could be rehashed from.
  bool needsRehash(std::string_view stored) const;
};

}  // namespace parley::auth
