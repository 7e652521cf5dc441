// The bits of RFC 6455's opening handshake a client needs: a random Sec-WebSocket-Key and the
// Sec-WebSocket-Accept the server must answer with, base64(SHA-1(key + GUID)). A tiny SHA-1
// (RFC 3174) is enough here: it runs once per connection, not per message.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace wsh {

inline std::array<uint8_t, 20> sha1(const void* data, size_t len) {
  uint32_t h[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
  const auto* in = static_cast<const uint8_t*>(data);
  const uint64_t bit_len = static_cast<uint64_t>(len) * 8;
  const size_t total = ((len + 8) / 64 + 1) * 64;  // message + 0x80 + zero pad + 64-bit length
  auto byte_at = [&](size_t i) -> uint8_t {
    if (i < len) return in[i];
    if (i == len) return 0x80;
    if (i >= total - 8) return static_cast<uint8_t>(bit_len >> (8 * (total - 1 - i)));
    return 0;
  };
  auto rol = [](uint32_t x, int n) { return (x << n) | (x >> (32 - n)); };
  for (size_t block = 0; block < total; block += 64) {
    uint32_t w[80];
    for (int t = 0; t < 16; ++t) {
      const size_t b = block + static_cast<size_t>(t) * 4;
      w[t] = (uint32_t{byte_at(b)} << 24) | (uint32_t{byte_at(b + 1)} << 16) |
             (uint32_t{byte_at(b + 2)} << 8) | uint32_t{byte_at(b + 3)};
    }
    for (int t = 16; t < 80; ++t) w[t] = rol(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int t = 0; t < 80; ++t) {
      uint32_t f, k;
      if (t < 20) {
        f = (b & c) | (~b & d);
        k = 0x5A827999u;
      } else if (t < 40) {
        f = b ^ c ^ d;
        k = 0x6ED9EBA1u;
      } else if (t < 60) {
        f = (b & c) | (b & d) | (c & d);
        k = 0x8F1BBCDCu;
      } else {
        f = b ^ c ^ d;
        k = 0xCA62C1D6u;
      }
      const uint32_t tmp = rol(a, 5) + f + e + k + w[t];
      e = d;
      d = c;
      c = rol(b, 30);
      b = a;
      a = tmp;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
  }
  std::array<uint8_t, 20> out{};
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 4; ++j)
      out[static_cast<size_t>(i * 4 + j)] = static_cast<uint8_t>(h[i] >> (24 - 8 * j));
  return out;
}

inline std::string base64(const uint8_t* p, size_t n) {
  static constexpr char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((n + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < n; i += 3) {
    const uint32_t v = (uint32_t{p[i]} << 16) | (uint32_t{p[i + 1]} << 8) | p[i + 2];
    out += tbl[v >> 18];
    out += tbl[(v >> 12) & 63];
    out += tbl[(v >> 6) & 63];
    out += tbl[v & 63];
  }
  if (i < n) {
    const uint32_t v = (uint32_t{p[i]} << 16) | (i + 1 < n ? uint32_t{p[i + 1]} << 8 : 0u);
    out += tbl[v >> 18];
    out += tbl[(v >> 12) & 63];
    out += (i + 1 < n) ? tbl[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// Sec-WebSocket-Accept for a given Sec-WebSocket-Key.
inline std::string accept_for(std::string_view key) {
  std::string s(key);
  s += "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  const auto d = sha1(s.data(), s.size());
  return base64(d.data(), d.size());
}

// RFC 6455 section 1.3's example: key "dGhlIHNhbXBsZSBub25jZQ==" -> "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".
inline bool self_test() {
  return accept_for("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" &&
         base64(reinterpret_cast<const uint8_t*>("ab"), 2) == "YWI=" &&
         base64(reinterpret_cast<const uint8_t*>("a"), 1) == "YQ==";
}

}  // namespace wsh
