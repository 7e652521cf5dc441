// AccountStore: the registered names and their password hashes (what auth/ keeps), beside the
// messages in the same database. Blocking calls made only from the auth thread (and at start-up):
// never from an event loop. Never sees a password, only the hasher's output.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/StoreStatus.h"

namespace parley::store {

// A registered name. `key` is the name with ASCII letters lowered: names differing only in ASCII
// case are one account, so "Alice" cannot be registered beside "alice".
struct Account {
  std::string key;
  std::string username;      // as registered
  std::string passwordHash;  // the hasher's self-describing string (argon2id)
  std::int64_t createdMillis = 0;
};

// The account key of a name: ASCII letters lowered, every other byte kept.
std::string accountKey(std::string_view username);

class AccountStore {
 public:
  virtual ~AccountStore() = default;

  // Inserts `account` unless its key is taken (`created` false then, and nothing changes).
  virtual StoreStatus createAccount(const Account& account, bool& created) = 0;
  // The account with `key` (nullopt: no such account).
  virtual StoreStatus findAccount(std::string_view key, std::optional<Account>& out) = 0;
  // Account keys greater than `afterKey`, ascending by bytes, at most `limit` (pages through them
  // all).
  virtual StoreStatus accountKeys(std::string_view afterKey, std::size_t limit,
                                  std::vector<std::string>& out) = 0;
};

}  // namespace parley::store
