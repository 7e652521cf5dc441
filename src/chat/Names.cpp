#include "chat/Names.h"

#include <unicode/uchar.h>
#include <unicode/uspoof.h>

#include <memory>

#include "store/AccountStore.h"

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

bool isControl(char32_t cp) { return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F); }

// White space, and the braille blank, which looks like it.
bool isBlank(char32_t cp) {
  return cp == ' ' || (cp >= 0x80 && (u_isUWhiteSpace(static_cast<UChar32>(cp)) || cp == 0x2800));
}

bool has(char32_t cp, UProperty property) {
  return u_hasBinaryProperty(static_cast<UChar32>(cp), property);
}

// Emoji sequences are where invisible joiners and variation selectors belong: a zero-width
// joiner between pictographs (after a skin tone or an emoji presentation selector too), as in
// the family or rainbow-flag emoji; U+FE0E/U+FE0F after a character with an emoji form. (The
// account key drops both, so they make no name of their own.)
bool joinsEmoji(char32_t before, char32_t after) {
  return (has(before, UCHAR_EXTENDED_PICTOGRAPHIC) || has(before, UCHAR_EMOJI_MODIFIER) ||
          before == 0xFE0F) &&
         has(after, UCHAR_EXTENDED_PICTOGRAPHIC);
}

// Why the non-ASCII `cp` (between `before` and `after`, 0 at either end) may not be in a name.
const char* characterError(char32_t before, char32_t cp, char32_t after) {
  if (isControl(cp)) return "username contains a control character";
  if (has(cp, UCHAR_BIDI_CONTROL))
    return "username contains a bidirectional control character (such as U+202E, which shows "
           "the text after it reversed)";
  if (cp == 0x200D)
    return joinsEmoji(before, after) ? nullptr
                                     : "username contains a zero-width joiner outside an emoji";
  if (has(cp, UCHAR_VARIATION_SELECTOR))
    return (cp == 0xFE0E || cp == 0xFE0F) && has(before, UCHAR_EMOJI)
               ? nullptr
               : "username contains a variation selector outside an emoji";
  const auto type = static_cast<UCharCategory>(u_charType(static_cast<UChar32>(cp)));
  if (type == U_FORMAT_CHAR || has(cp, UCHAR_DEFAULT_IGNORABLE_CODE_POINT))
    return "username contains an invisible character (such as a zero-width space, a soft "
           "hyphen or a word joiner)";
  if (type == U_UNASSIGNED || type == U_PRIVATE_USE_CHAR)
    return "username contains an unassigned or private-use code point (it has no agreed look)";
  return nullptr;
}

// ICU's checks for combining marks that do not show: the same mark twice on one letter
// (USPOOF_INVISIBLE), or a dot above a letter that has one (USPOOF_HIDDEN_OVERLAY). Made on first
// use; its checks are const calls, safe from any thread. Null if ICU could not make it.
const USpoofChecker* markChecker() {
  static const std::unique_ptr<USpoofChecker, void (*)(USpoofChecker*)> checker = [] {
    UErrorCode status = U_ZERO_ERROR;
    std::unique_ptr<USpoofChecker, void (*)(USpoofChecker*)> c(uspoof_open(&status), &uspoof_close);
    uspoof_setChecks(c.get(), USPOOF_INVISIBLE | USPOOF_HIDDEN_OVERLAY, &status);
    if (U_FAILURE(status)) c.reset();
    return c;
  }();
  return checker.get();
}

}  // namespace

const char* roomNameError(std::string_view room) {
  if (room.empty()) return "room name is empty";
  if (room.size() > kMaxRoomBytes) return "room name is longer than 64 characters";
  for (unsigned char c : room)
    if (!isRoomChar(c)) return "room name may contain only A-Z a-z 0-9 . _ ~ -";
  // "." and ".." are path segments a URL resolver removes (/ws/.. is /): a room by such a name
  // could not be reached from a browser, and /api/rooms/../messages would name another route.
  if (room == "." || room == "..") return "room name may not be \".\" or \"..\"";
  return nullptr;
}

const char* checkUsername(std::string_view username, std::string& nfc) {
  if (username.empty()) return "username is empty";
  // NFC joins at most three code points into one (Hangul jamo), so no name of 32 characters is
  // longer than 96 code points of 4 bytes: anything longer is refused before ICU sees it.
  if (username.size() > 3 * 4 * kMaxUsernameChars) return "username is longer than 32 characters";
  std::size_t chars = 0;
  char32_t first = 0;
  char32_t last = 0;
  bool ascii = true;
  for (std::size_t i = 0; i < username.size();) {
    const std::size_t len = decodeUtf8(username, i, last);
    if (len == 0) return "username is not valid UTF-8";
    if (isControl(last)) return "username contains a control character";
    if (chars++ == 0) first = last;
    ascii = ascii && last < 0x80;
    i += len;
  }
  if (ascii) {
    // Every ASCII name is already NFC, and has nothing the checks below look for.
    if (chars > kMaxUsernameChars) return "username is longer than 32 characters";
    if (isBlank(first) || isBlank(last)) return "username starts or ends with white space";
    nfc.assign(username);
    return nullptr;
  }
  // Each character with its neighbours (0 past either end): the emoji exceptions look at them.
  char32_t before = 0;
  char32_t cp = 0;
  std::size_t i = decodeUtf8(username, 0, cp);
  for (;;) {
    char32_t after = 0;
    const std::size_t len = i < username.size() ? decodeUtf8(username, i, after) : 0;
    if (cp >= 0x80)
      if (const char* why = characterError(before, cp, after)) return why;
    if (len == 0) break;
    before = cp;
    cp = after;
    i += len;
  }
  nfc = store::nfcName(username);
  chars = 0;
  for (std::size_t k = 0; k < nfc.size();) {
    const std::size_t len = decodeUtf8(nfc, k, last);
    if (len == 0) return "username is not valid UTF-8";  // (NFC of valid UTF-8 is valid)
    if (chars++ == 0) first = last;
    k += len;
  }
  if (chars > kMaxUsernameChars) return "username is longer than 32 characters";
  if (isBlank(first) || isBlank(last)) return "username starts or ends with white space";
  const USpoofChecker* checker = markChecker();
  if (!checker) return "this server cannot check names beyond ASCII now";
  UErrorCode status = U_ZERO_ERROR;
  const int32_t found =
      uspoof_check2UTF8(checker, nfc.data(), static_cast<int32_t>(nfc.size()), nullptr, &status);
  if (U_FAILURE(status)) return "this server cannot check names beyond ASCII now";
  if (found & (USPOOF_INVISIBLE | USPOOF_HIDDEN_OVERLAY))
    return "username has a combining mark that does not show (repeated on one letter, or a dot "
           "on a letter that has one)";
  return nullptr;
}

const char* usernameError(std::string_view username) {
  std::string nfc;
  return checkUsername(username, nfc);
}

}  // namespace parley::chat
