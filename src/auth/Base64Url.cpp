#include "auth/Base64Url.h"

#include <array>
#include <cstdint>

namespace parley::auth {

namespace {

constexpr std::array<std::int8_t, 256> kValues = [] {
  std::array<std::int8_t, 256> t{};
  t.fill(-1);
  const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  for (int i = 0; i < 64; ++i)
    t[static_cast<unsigned char>(alphabet[i])] = static_cast<std::int8_t>(i);
  return t;
}();

}  // namespace

bool decodeBase64Url(std::string_view in, std::string& out) {
  if (in.size() % 4 == 1) return false;  // no whole byte in a lone character
  std::uint32_t bits = 0;
  int count = 0;
  for (char c : in) {
    const std::int8_t v = kValues[static_cast<unsigned char>(c)];
    if (v < 0) return false;
    bits = (bits << 6) | static_cast<std::uint32_t>(v);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out.push_back(static_cast<char>((bits >> count) & 0xFF));
    }
  }
  // The bits left over are padding of the last byte: RFC 4648 section 3.5 makes them zero, and
  // one token must have one encoding (no "same signature, other bytes" variants).
  return (bits & ((1u << count) - 1)) == 0;
}

}  // namespace parley::auth
