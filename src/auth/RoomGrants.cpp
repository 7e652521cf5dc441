#include "auth/RoomGrants.h"

namespace parley::auth {

bool RoomGrants::add(std::string_view pattern, GrantLevel access) {
  if (pattern.empty() || access == GrantLevel::None) return false;
  const auto star = pattern.find('*');
  if (star == std::string_view::npos) {
    for (auto& [name, a] : exact_)
      if (name == pattern) {
        a = access;  // a JSON object's later duplicate wins, as in most parsers
        return true;
      }
    exact_.emplace_back(pattern, access);
    return true;
  }
  if (star != pattern.size() - 1) return false;
  pattern.remove_suffix(1);
  for (auto& [prefix, a] : prefixes_)
    if (prefix == pattern) {
      a = access;
      return true;
    }
  prefixes_.emplace_back(pattern, access);
  return true;
}

GrantLevel RoomGrants::access(std::string_view room) const {
  for (const auto& [name, a] : exact_)
    if (name == room) return a;
  GrantLevel best = GrantLevel::None;
  std::size_t bestLength = 0;
  bool found = false;
  for (const auto& [prefix, a] : prefixes_)
    if (room.starts_with(prefix) && (!found || prefix.size() > bestLength)) {
      best = a;
      bestLength = prefix.size();
      found = true;
    }
  return best;
}

}  // namespace parley::auth
