#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

#include "auth/AccountDirectory.h"
#include "auth/AuthService.h"
#include "auth/PasswordHasher.h"
#include "auth/TokenService.h"

namespace parley::auth {
namespace {

constexpr std::int64_t kNow = 1'700'000'000;

// Collects the answers the service gives on its thread.
class Answers {
 public:
  AuthService::Done collector() {
    return [this](AuthResult r) {
      std::lock_guard lock(mu_);
      got_.push_back(std::move(r));
      cv_.notify_all();
    };
  }
  // The n-th answer (0-based), waiting for it.
  AuthResult at(std::size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(20), [&] { return got_.size() > n; });
    if (got_.size() <= n) return {};
    return got_[n];
  }
  std::size_t count() {
    std::lock_guard lock(mu_);
    return got_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<AuthResult> got_;
};

struct Fixture {
  PasswordHasher hasher;
  TokenService tokens{"0123456789abcdef0123456789abcdef", 3600};
  AccountDirectory names;
  Answers answers;
  std::atomic<std::int64_t> now{kNow};
  std::unique_ptr<AuthService> make(std::size_t maxQueued = 8, std::size_t maxMemory = 100,
                                    const LoginLimits& limits = {}) {
    return std::make_unique<AuthService>(
        nullptr, names, hasher, tokens, [this] { return now.load() * 1000; }, maxQueued, limits,
        maxMemory);
  }
};

TEST(AuthService, RegisterThenLoginInAnyCaseIssuesTokensForTheRegisteredName) {
  Fixture f;
  auto service = f.make();
  ASSERT_TRUE(service->registerAccount("Alice", "correct horse", f.answers.collector()));
  const AuthResult reg = f.answers.at(0);
  ASSERT_EQ(reg.outcome, AuthOutcome::Ok) << reg.error;
  EXPECT_EQ(reg.username, "Alice");
  EXPECT_EQ(reg.expiresAt, kNow + 3600);
  const TokenCheck check = f.tokens.verify(reg.token, kNow);
  EXPECT_EQ(check.status, TokenStatus::Valid);
  EXPECT_EQ(check.username, "Alice");
  EXPECT_TRUE(f.names.hasName("alice"));  // reserved from now on

  ASSERT_TRUE(service->login("ALICE", "correct horse", "10.0.0.1", f.answers.collector()));
  const AuthResult login = f.answers.at(1);
  ASSERT_EQ(login.outcome, AuthOutcome::Ok) << login.error;
  EXPECT_EQ(login.username, "Alice");

  ASSERT_TRUE(service->registerAccount("alice", "another one", f.answers.collector()));
  EXPECT_EQ(f.answers.at(2).outcome, AuthOutcome::UsernameTaken);
  ASSERT_TRUE(service->login("Alice", "wrong horse", "10.0.0.1", f.answers.collector()));
  EXPECT_EQ(f.answers.at(3).outcome, AuthOutcome::InvalidCredentials);
  ASSERT_TRUE(service->login("Nobody", "correct horse", "10.0.0.1", f.answers.collector()));
  EXPECT_EQ(f.answers.at(4).outcome, AuthOutcome::InvalidCredentials);
  EXPECT_TRUE(f.answers.at(4).token.empty());
}

// Logs in and returns the answer (each login is the next answer).
AuthResult loginAs(Fixture& f, AuthService& service, std::size_t& n, const std::string& name,
                   const std::string& password, const std::string& address) {
  EXPECT_TRUE(service.login(name, password, address, f.answers.collector()));
  return f.answers.at(n++);
}

TEST(AuthService, WrongPasswordsSlowTheirAddressOnlyAndTheOwnerGetsInFromAnother) {
  Fixture f;
  auto service = f.make(32);
  ASSERT_TRUE(service->registerAccount("Bob", "bob password", f.answers.collector()));
  ASSERT_EQ(f.answers.at(0).outcome, AuthOutcome::Ok);
  std::size_t n = 1;
  const LoginLimits limits;
  for (int i = 0; i <= limits.freeFailures; ++i)
    EXPECT_EQ(loginAs(f, *service, n, "bob", "guess " + std::to_string(i), "10.0.0.66").outcome,
              AuthOutcome::InvalidCredentials);
  // Past the free ones: that address waits for this name, even with the right password...
  const AuthResult waiting = loginAs(f, *service, n, "Bob", "bob password", "10.0.0.66");
  EXPECT_EQ(waiting.outcome, AuthOutcome::TooManyFailures);
  EXPECT_EQ(waiting.retryAfter, limits.firstDelayMs / 1000);
  // ...while the owner, elsewhere, gets in; and the guesser may try other names.
  EXPECT_EQ(loginAs(f, *service, n, "Bob", "bob password", "10.0.0.1").outcome, AuthOutcome::Ok);
  EXPECT_EQ(loginAs(f, *service, n, "carol", "guess", "10.0.0.66").outcome,
            AuthOutcome::InvalidCredentials);
  EXPECT_EQ(loginAs(f, *service, n, "bob", "guess", "10.0.0.66").outcome,
            AuthOutcome::TooManyFailures);
  // After the wait, one more guess, and twice the wait.
  f.now += limits.firstDelayMs / 1000;
  EXPECT_EQ(loginAs(f, *service, n, "bob", "guess", "10.0.0.66").outcome,
            AuthOutcome::InvalidCredentials);
  EXPECT_EQ(loginAs(f, *service, n, "bob", "guess", "10.0.0.66").retryAfter,
            2 * limits.firstDelayMs / 1000);
}

TEST(AuthService, ANameWithoutAnAccountIsThrottledExactlyLikeOneWithAnAccount) {
  Fixture f;
  LoginLimits limits;
  limits.accountBudgetPerHour = 8;
  auto service = f.make(32, 100, limits);
  ASSERT_TRUE(service->registerAccount("Bob", "bob password", f.answers.collector()));
  ASSERT_EQ(f.answers.at(0).outcome, AuthOutcome::Ok);
  std::size_t n = 1;
  // The same guesses at a name with an account and at one without, from one address and then
  // from several (the name's budget): every answer and every wait the same.
  auto guesses = [&](const std::string& name) {
    std::vector<std::pair<AuthOutcome, std::int64_t>> seen;
    for (int i = 0; i < limits.freeFailures + 2; ++i) {
      const AuthResult r = loginAs(f, *service, n, name, "wrong password", "10.0.0.9");
      seen.emplace_back(r.outcome, r.retryAfter);
    }
    for (int i = 0; i < 4; ++i) {
      const AuthResult r =
          loginAs(f, *service, n, name, "wrong password", "10.0.1." + std::to_string(i));
      seen.emplace_back(r.outcome, r.retryAfter);
    }
    return seen;
  };
  const auto known = guesses("bob");
  const auto unknown = guesses("nobody");
  EXPECT_EQ(known, unknown);
  // (6 checked, then the address waits; 2 more from elsewhere spend the budget of 8.)
  EXPECT_EQ(known[limits.freeFailures + 1].first, AuthOutcome::TooManyFailures);
  EXPECT_EQ(known.back().first, AuthOutcome::TooManyFailures);
  EXPECT_EQ(known.back().second, 3600 / 8);
}

TEST(AuthService, WhenANamesBudgetIsSpentAnAddressItLoggedInFromStillGetsIn) {
  Fixture f;
  LoginLimits limits;
  limits.accountBudgetPerHour = 3;
  auto service = f.make(32, 100, limits);
  ASSERT_TRUE(service->registerAccount("Dana", "dana password", f.answers.collector()));
  ASSERT_EQ(f.answers.at(0).outcome, AuthOutcome::Ok);
  std::size_t n = 1;
  ASSERT_EQ(loginAs(f, *service, n, "dana", "dana password", "192.0.2.7").outcome, AuthOutcome::Ok);
  // Three guessers, one guess each: the budget is spent.
  for (const char* guesser : {"10.0.0.1", "10.0.0.2", "10.0.0.3"})
    EXPECT_EQ(loginAs(f, *service, n, "dana", "guess", guesser).outcome,
              AuthOutcome::InvalidCredentials);
  // A new address waits, whatever the password (20 minutes: a third of an hour per guess)...
  const AuthResult fresh = loginAs(f, *service, n, "dana", "dana password", "10.0.0.4");
  EXPECT_EQ(fresh.outcome, AuthOutcome::TooManyFailures);
  EXPECT_EQ(fresh.retryAfter, 1200);
  // ...the owner's address does not, and its own typo spends nothing of the budget.
  EXPECT_EQ(loginAs(f, *service, n, "dana", "typo", "192.0.2.7").outcome,
            AuthOutcome::InvalidCredentials);
  EXPECT_EQ(loginAs(f, *service, n, "dana", "dana password", "192.0.2.7").outcome, AuthOutcome::Ok);
  f.now += 1200;  // a guess's worth refilled
  EXPECT_EQ(loginAs(f, *service, n, "dana", "dana password", "10.0.0.4").outcome, AuthOutcome::Ok);
}

TEST(AuthService, ANameThatLooksLikeATakenOneIsTakenAndLogsInToIt) {
  Fixture f;
  auto service = f.make();
  ASSERT_TRUE(service->registerAccount("Carol", "carol password", f.answers.collector()));
  ASSERT_EQ(f.answers.at(0).outcome, AuthOutcome::Ok);
  std::size_t n = 1;
  for (const char* lookalike : {"C\xd0\xb0rol",
                                "\xd0\xa1"
                                "arol",
                                "CAROL", "Car\xce\xbfl"}) {
    ASSERT_TRUE(service->registerAccount(lookalike, "another password", f.answers.collector()));
    EXPECT_EQ(f.answers.at(n++).outcome, AuthOutcome::UsernameTaken) << lookalike;
    EXPECT_TRUE(f.names.hasName(lookalike)) << lookalike;
  }
  // One account has the look: any spelling of it is that account, with its password only.
  const AuthResult in = loginAs(f, *service, n,
                                "\xd0\xa1"
                                "arol",
                                "carol password", "10.0.0.1");
  EXPECT_EQ(in.outcome, AuthOutcome::Ok);
  EXPECT_EQ(in.username, "Carol");
  EXPECT_EQ(loginAs(f, *service, n,
                    "\xd0\xa1"
                    "arol",
                    "another password", "10.0.0.1")
                .outcome,
            AuthOutcome::InvalidCredentials);
}

TEST(AuthService, AccountsKeptInMemoryAreBounded) {
  Fixture f;
  auto service = f.make(8, 1);
  ASSERT_TRUE(service->registerAccount("first", "password 1", f.answers.collector()));
  ASSERT_TRUE(service->registerAccount("second", "password 2", f.answers.collector()));
  EXPECT_EQ(f.answers.at(0).outcome, AuthOutcome::Ok);
  const AuthResult full = f.answers.at(1);
  EXPECT_EQ(full.outcome, AuthOutcome::Unavailable);
  EXPECT_NE(full.error.find("no room for more accounts"), std::string::npos) << full.error;
  EXPECT_FALSE(f.names.hasName("second"));
}

TEST(AuthService, TheQueueIsBoundedAndEveryAcceptedJobIsAnsweredOnceEvenAtShutdown) {
  Fixture f;
  auto service = f.make(/*maxQueued=*/1);
  // Each hash takes ~0.1 s: one is hashing, one waits, the rest are refused at once.
  std::size_t accepted = 0;
  for (int i = 0; i < 4; ++i)
    if (service->login("user" + std::to_string(i), "a password", "10.0.0.1", f.answers.collector()))
      ++accepted;
  EXPECT_GE(accepted, 1u);
  EXPECT_LE(accepted, 2u);
  service.reset();  // answers what still waits, without hashing it
  EXPECT_EQ(f.answers.count(), accepted);
  for (std::size_t i = 0; i < accepted; ++i) {
    const AuthOutcome o = f.answers.at(i).outcome;
    EXPECT_TRUE(o == AuthOutcome::InvalidCredentials || o == AuthOutcome::Unavailable);
  }
}

}  // namespace
}  // namespace parley::auth
