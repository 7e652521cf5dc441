#include "auth/AccountDirectory.h"

#include <mutex>
#include <stdexcept>
#include <vector>

namespace parley::auth {

void AccountDirectory::load(store::AccountStore& accounts, std::size_t pageSize) {
  std::vector<std::string> page;
  std::string after;
  for (;;) {
    if (store::StoreStatus st = accounts.accountKeys(after, pageSize, page); !st.ok)
      throw std::runtime_error("cannot read the accounts: " + st.error);
    for (auto& key : page)
      if (!add(key)) return;
    if (page.size() < pageSize) return;
    after = page.back();
  }
}

bool AccountDirectory::hasName(std::string_view name) const {
  if (count_.load(std::memory_order_acquire) == 0) return false;
  const std::string key = store::accountKey(name);
  std::shared_lock lock(mutex_);
  return keys_.find(key) != keys_.end();
}

bool AccountDirectory::add(std::string key) {
  std::unique_lock lock(mutex_);
  if (keys_.size() >= maxNames_) return keys_.contains(key);
  if (keys_.insert(std::move(key)).second) count_.store(keys_.size(), std::memory_order_release);
  return true;
}

std::size_t AccountDirectory::size() const {
  std::shared_lock lock(mutex_);
  return keys_.size();
}

bool AccountDirectory::full() const {
  std::shared_lock lock(mutex_);
  return keys_.size() >= maxNames_;
}

}  // namespace parley::auth
