#include "chat/Names.h"

#include "chat/Protocol.h"

namespace parley::chat {

namespace {

bool isRoomChar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '~' || c == '-';
}

// Decodes one code point of well-formed UTF-8 at s[i]; returns its length, 0 if malformed.
std::size_t decodeUtf8(std::string_view s, std::size_t i, char32_t& cp) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  std::size_t len;
  char32_t min;
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  } else if ((b0 & 0xE0) == 0xC0) {
    len = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

bool isSpace(char32_t cp) {
  return cp == ' ' || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
         cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000 ||
         cp == 0xFEFF;
}

}  // namespace

const char* roomNameError(std::string_view room) {
  if (room.empty()) return "room name is empty";
  if (room.size() > kMaxRoomBytes) return "room name is longer than 64 characters";
  for (unsigned char c : room)
    if (!isRoomChar(c)) return "room name may contain only A-Z a-z 0-9 . _ ~ -";
  return nullptr;
}

const char* usernameError(std::string_view username) {
  if (username.empty()) return "username is empty";
  std::size_t chars = 0;
  char32_t cp = 0;
  char32_t first = 0;
  for (std::size_t i = 0; i < username.size();) {
    const std::size_t len = decodeUtf8(username, i, cp);
    if (len == 0) return "username is not valid UTF-8";
    if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) return "username contains a control character";
    if (chars == 0) first = cp;
    ++chars;
    i += len;
  }
  if (chars > kMaxUsernameChars) return "username is longer than 32 characters";
  if (isSpace(first) || isSpace(cp)) return "username starts or ends with white space";
  return nullptr;
}

}  // namespace parley::chat
