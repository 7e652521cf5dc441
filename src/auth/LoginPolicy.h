// LoginPolicy: when a login may have its password checked (docs/OPERATIONS.md, "Accounts").
// Keyed by the name typed (its account key) whether or not it has an account, so a refusal never
// says which names exist; and no one but the owner's own addresses can keep an owner out. Never
// looks at passwords, never hashes; not thread-safe (the auth thread's alone).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "auth/LoginPairs.h"
#include "auth/LoginThrottle.h"

namespace parley::auth {

struct LoginLimits {
  // Wrong passwords in a row from one address for one name before it must wait; then it waits
  // firstDelay, doubled after each further wrong one, up to maxDelay. A right one starts again.
  int freeFailures = 5;
  std::int64_t firstDelayMs = 4'000;
  std::int64_t maxDelayMs = 15 * 60'000;
  std::int64_t forgetFailuresMs = 24 * 3'600'000;  // a day after a pair's last wrong password
  // Wrong passwords per hour for one name, from addresses that have not got into it lately (a
  // bucket of as many): the bound on guessing from many addresses. When it is spent, only
  // addresses that got in within `trustMs` may try, and they still get in.
  double accountBudgetPerHour = 30;
  std::int64_t trustMs = 30LL * 86'400'000;
  // Memory: ~150 bytes a pair, ~100 an account budget (~25 MB with everything full).
  std::size_t maxFailingPairs = 65'536;
  std::size_t maxTrustedPairs = 65'536;
  std::size_t maxAccounts = 65'536;
};

class LoginPolicy {
 public:
  // Throws std::invalid_argument for limits that mean nothing (start-up only).
  explicit LoginPolicy(const LoginLimits& limits);

  // 0 when a login for `key` from `address` may be checked now; otherwise the whole seconds
  // (>= 1) until it may. Changes nothing.
  std::int64_t admit(std::string_view key, std::string_view address, std::int64_t nowMs) const;
  // The outcome of a checked login (a name without an account fails like a wrong password).
  void failed(std::string_view key, std::string_view address, std::int64_t nowMs);
  void succeeded(std::string_view key, std::string_view address, std::int64_t nowMs);

  const LoginPairs& pairs() const { return pairs_; }

 private:
  bool trusted(const LoginPairs::State* pair, std::int64_t nowMs) const;

  const LoginLimits limits_;
  LoginPairs pairs_;
  LoginThrottle accountBudget_;  // wrong passwords from untrusted addresses, by account key
};

}  // namespace parley::auth
