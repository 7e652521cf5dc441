// Names: the rules for room names and usernames (docs/PROTOCOL.md, "Connecting"). Checks, and
// gives a username its Unicode NFC form (canonically equivalent text: the same to a reader, so one
// name has one spelling in presence, messages and tokens). Never rewrites a name into anything a
// reader could tell from what was sent; never decides who owns a name (store::accountKey does).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace parley::chat {

inline constexpr std::size_t kMaxRoomBytes = 64;
inline constexpr std::size_t kMaxUsernameChars = 32;

// nullptr when the (already percent-decoded) room name is acceptable, else the reason.
const char* roomNameError(std::string_view room);

// nullptr when the (already percent-decoded) username is acceptable, and `nfc` then holds its NFC
// form; else the reason. Refused, besides bad UTF-8, control characters, more than 32 characters
// and white space at either end: characters a reader cannot see or that change how the rest is
// shown (bidirectional controls such as U+202E, format characters and other default-ignorable
// code points such as a zero-width space or a soft hyphen, variation selectors and zero-width
// joiners outside emoji sequences), unassigned and private-use code points, and combining marks
// repeated or hidden in the letter under them. ASCII names cost no more than before (no ICU call).
const char* checkUsername(std::string_view username, std::string& nfc);
// The same check, where the form does not matter.
const char* usernameError(std::string_view username);

}  // namespace parley::chat
