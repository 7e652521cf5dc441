#include "store/AccountStore.h"

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/uspoof.h>
#include <unicode/ustring.h>
#include <unicode/uversion.h>

#include <array>
#include <memory>
#include <stdexcept>
#include <utility>

namespace parley::store {

namespace {

// Bumped whenever accountKey() changes for some name (stored keys are then recomputed).
constexpr int kKeyRuleVersion = 1;
// A name's key settles after at most three rounds (measured over every assigned code point with
// ICU 72: folding a skeleton can make a letter that has a skeleton of its own, as Cherokee "Ꮇ"
// gives "M", folded "m", whose skeleton is "rn"); the bound only guards against a cycle.
constexpr int kMaxRounds = 8;

void check(UErrorCode status, const char* what) {
  if (U_FAILURE(status))
    throw std::runtime_error(std::string("ICU: ") + what + ": " + u_errorName(status));
}

// Runs an ICU call that writes into a buffer, growing it once if the first size was short.
template <class Call>
std::u16string produce(std::size_t guess, Call call) {
  std::u16string out(guess, u'\0');
  UErrorCode status = U_ZERO_ERROR;
  int32_t n = call(out.data(), static_cast<int32_t>(out.size()), &status);
  if (status == U_BUFFER_OVERFLOW_ERROR) {
    out.assign(static_cast<std::size_t>(n), u'\0');
    status = U_ZERO_ERROR;
    n = call(out.data(), n, &status);
  }
  if (U_FAILURE(status)) return {};  // only on out of memory: no name, no key
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::u16string utf16(std::string_view s) {
  // Malformed UTF-8 (never in a checked name) becomes U+FFFD rather than an error.
  return produce(s.size() + 1, [&](char16_t* buf, int32_t cap, UErrorCode* st) {
    int32_t n = 0;
    u_strFromUTF8WithSub(buf, cap, &n, s.data(), static_cast<int32_t>(s.size()), 0xFFFD, nullptr,
                         st);
    return n;
  });
}

std::string utf8(std::u16string_view u) {
  std::string out(u.size() * 3 + 1, '\0');
  int32_t n = 0;
  UErrorCode status = U_ZERO_ERROR;
  u_strToUTF8WithSub(out.data(), static_cast<int32_t>(out.size()), &n, u.data(),
                     static_cast<int32_t>(u.size()), 0xFFFD, nullptr, &status);
  out.resize(U_FAILURE(status) ? 0 : static_cast<std::size_t>(n));
  return out;
}

struct Icu {
  const UNormalizer2* nfc = nullptr;
  const UNormalizer2* caseFold = nullptr;  // NFKC_Casefold
  std::unique_ptr<USpoofChecker, void (*)(USpoofChecker*)> spoof{nullptr, &uspoof_close};
  std::array<std::string, 128> ascii;  // each ASCII character's key, before white space
};

std::u16string normalized(const UNormalizer2* form, std::u16string_view s) {
  return produce(s.size() * 2 + 8, [&](char16_t* buf, int32_t cap, UErrorCode* st) {
    return unorm2_normalize(form, s.data(), static_cast<int32_t>(s.size()), buf, cap, st);
  });
}

// The key before white space is collapsed: folded skeletons until they settle.
std::u16string settledSkeleton(const Icu& icu, std::u16string_view name) {
  std::u16string key = normalized(icu.caseFold, name);
  for (int round = 0; round < kMaxRounds; ++round) {
    const std::u16string skeleton =
        produce(key.size() * 2 + 8, [&](char16_t* buf, int32_t cap, UErrorCode* st) {
          return uspoof_getSkeleton(icu.spoof.get(), 0, key.data(),
                                    static_cast<int32_t>(key.size()), buf, cap, st);
        });
    std::u16string next = normalized(icu.caseFold, skeleton);
    if (next == key) break;
    key = std::move(next);
  }
  return key;
}

bool isBlank(UChar32 c) { return u_isUWhiteSpace(c) || c == 0x2800; }  // (braille blank)

// Runs of white space (and blanks that look like it) become one space; none at the ends. In
// place: the key is never longer for it.
std::string collapsedBlanks(std::string key) {
  std::size_t out = 0;
  bool pendingSpace = false;
  for (std::size_t i = 0; i < key.size();) {
    UChar32 c;
    const std::size_t start = i;
    U8_NEXT(key.data(), i, key.size(), c);
    if (c >= 0 && isBlank(c)) {
      pendingSpace = out > 0;
      continue;
    }
    if (pendingSpace) key[out++] = ' ';
    pendingSpace = false;
    for (std::size_t k = start; k < i; ++k) key[out++] = key[k];
  }
  key.resize(out);
  return key;
}

Icu makeIcu() {
  Icu icu;
  UErrorCode status = U_ZERO_ERROR;
  icu.nfc = unorm2_getNFCInstance(&status);
  check(status, "NFC");
  icu.caseFold = unorm2_getNFKCCasefoldInstance(&status);
  check(status, "NFKC_Casefold");
  icu.spoof.reset(uspoof_open(&status));
  check(status, "spoof checker");
  for (int c = 0; c < 128; ++c) {
    const char16_t one = static_cast<char16_t>(c);
    icu.ascii[c] = utf8(settledSkeleton(icu, {&one, 1}));
  }
  return icu;
}

// Made on first use; read-only afterwards, so any thread may use it (ICU's normalizers and a
// spoof checker's const calls are thread-safe).
const Icu& icu() {
  static const Icu instance = makeIcu();
  return instance;
}

}  // namespace

std::string accountKeyRule() {
  icu();  // throws here, at start-up, if ICU cannot make keys
  UVersionInfo icuVersion;
  UVersionInfo unicodeVersion;
  u_getVersion(icuVersion);
  u_getUnicodeVersion(unicodeVersion);
  char icuText[U_MAX_VERSION_STRING_LENGTH];
  char unicodeText[U_MAX_VERSION_STRING_LENGTH];
  u_versionToString(icuVersion, icuText);
  u_versionToString(unicodeVersion, unicodeText);
  return "uts39-skeleton-" + std::to_string(kKeyRuleVersion) + " icu-" + icuText + " unicode-" +
         unicodeText;
}

std::string accountKey(std::string_view username) {
  const Icu& i = icu();
  bool ascii = true;
  for (unsigned char c : username) ascii = ascii && c < 0x80;
  std::string key;
  if (ascii) {
    // The steps work one character at a time on ASCII (each maps to ASCII prototypes), so the
    // key is the characters' keys end to end (a unit test compares the two ways).
    for (unsigned char c : username) key += i.ascii[c];
  } else {
    key = utf8(settledSkeleton(i, utf16(username)));
  }
  return collapsedBlanks(std::move(key));
}

std::string accountKeyWithoutTable(std::string_view username) {
  return collapsedBlanks(utf8(settledSkeleton(icu(), utf16(username))));
}

std::string nfcName(std::string_view name) {
  const Icu& i = icu();
  UErrorCode status = U_ZERO_ERROR;
  const std::u16string u = utf16(name);
  if (unorm2_isNormalized(i.nfc, u.data(), static_cast<int32_t>(u.size()), &status) &&
      U_SUCCESS(status))
    return std::string(name);
  return utf8(normalized(i.nfc, u));
}

std::vector<const Account*> accountsNamed(std::span<const Account> candidates,
                                          std::string_view username) {
  std::vector<const Account*> out;
  if (candidates.size() == 1) out.push_back(&candidates.front());
  if (candidates.size() <= 1) return out;
  // Registered before names were unique by their look: the login's spelling decides.
  const std::string typed = nfcName(username);
  for (const Account& a : candidates)
    if (nfcName(a.username) == typed) out.push_back(&a);
  if (!out.empty()) return out;
  const Icu& i = icu();
  const std::u16string folded = normalized(i.caseFold, utf16(username));
  for (const Account& a : candidates)
    if (normalized(i.caseFold, utf16(a.username)) == folded) out.push_back(&a);
  return out;
}

}  // namespace parley::store
