#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "auth/LoginPairs.h"
#include "auth/LoginPolicy.h"

namespace parley::auth {
namespace {

constexpr std::int64_t kT0 = 1'700'000'000'000;  // ms

LoginLimits smallLimits() {
  LoginLimits l;
  l.freeFailures = 2;
  l.firstDelayMs = 1'000;
  l.maxDelayMs = 8'000;
  l.forgetFailuresMs = 60'000;
  l.accountBudgetPerHour = 3600;  // one a second: out of the way unless a test spends it
  l.trustMs = 100'000;
  return l;
}

TEST(LoginPolicy, FreeFailuresThenDelaysThatDoubleUpToTheCap) {
  LoginPolicy policy(smallLimits());
  std::int64_t now = kT0;
  EXPECT_EQ(policy.admit("bob", "a", now), 0);
  policy.failed("bob", "a", now);
  EXPECT_EQ(policy.admit("bob", "a", now), 0);
  policy.failed("bob", "a", now);
  EXPECT_EQ(policy.admit("bob", "a", now), 0);  // two free
  for (std::int64_t expected : {1, 2, 4, 8, 8, 8}) {
    policy.failed("bob", "a", now);
    EXPECT_EQ(policy.admit("bob", "a", now), expected);
    EXPECT_EQ(policy.admit("bob", "a", now + expected * 1000 - 1), 1);  // rounded up
    now += expected * 1000;
    EXPECT_EQ(policy.admit("bob", "a", now), 0);
  }
}

TEST(LoginPolicy, APairIsItsNameAndItsAddress) {
  LoginPolicy policy(smallLimits());
  for (int i = 0; i < 3; ++i) policy.failed("bob", "a", kT0);
  EXPECT_EQ(policy.admit("bob", "a", kT0), 1);
  EXPECT_EQ(policy.admit("bob", "b", kT0), 0);    // the owner elsewhere
  EXPECT_EQ(policy.admit("carol", "a", kT0), 0);  // the guesser at another name
  // No ambiguity where one string ends and the other starts.
  EXPECT_EQ(policy.admit("bo", "ba", kT0), 0);
}

TEST(LoginPolicy, ARightPasswordStartsThePairAgain) {
  LoginPolicy policy(smallLimits());
  for (int i = 0; i < 4; ++i) policy.failed("bob", "a", kT0);
  EXPECT_EQ(policy.admit("bob", "a", kT0), 2);
  policy.succeeded("bob", "a", kT0 + 2000);
  EXPECT_EQ(policy.admit("bob", "a", kT0 + 2000), 0);
  policy.failed("bob", "a", kT0 + 2000);
  policy.failed("bob", "a", kT0 + 2000);
  EXPECT_EQ(policy.admit("bob", "a", kT0 + 2000), 0);  // the free ones again
}

TEST(LoginPolicy, FailuresAreForgottenLongAfterTheLast) {
  LoginPolicy policy(smallLimits());
  for (int i = 0; i < 5; ++i) policy.failed("bob", "a", kT0);
  EXPECT_EQ(policy.admit("bob", "a", kT0), 4);
  const std::int64_t later = kT0 + 60'000;
  EXPECT_EQ(policy.admit("bob", "a", later), 0);
  policy.failed("bob", "a", later);  // counts as the first again
  EXPECT_EQ(policy.admit("bob", "a", later), 0);
  policy.failed("bob", "a", later + 59'999);
  policy.failed("bob", "a", later + 59'999);
  EXPECT_EQ(policy.admit("bob", "a", later + 59'999), 1);
}

TEST(LoginPolicy, TheNamesBudgetBoundsGuessesFromManyAddresses) {
  LoginLimits limits = smallLimits();
  limits.accountBudgetPerHour = 4;  // 15 minutes a guess
  LoginPolicy policy(limits);
  for (int i = 0; i < 4; ++i) {
    const std::string address = "10.0.0." + std::to_string(i);
    EXPECT_EQ(policy.admit("bob", address, kT0), 0);
    policy.failed("bob", address, kT0);
  }
  EXPECT_EQ(policy.admit("bob", "10.0.0.99", kT0), 900);
  EXPECT_EQ(policy.admit("bob", "10.0.0.0", kT0), 900);  // (its own pair would let it)
  EXPECT_EQ(policy.admit("carol", "10.0.0.99", kT0), 0);
  EXPECT_EQ(policy.admit("bob", "10.0.0.99", kT0 + 900'000), 0);
}

TEST(LoginPolicy, AnAddressThatGotInIsNotHeldByTheBudgetNorSpendsIt) {
  LoginLimits limits = smallLimits();
  limits.accountBudgetPerHour = 2;
  LoginPolicy policy(limits);
  policy.succeeded("bob", "home", kT0);
  policy.failed("bob", "x", kT0);
  policy.failed("bob", "y", kT0);
  EXPECT_GT(policy.admit("bob", "z", kT0), 0);
  EXPECT_EQ(policy.admit("bob", "home", kT0), 0);
  // Its typos are its own: delays after the free ones, and nothing taken from the budget.
  policy.failed("bob", "home", kT0);
  policy.failed("bob", "home", kT0);
  EXPECT_EQ(policy.admit("bob", "home", kT0), 0);
  policy.failed("bob", "home", kT0);
  EXPECT_EQ(policy.admit("bob", "home", kT0), 1);
  EXPECT_EQ(policy.admit("bob", "z", kT0 + 1'800'000), 0);  // half an hour: one guess back
  // Trust lasts trustMs after the last success.
  EXPECT_GT(policy.admit("bob", "home", kT0 + 100'000), 0);
}

TEST(LoginPolicy, RefusesLimitsThatMeanNothing) {
  LoginLimits l = smallLimits();
  l.firstDelayMs = 10;
  EXPECT_THROW(LoginPolicy{l}, std::invalid_argument);
  l = smallLimits();
  l.maxDelayMs = l.firstDelayMs - 1;
  EXPECT_THROW(LoginPolicy{l}, std::invalid_argument);
  l = smallLimits();
  l.accountBudgetPerHour = 0;
  EXPECT_THROW(LoginPolicy{l}, std::invalid_argument);
}

TEST(LoginPairs, EachListIsBoundedAndFailuresNeverPushOutPairsThatGotIn) {
  LoginPairs pairs(3, 2);
  pairs.touch("bob", "home", true).lastSuccessMs = 1;
  for (int i = 0; i < 100; ++i) pairs.touch("bob", "guesser" + std::to_string(i), false);
  EXPECT_EQ(pairs.failing(), 3u);
  EXPECT_EQ(pairs.trusted(), 1u);
  ASSERT_NE(pairs.find("bob", "home"), nullptr);
  EXPECT_EQ(pairs.find("bob", "home")->lastSuccessMs, 1);
  EXPECT_EQ(pairs.find("bob", "guesser0"), nullptr);  // the least recently seen went first
  EXPECT_NE(pairs.find("bob", "guesser99"), nullptr);
  // A failing pair that gets in moves over, within that list's bound.
  pairs.touch("bob", "guesser98", true);
  pairs.touch("bob", "guesser97", true);
  EXPECT_EQ(pairs.trusted(), 2u);
  EXPECT_EQ(pairs.failing(), 1u);
  EXPECT_EQ(pairs.find("bob", "home"), nullptr);
  // A trusted pair's failures keep it with the trusted.
  pairs.touch("bob", "guesser98", false).failures = 7;
  EXPECT_EQ(pairs.trusted(), 2u);
  EXPECT_EQ(pairs.find("bob", "guesser98")->failures, 7);
}

TEST(LoginPairs, RefusesEmptyLists) {
  EXPECT_THROW(LoginPairs(0, 1), std::invalid_argument);
  EXPECT_THROW(LoginPairs(1, 0), std::invalid_argument);
}

}  // namespace
}  // namespace parley::auth
