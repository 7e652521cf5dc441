#include "auth/LoginPolicy.h"

#include <algorithm>
#include <stdexcept>

namespace parley::auth {

namespace {

std::int64_t secondsUntil(std::int64_t untilMs, std::int64_t nowMs) {
  return untilMs <= nowMs ? 0 : (untilMs - nowMs + 999) / 1000;
}

}  // namespace

LoginPolicy::LoginPolicy(const LoginLimits& limits)
    : limits_(limits),
      pairs_(limits.maxFailingPairs, limits.maxTrustedPairs),
      accountBudget_(std::max(1.0, limits.accountBudgetPerHour),
                     limits.accountBudgetPerHour / 3600.0, limits.maxAccounts) {
  if (limits.freeFailures < 0 || limits.firstDelayMs < 1000 ||
      limits.maxDelayMs < limits.firstDelayMs || limits.forgetFailuresMs < limits.maxDelayMs ||
      limits.trustMs < 0)
    throw std::invalid_argument("login limits: delays must be at least a second and grow");
}

bool LoginPolicy::trusted(const LoginPairs::State* pair, std::int64_t nowMs) const {
  return pair && pair->lastSuccessMs != 0 && nowMs - pair->lastSuccessMs < limits_.trustMs;
}

std::int64_t LoginPolicy::admit(std::string_view key, std::string_view address,
                                std::int64_t nowMs) const {
  const LoginPairs::State* pair = pairs_.find(key, address);
  std::int64_t wait = pair ? secondsUntil(pair->blockedUntilMs, nowMs) : 0;
  // Owners mistype too: an address that got in lately is slowed by its own pair's delays only.
  if (!trusted(pair, nowMs)) wait = std::max(wait, accountBudget_.wait(key, nowMs));
  return wait;
}

void LoginPolicy::failed(std::string_view key, std::string_view address, std::int64_t nowMs) {
  LoginPairs::State& pair = pairs_.touch(key, address, false);
  if (nowMs - pair.lastFailureMs >= limits_.forgetFailuresMs) pair.failures = 0;
  pair.failures = std::min(pair.failures + 1, 1'000'000);
  pair.lastFailureMs = nowMs;
  if (const int over = pair.failures - limits_.freeFailures; over > 0) {
    // firstDelay << (over - 1), without shifting past the bound.
    std::int64_t delay = limits_.firstDelayMs;
    for (int i = 1; i < over && delay < limits_.maxDelayMs; ++i) delay *= 2;
    pair.blockedUntilMs = nowMs + std::min(delay, limits_.maxDelayMs);
  }
  if (!trusted(&pair, nowMs)) accountBudget_.take(key, nowMs);
}

void LoginPolicy::succeeded(std::string_view key, std::string_view address, std::int64_t nowMs) {
  LoginPairs::State& pair = pairs_.touch(key, address, true);
  pair.failures = 0;
  pair.blockedUntilMs = 0;
  pair.lastSuccessMs = nowMs;
}

}  // namespace parley::auth
