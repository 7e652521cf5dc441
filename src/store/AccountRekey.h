// AccountRekey: brings the stored accounts to this binary's accountKey() rule, once when keys
// became confusable skeletons (they were the name with ASCII letters lowered) and again whenever
// the rule changes (a new ICU brings new confusables). Plans only: each schema file
// (SqliteSchema, PostgresSchema) runs the plan inside its migration transaction. Never drops an
// account: two accounts whose names now share a key both stay, ranked by age.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace parley::store {

// An account as stored: (key, rank) is its primary key.
struct StoredAccountKey {
  std::string key;
  std::int64_t rank = 0;
  std::string username;
};

// One account whose row must change: its key, its rank, or its name (to NFC).
struct AccountKeyChange {
  std::string oldKey;
  std::int64_t oldRank = 0;
  std::string newKey;
  std::int64_t newRank = 0;
  std::string newUsername;
};

struct AccountRekeyPlan {
  std::vector<AccountKeyChange> changes;  // only the rows that change
  std::size_t accounts = 0;
  std::size_t sharing = 0;  // accounts whose key an older account holds (rank above 0)
};

// `oldestFirst`: every account, by registration time (then old key and rank: a total order, so
// every server plans the same). Each gets accountKey(nfcName(username)) and the rank of its age
// among the accounts with that key: 0 for the oldest, which holds the key (a new registration of
// any name with that key is refused), 1, 2, ... for younger ones (they keep logging in by their
// own names: accountsNamed).
AccountRekeyPlan planAccountRekey(std::span<const StoredAccountKey> oldestFirst);

}  // namespace parley::store
