// StringHash: the hash for maps keyed by std::string that are searched with a std::string_view,
// so no string is built per lookup on a hot path:
//   std::unordered_map<std::string, V, StringHash, std::equal_to<>>
// Holds no state and never allocates.
#pragma once

#include <cstddef>
#include <functional>
#include <string_view>

namespace parley::store {

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

}  // namespace parley::store
