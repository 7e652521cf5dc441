#include "store/AccountRekey.h"

#include <unordered_map>

#include "store/AccountStore.h"
#include "store/StringHash.h"

namespace parley::store {

AccountRekeyPlan planAccountRekey(std::span<const StoredAccountKey> oldestFirst) {
  AccountRekeyPlan plan;
  plan.accounts = oldestFirst.size();
  std::unordered_map<std::string, std::int64_t, StringHash, std::equal_to<>> taken;
  for (const StoredAccountKey& row : oldestFirst) {
    std::string username = nfcName(row.username);
    std::string key = accountKey(username);
    const std::int64_t rank = taken[key]++;
    if (rank > 0) ++plan.sharing;
    if (key == row.key && rank == row.rank && username == row.username) continue;
    plan.changes.push_back({row.key, row.rank, std::move(key), rank, std::move(username)});
  }
  return plan;
}

}  // namespace parley::store
