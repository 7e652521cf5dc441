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
  std::unique_ptr<AuthService> make(std::size_t maxQueued = 8, std::size_t maxMemory = 100) {
    return std::make_unique<AuthService>(
        nullptr, names, hasher, tokens, [this] { return now.load(); }, maxQueued, maxMemory);
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

  ASSERT_TRUE(service->login("ALICE", "correct horse", f.answers.collector()));
  const AuthResult login = f.answers.at(1);
  ASSERT_EQ(login.outcome, AuthOutcome::Ok) << login.error;
  EXPECT_EQ(login.username, "Alice");

  ASSERT_TRUE(service->registerAccount("alice", "another one", f.answers.collector()));
  EXPECT_EQ(f.answers.at(2).outcome, AuthOutcome::UsernameTaken);
  ASSERT_TRUE(service->login("Alice", "wrong horse", f.answers.collector()));
  EXPECT_EQ(f.answers.at(3).outcome, AuthOutcome::InvalidCredentials);
  ASSERT_TRUE(service->login("Nobody", "correct horse", f.answers.collector()));
  EXPECT_EQ(f.answers.at(4).outcome, AuthOutcome::InvalidCredentials);
  EXPECT_TRUE(f.answers.at(4).token.empty());
}

TEST(AuthService, WrongPasswordsForOneAccountAreLimitedWhateverTheirAddress) {
  Fixture f;
  auto service = f.make(32);
  ASSERT_TRUE(service->registerAccount("Bob", "bob password", f.answers.collector()));
  ASSERT_EQ(f.answers.at(0).outcome, AuthOutcome::Ok);
  const int burst = static_cast<int>(AuthService::kFailureBurst);
  for (int i = 0; i < burst; ++i)
    ASSERT_TRUE(service->login("bob", "guess " + std::to_string(i), f.answers.collector()));
  for (int i = 1; i <= burst; ++i)
    EXPECT_EQ(f.answers.at(i).outcome, AuthOutcome::InvalidCredentials);
  // Past the burst: refused before any hashing, the right password too, until a minute passes.
  ASSERT_TRUE(service->login("bob", "bob password", f.answers.collector()));
  const AuthResult locked = f.answers.at(burst + 1);
  EXPECT_EQ(locked.outcome, AuthOutcome::TooManyFailures);
  EXPECT_EQ(locked.retryAfter, 60);
  ASSERT_TRUE(service->login("nobody", "guess", f.answers.collector()));  // other names: unaffected
  EXPECT_EQ(f.answers.at(burst + 2).outcome, AuthOutcome::InvalidCredentials);
  f.now += 60;
  ASSERT_TRUE(service->login("bob", "bob password", f.answers.collector()));
  EXPECT_EQ(f.answers.at(burst + 3).outcome, AuthOutcome::Ok);
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
    if (service->login("user" + std::to_string(i), "a password", f.answers.collector())) ++accepted;
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
