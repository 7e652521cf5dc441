// FuzzSupport: what every Parley fuzz target shares: a check that turns a broken property into a
// crash libFuzzer saves, and a reference UTF-8 validator written independently of the ones
// under test (net/WsCodec isValidUtf8, chat/Names), so a fuzzer can compare against it. Never
// used by the server.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

// A property the code under test must keep: when it does not, print why and abort (libFuzzer
// saves the input as crash-<sha1> and reports it; a replay of that file aborts the same way).
#define FUZZ_CHECK(cond, ...)                                                                \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      std::fprintf(stderr, "FUZZ_CHECK failed at %s:%d: %s\n  ", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, __VA_ARGS__);                                                     \
      std::fprintf(stderr, "\n");                                                            \
      std::abort();                                                                          \
    }                                                                                        \
  } while (0)

namespace parley::fuzz {

// Decodes every code point and checks its value (RFC 3629): no overlong forms, no surrogates,
// nothing above U+10FFFF. Deliberately the plain decode-then-check algorithm, unlike the
// table-driven validators under test.
inline bool referenceUtf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    std::size_t n;
    char32_t cp;
    if (b < 0x80) {
      ++i;
      continue;
    } else if (b >> 5 == 0x6) {
      n = 2, cp = b & 0x1F;
    } else if (b >> 4 == 0xE) {
      n = 3, cp = b & 0x0F;
    } else if (b >> 3 == 0x1E) {
      n = 4, cp = b & 0x07;
    } else {
      return false;
    }
    if (s.size() - i < n) return false;
    for (std::size_t k = 1; k < n; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if (c >> 6 != 0x2) return false;
      cp = (cp << 6) | (c & 0x3F);
    }
    const char32_t smallest = n == 2 ? 0x80 : n == 3 ? 0x800 : 0x10000;
    if (cp < smallest || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n;
  }
  return true;
}

// Code points in valid UTF-8.
inline std::size_t referenceCodePoints(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += c >> 6 != 0x2;
  return n;
}

}  // namespace parley::fuzz
