// AccountStore: the registered names and their password hashes (what auth/ keeps), beside the
// messages in the same database, and the rule that says when two names are one (accountKey).
// Blocking calls made only from the auth thread (and at start-up): never from an event loop.
// Never sees a password, only the hasher's output. ICU stays in AccountStore.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "store/StoreStatus.h"

namespace parley::store {

// A registered name. `key` is accountKey(username): names that look alike share a key and so are
// one name, which only one account may take.
struct Account {
  std::string key;
  std::string username;      // as registered (NFC)
  std::string passwordHash;  // the hasher's self-describing string (argon2id)
  std::int64_t createdMillis = 0;
};

// The account key of a name: what it looks like, as UTS #39 (Unicode's confusable detection)
// sees it, whatever its case. NFKC_Casefold (case, compatibility forms such as "ﬁ" or fullwidth
// letters, invisible default-ignorable characters dropped), then the confusable skeleton, folded
// again, until nothing changes; white space runs become one space. So "Carol", "carol",
// "Сarol" (Cyrillic С), "Carol" with a zero-width space and "Ｃarol" share a key, as do "rn" and
// "m", "0" and "O", Greek "ο" and "o". Not "I" and "l": names are unique ignoring case, and "i"
// and "l" do not look alike. Any thread; 1.4 µs for "Zoë Smith",
// 0.07 µs for "SomeUser42" (ASCII: a table lookup per character).
std::string accountKey(std::string_view username);

// accountKey() computed without its ASCII shortcut (tests compare the two).
std::string accountKeyWithoutTable(std::string_view username);

// `name` in Unicode NFC, the form every registered name is stored in ("e" followed by a
// combining acute becomes "é": the same text to a reader). Any thread.
std::string nfcName(std::string_view name);

// What accountKey() depends on: its own version and ICU's (the confusables and the case folding
// come from ICU's data). A store records the rule its keys were made with and recomputes them
// when a binary with another rule opens it (store/AccountRekey). Throws std::runtime_error when
// ICU cannot make keys (start-up: call it once before serving).
std::string accountKeyRule();

// Which of `candidates` (the accounts sharing the key of `username`, oldest first) a login as
// `username` means: the only one, when there is one (any spelling that looks like its name);
// else those named `username` exactly (NFC), else those named it ignoring case and compatibility
// forms. More than one candidate exists only where accounts registered before names were unique
// by their look now share a key (store/AccountRekey); the login tries each answer's password.
std::vector<const Account*> accountsNamed(std::span<const Account> candidates,
                                          std::string_view username);

class AccountStore {
 public:
  virtual ~AccountStore() = default;

  // Inserts `account` unless its key is taken (`created` false then, and nothing changes).
  virtual StoreStatus createAccount(const Account& account, bool& created) = 0;
  // The accounts with `key`, oldest first: none or one, or several where accounts registered
  // before keys were confusable skeletons now share one (each keeps working: accountsNamed).
  virtual StoreStatus findAccounts(std::string_view key, std::vector<Account>& out) = 0;
  // Account keys greater than `afterKey`, ascending by bytes, each once, at most `limit` (pages
  // through them all).
  virtual StoreStatus accountKeys(std::string_view afterKey, std::size_t limit,
                                  std::vector<std::string>& out) = 0;
};

}  // namespace parley::store
