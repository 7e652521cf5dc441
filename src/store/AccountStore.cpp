#include "store/AccountStore.h"

namespace parley::store {

std::string accountKey(std::string_view username) {
  std::string key(username);
  for (char& c : key)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return key;
}

}  // namespace parley::store
