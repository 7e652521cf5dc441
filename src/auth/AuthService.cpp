#include "auth/AuthService.h"

#include <cstdio>
#include <string>
#include <utility>

#include "auth/AccountDirectory.h"
#include "auth/PasswordHasher.h"
#include "auth/TokenService.h"

namespace parley::auth {

AuthService::AuthService(std::unique_ptr<store::AccountStore> accounts, AccountDirectory& names,
                         const PasswordHasher& hasher, const TokenService& tokens,
                         std::function<std::int64_t()> nowMillis, std::size_t maxQueued,
                         const LoginLimits& limits, std::size_t maxMemoryAccounts)
    : accounts_(std::move(accounts)),
      maxMemoryAccounts_(maxMemoryAccounts),
      policy_(limits),
      names_(names),
      hasher_(hasher),
      tokens_(tokens),
      nowMillis_(std::move(nowMillis)),
      worker_("auth", maxQueued, [this](Job& job, bool stopping) { run(job, stopping); }) {
  // (The worker's thread waits for jobs, which only come after construction: loading the names
  // here, before any submit, races nothing.)
  if (accounts_) names_.load(*accounts_);
}

AuthService::~AuthService() = default;

bool AuthService::registerAccount(std::string username, std::string password, Done done) {
  return worker_.submit({true, std::move(username), std::move(password), {}, std::move(done)});
}

bool AuthService::login(std::string username, std::string password, std::string address,
                        Done done) {
  return worker_.submit(
      {false, std::move(username), std::move(password), std::move(address), std::move(done)});
}

void AuthService::run(Job& job, bool stopping) {
  // At shutdown the queue is answered, not hashed: each hash would delay the exit ~0.1 s.
  AuthResult result;
  if (stopping)
    result.error = "server is shutting down";
  else
    result = handle(job);
  // The client hears "try again later"; the operator hears why.
  if (!stopping && result.outcome == AuthOutcome::Unavailable)
    std::fprintf(stderr, "auth: %s failed: %s\n", job.registering ? "register" : "login",
                 result.error.c_str());
  job.done(std::move(result));
}

store::StoreStatus AuthService::find(const std::string& key, std::vector<store::Account>& out) {
  if (accounts_) return accounts_->findAccounts(key, out);
  out.clear();
  if (auto it = memory_.find(key); it != memory_.end()) out.push_back(it->second);
  return {};
}

store::StoreStatus AuthService::create(const store::Account& account, bool& created) {
  if (accounts_) return accounts_->createAccount(account, created);
  created = false;
  if (memory_.size() >= maxMemoryAccounts_ && !memory_.contains(account.key))
    return store::StoreStatus::failure("no room for more accounts: --db none keeps at most " +
                                       std::to_string(maxMemoryAccounts_) + " in memory");
  created = memory_.emplace(account.key, account).second;
  return {};
}

AuthResult AuthService::issued(std::string username) {
  AuthResult r;
  r.token = tokens_.issue(username, nowMillis_() / 1000, r.expiresAt);
  if (r.token.empty()) {
    r.error = "cannot issue a token (out of memory)";
    return r;
  }
  r.outcome = AuthOutcome::Ok;
  r.username = std::move(username);
  return r;
}

AuthResult AuthService::handle(const Job& job) {
  AuthResult failed;
  store::Account account;
  account.key = store::accountKey(job.username);
  std::vector<store::Account> existing;  // the accounts whose names look like this one
  if (job.registering) {
    // Checked before hashing: a taken name costs a lookup, not 100 ms of CPU.
    if (auto st = find(account.key, existing); !st.ok) {
      failed.error = st.error;
      return failed;
    }
    if (!existing.empty()) {
      failed.outcome = AuthOutcome::UsernameTaken;
      return failed;
    }
    account.username = job.username;
    account.passwordHash = hasher_.hash(job.password);
    if (account.passwordHash.empty()) {
      failed.error = "cannot hash the password (out of memory)";
      return failed;
    }
    account.createdMillis = nowMillis_();
    bool created = false;
    if (auto st = create(account, created); !st.ok) {
      failed.error = st.error;
      return failed;
    }
    if (!created) {
      // Registered meanwhile by another server, or by this very insert when a lost connection
      // made the store run it twice: only our own hash tells the two apart.
      if (auto st = find(account.key, existing); !st.ok) {
        failed.error = st.error;
        return failed;
      }
      if (existing.empty() || existing.front().passwordHash != account.passwordHash) {
        failed.outcome = AuthOutcome::UsernameTaken;
        return failed;
      }
    }
    names_.add(account.key);
    return issued(std::move(account.username));
  }

  // Decided before the account is looked up, by the name typed: a name without an account is
  // refused exactly as one with an account is (same code, same Retry-After, no store call).
  const std::int64_t nowMs = nowMillis_();
  if (const std::int64_t wait = policy_.admit(account.key, job.address, nowMs); wait > 0) {
    failed.outcome = AuthOutcome::TooManyFailures;
    failed.retryAfter = wait;
    return failed;
  }
  if (auto st = find(account.key, existing); !st.ok) {
    failed.error = st.error;
    return failed;
  }
  // Usually one; more only for accounts of an older naming rule whose names now look alike:
  // each keeps its password (store::accountsNamed).
  const std::vector<const store::Account*> named = store::accountsNamed(existing, job.username);
  if (named.empty()) {
    // As slow as a wrong password: the answer's timing must not tell which names exist.
    hasher_.verifyNothing(job.password);
    policy_.failed(account.key, job.address, nowMs);
    failed.outcome = AuthOutcome::InvalidCredentials;
    return failed;
  }
  for (const store::Account* candidate : named) {
    if (!hasher_.verify(candidate->passwordHash, job.password)) continue;
    policy_.succeeded(account.key, job.address, nowMs);
    return issued(candidate->username);
  }
  policy_.failed(account.key, job.address, nowMs);
  failed.outcome = AuthOutcome::InvalidCredentials;
  return failed;
}

}  // namespace parley::auth
