// AuthService: registers and logs in accounts on its own thread (an argon2id hash is ~100 ms
// of CPU and 64 MiB), and issues their tokens. Never hashes on the caller's thread; its queue
// is bounded, and it answers every job it accepts exactly once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "auth/LoginPolicy.h"
#include "store/AccountStore.h"
#include "store/BoundedWorker.h"

namespace parley::auth {

class AccountDirectory;
class PasswordHasher;
class TokenService;

enum class AuthOutcome {
  Ok,
  UsernameTaken,       // register: the name, or one that looks like it, has an account
  InvalidCredentials,  // login: no such account, or the wrong password (never says which)
  TooManyFailures,     // login: too many wrong passwords for this name lately (LoginPolicy); wait
  Unavailable,         // the store failed, or the service is stopping: try again later
};

struct AuthResult {
  AuthOutcome outcome = AuthOutcome::Unavailable;
  std::string username;         // Ok: as registered (login may have been spelled otherwise)
  std::string token;            // Ok
  std::int64_t expiresAt = 0;   // Ok: the token's exp, unix seconds
  std::int64_t retryAfter = 0;  // TooManyFailures: seconds
  std::string error;            // Unavailable: why, for the log
};

class AuthService {
 public:
  using Done = std::function<void(AuthResult)>;               // called on the service's thread
  static constexpr std::size_t kMaxMemoryAccounts = 100'000;  // with --db none

  // `accounts`: the service's own store connection; null keeps accounts in memory (--db none:
  // they go with the process, like the messages). `names` is loaded from it here (start-up:
  // throws if the store cannot be read) and learns every account registered from now on.
  // `nowMillis`: unix time in milliseconds. `limits`: when a login's password is checked
  // (LoginPolicy).
  AuthService(std::unique_ptr<store::AccountStore> accounts, AccountDirectory& names,
              const PasswordHasher& hasher, const TokenService& tokens,
              std::function<std::int64_t()> nowMillis, std::size_t maxQueued,
              const LoginLimits& limits = {}, std::size_t maxMemoryAccounts = kMaxMemoryAccounts);
  ~AuthService();  // answers what is still queued with Unavailable, then stops
  AuthService(const AuthService&) = delete;
  AuthService& operator=(const AuthService&) = delete;

  // Any thread. False when the queue is full (`done` is then never called): the caller answers
  // "busy". The username must already be valid (chat::usernameError).
  bool registerAccount(std::string username, std::string password, Done done);
  // `address`: the client's, for the LoginPolicy.
  bool login(std::string username, std::string password, std::string address, Done done);

 private:
  struct Job {
    bool registering = false;
    std::string username;
    std::string password;
    std::string address;  // login only
    Done done;
  };
  void run(Job& job, bool stopping);
  AuthResult handle(const Job& job);
  store::StoreStatus find(const std::string& key, std::vector<store::Account>& out);
  store::StoreStatus create(const store::Account& account, bool& created);
  AuthResult issued(std::string username);

  std::unique_ptr<store::AccountStore> accounts_;
  // When accounts_ is null (--db none); this thread only. Bounded like everything else.
  std::map<std::string, store::Account> memory_;
  std::size_t maxMemoryAccounts_;
  LoginPolicy policy_;  // this thread only
  AccountDirectory& names_;
  const PasswordHasher& hasher_;
  const TokenService& tokens_;
  std::function<std::int64_t()> nowMillis_;
  store::BoundedWorker<Job> worker_;  // last: joined before what its jobs use goes
};

}  // namespace parley::auth
