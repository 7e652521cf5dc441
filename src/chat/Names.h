// Names: the rules for room names and usernames (docs/PROTOCOL.md, "Connecting").
// Checks only; never rewrites a name into something the user did not send.
#pragma once

#include <string_view>

namespace parley::chat {

inline constexpr std::size_t kMaxRoomBytes = 64;
inline constexpr std::size_t kMaxUsernameChars = 32;

// Each returns nullptr when the (already percent-decoded) name is acceptable, else a reason.
const char* roomNameError(std::string_view room);
const char* usernameError(std::string_view username);

}  // namespace parley::chat
