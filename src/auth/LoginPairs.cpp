#include "auth/LoginPairs.h"

#include <stdexcept>

namespace parley::auth {

LoginPairs::LoginPairs(std::size_t maxFailing, std::size_t maxTrusted)
    : maxFailing_(maxFailing), maxTrusted_(maxTrusted) {
  if (maxFailing < 1 || maxTrusted < 1)
    throw std::invalid_argument("login pairs: each list must hold at least one pair");
}

std::string LoginPairs::idOf(std::string_view key, std::string_view address) {
  std::string id = std::to_string(key.size());
  id += ':';
  id += key;
  id += address;
  return id;
}

const LoginPairs::State* LoginPairs::find(std::string_view key, std::string_view address) const {
  const auto it = index_.find(idOf(key, address));
  return it == index_.end() ? nullptr : &it->second.it->state;
}

void LoginPairs::makeRoom(Lru& list) {
  const std::size_t cap = &list == &trusted_ ? maxTrusted_ : maxFailing_;
  if (list.size() < cap) return;
  index_.erase(list.back().id);
  list.pop_back();
}

LoginPairs::State& LoginPairs::touch(std::string_view key, std::string_view address, bool trusted) {
  const std::string id = idOf(key, address);
  if (auto found = index_.find(id); found != index_.end()) {
    Where& where = found->second;
    // A pair that got in stays with those that did (its failures since are still counted).
    Lru& to = where.list == &trusted_ || trusted ? trusted_ : failing_;
    if (&to != where.list) makeRoom(to);  // never the moving entry: it is in the other list
    // splice keeps the node, so the index's view of its id stays valid.
    to.splice(to.begin(), *where.list, where.it);
    where = {&to, to.begin()};
    return to.front().state;
  }
  Lru& to = trusted ? trusted_ : failing_;
  makeRoom(to);
  to.push_front(Entry{id, {}});
  index_.emplace(to.front().id, Where{&to, to.begin()});
  return to.front().state;
}

}  // namespace parley::auth
