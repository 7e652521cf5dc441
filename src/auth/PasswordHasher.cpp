#include "auth/PasswordHasher.h"

#include <sodium.h>

#include <array>
#include <new>
#include <optional>
#include <stdexcept>

namespace parley::auth {

namespace {

constexpr auto kOpsLimit = crypto_pwhash_OPSLIMIT_INTERACTIVE;
constexpr auto kMemLimit = crypto_pwhash_MEMLIMIT_INTERACTIVE;

// libsodium reads a stored hash as a C string: a copy with its NUL, or nothing when `stored`
// could not be one of ours (too long for the buffer, or a NUL inside that would cut it short).
std::optional<std::array<char, crypto_pwhash_STRBYTES>> terminated(std::string_view stored) {
  if (stored.size() >= crypto_pwhash_STRBYTES || stored.find('\0') != std::string_view::npos)
    return std::nullopt;
  std::array<char, crypto_pwhash_STRBYTES> out{};
  stored.copy(out.data(), stored.size());
  return out;
}

bool tooLong(std::string_view password) { return password.size() > crypto_pwhash_PASSWD_MAX; }

}  // namespace

PasswordHasher::PasswordHasher() {
  if (sodium_init() < 0) throw std::runtime_error("libsodium could not be initialised");
}

std::string PasswordHasher::hash(std::string_view password) const {
  if (tooLong(password)) return {};
  std::array<char, crypto_pwhash_STRBYTES> out{};
  if (crypto_pwhash_str(out.data(), password.data(), password.size(), kOpsLimit, kMemLimit) != 0)
    return {};
  return std::string(out.data());
}

bool PasswordHasher::verify(std::string_view stored, std::string_view password) const {
  if (tooLong(password)) return false;
  const auto str = terminated(stored);
  if (!str) return false;
  return crypto_pwhash_str_verify(str->data(), password.data(), password.size()) == 0;
}

void PasswordHasher::verifyNothing(std::string_view password) const {
  (void)verify(kStandIn, password);
}

bool PasswordHasher::needsRehash(std::string_view stored) const {
  const auto str = terminated(stored);
  if (!str) return false;
  return crypto_pwhash_str_needs_rehash(str->data(), kOpsLimit, kMemLimit) == 1;
}

}  // namespace parley::auth
