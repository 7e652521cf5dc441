#include "net/WsCodec.h"

#include <algorithm>
#include <cstring>

namespace parley::net {

namespace {

constexpr std::size_t kMaxControlPayload = 125;
constexpr std::size_t kMaskBytes = 4;

bool isControl(unsigned opcode) { return (opcode & 0x8) != 0; }

bool isKnownOpcode(unsigned opcode) {
  switch (opcode) {
    case 0x0:
    case 0x1:
    case 0x2:
    case 0x8:
    case 0x9:
    case 0xA:
      return true;
    default:
      return false;
  }
}

// 1004-1006 and 1015 are reserved for reporting and must never appear on the wire; 1012-2999 are
// either unassigned or reserved for future RFCs, so a peer has no business sending them either.
bool isValidWireCloseCode(std::uint16_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
         (code >= 3000 && code <= 4999);
}

// The key repeats every 4 bytes, so a doubled key XORs a whole 8-byte word at once; memcpy keeps
// the loads legal at any alignment and compiles to plain moves.
void unmask(char* p, std::size_t n, const unsigned char* maskKey) {
  unsigned char key[kMaskBytes];
  std::memcpy(key, maskKey, kMaskBytes);
  unsigned char doubled[8];
  std::memcpy(doubled, key, kMaskBytes);
  std::memcpy(doubled + kMaskBytes, key, kMaskBytes);
  std::uint64_t key8;
  std::memcpy(&key8, doubled, sizeof key8);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t word;
    std::memcpy(&word, p + i, sizeof word);
    word ^= key8;
    std::memcpy(p + i, &word, sizeof word);
  }
  for (; i < n; ++i) p[i] = static_cast<char>(static_cast<unsigned char>(p[i]) ^ key[i & 3]);
}

std::uint64_t readBigEndian(const unsigned char* p, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}

std::size_t extendedLengthBytes(unsigned len7) { return len7 == 126 ? 2 : len7 == 127 ? 8 : 0; }

}  // namespace

void appendFrameHeader(std::string& out, WsOpcode opcode, std::size_t payloadLen) {
  char header[kMaxServerHeader];
  header[0] = static_cast<char>(0x80 | static_cast<unsigned>(opcode));
  std::size_t n = 2;
  if (payloadLen < 126) {
    header[1] = static_cast<char>(payloadLen);
  } else if (payloadLen <= 0xFFFF) {
    header[1] = 126;
    header[2] = static_cast<char>(payloadLen >> 8);
    header[3] = static_cast<char>(payloadLen);
    n = 4;
  } else {
    header[1] = 127;
    const auto len64 = static_cast<std::uint64_t>(payloadLen);
    for (int i = 0; i < 8; ++i) header[2 + i] = static_cast<char>(len64 >> (56 - 8 * i));
    n = 10;
  }
  out.append(header, n);
}

std::string buildFrame(WsOpcode opcode, std::string_view payload) {
  std::string frame;
  frame.reserve(kMaxServerHeader + payload.size());
  appendFrameHeader(frame, opcode, payload.size());
  frame.append(payload);
  return frame;
}

std::string buildCloseFrame(std::uint16_t code, std::string_view reason) {
  constexpr std::size_t kMaxReason = kMaxControlPayload - 2;
  if (reason.size() > kMaxReason) {
    // Back up to a lead byte so the peer, which must validate the reason, never sees half a
    // character.
    std::size_t cut = kMaxReason;
    while (cut > 0 && (static_cast<unsigned char>(reason[cut]) & 0xC0) == 0x80) --cut;
    reason = reason.substr(0, cut);
  }
  std::string frame;
  frame.reserve(2 + 2 + reason.size());
  appendFrameHeader(frame, WsOpcode::Close, 2 + reason.size());
  frame.push_back(static_cast<char>(code >> 8));
  frame.push_back(static_cast<char>(code & 0xFF));
  frame.append(reason);
  return frame;
}

bool isValidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* const end = p + s.size();
  while (p != end) {
    // Chat traffic is mostly ASCII, so skip it a word at a time before decoding byte by byte.
    while (end - p >= 8) {
      std::uint64_t word;
      std::memcpy(&word, p, sizeof word);
      if (word & 0x8080808080808080ULL) break;
      p += 8;
    }
    if (p == end) break;
    const unsigned lead = *p;
    if (lead < 0x80) {
      ++p;
      continue;
    }
    // Unicode Table 3-7: the second byte's range excludes overlongs (E0, F0), surrogates (ED) and
    // code points above U+10FFFF (F4); C0, C1 and F5-FF can only start overlongs or out-of-range.
    std::ptrdiff_t trail;
    unsigned lo = 0x80;
    unsigned hi = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
      trail = 1;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      trail = 2;
      if (lead == 0xE0) lo = 0xA0;
      if (lead == 0xED) hi = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      trail = 3;
      if (lead == 0xF0) lo = 0x90;
      if (lead == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (end - p <= trail) return false;
    if (p[1] < lo || p[1] > hi) return false;
    for (std::ptrdiff_t i = 2; i <= trail; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
    }
    p += trail + 1;
  }
  return true;
}

std::size_t WsFrameParser::bytesToCompletePartial(const char* data, std::size_t len) const {
  const std::string& partial = carry_->partial;  // (called only while there is one)
  const std::size_t have = partial.size();
  const std::size_t avail = have + len;
  // The header may itself straddle the two buffers.
  auto byteAt = [&](std::size_t i) -> unsigned char {
    return static_cast<unsigned char>(i < have ? partial[i] : data[i - have]);
  };
  if (avail < 2) return len;
  const unsigned len7 = byteAt(1) & 0x7F;
  const std::size_t ext = extendedLengthBytes(len7);
  const std::size_t headerLen = 2 + ext + ((byteAt(1) & 0x80) ? kMaskBytes : 0);
  if (avail < headerLen) return len;
  std::uint64_t payloadLen = len7;
  if (ext != 0) {
    payloadLen = 0;
    for (std::size_t i = 0; i < ext; ++i) payloadLen = (payloadLen << 8) | byteAt(2 + i);
  }
  // Bogus lengths are step()'s to reject from the header; handing over everything is harmless.
  if (payloadLen >= avail - headerLen) return len;
  const std::size_t frameLen = headerLen + static_cast<std::size_t>(payloadLen);
  return frameLen > have ? std::min(len, frameLen - have) : 0;
}

WsFrameParser::Step WsFrameParser::step(char* data, std::size_t len) {
  Step s;
  auto fail = [&s](std::uint16_t code) {
    s.error = code;
    return s;
  };
  // Every check runs as soon as the bytes it needs are present, so a bad or oversized frame is
  // refused from its first bytes instead of after buffering it.
  if (len == 0) return s;
  const auto* u = reinterpret_cast<const unsigned char*>(data);
  const bool fin = (u[0] & 0x80) != 0;
  const unsigned opcode = u[0] & 0x0F;
  // No extension is ever negotiated, so a reserved bit has no defined meaning.
  if (u[0] & 0x70) return fail(close_code::kProtocolError);
  if (!isKnownOpcode(opcode)) return fail(close_code::kProtocolError);
  const bool control = isControl(opcode);
  const bool inMessage = fragmentOpcode_ != WsOpcode::Continuation;
  if (control && !fin) return fail(close_code::kProtocolError);
  if (!control && (opcode == 0) != inMessage) return fail(close_code::kProtocolError);

  if (len < 2) return s;
  if (!(u[1] & 0x80)) return fail(close_code::kProtocolError);  // RFC 6455 §5.1
  const unsigned len7 = u[1] & 0x7F;
  if (control && len7 > kMaxControlPayload) return fail(close_code::kProtocolError);
  const std::size_t ext = extendedLengthBytes(len7);
  if (len < 2 + ext) return s;
  const std::uint64_t payloadLen = ext ? readBigEndian(u + 2, ext) : len7;
  if (payloadLen >> 63) return fail(close_code::kProtocolError);  // RFC 6455 §5.2
  // Control frames are already capped at 125 by the protocol; the limit guards data messages, and
  // a continuation counts towards the message it extends. The fragments never exceed the limit, so
  // the subtraction cannot wrap.
  if (!control) {
    const std::uint64_t already = opcode == 0 ? fragmentBytes() : 0;
    if (payloadLen > maxMessageBytes_ - already) return fail(close_code::kTooBig);
  }

  const std::size_t headerLen = 2 + ext + kMaskBytes;
  // Nothing is unmasked until the frame is complete: an incomplete frame is re-parsed from the
  // same (still masked) bytes on the next call.
  if (len < headerLen || len - headerLen < payloadLen) return s;
  const auto n = static_cast<std::size_t>(payloadLen);
  char* payload = data + headerLen;
  unmask(payload, n, u + headerLen - kMaskBytes);
  s.consumed = headerLen + n;
  const std::string_view body(payload, n);

  switch (static_cast<WsOpcode>(opcode)) {
    case WsOpcode::Text:
    case WsOpcode::Binary:
      if (!fin) {
        fragmentOpcode_ = static_cast<WsOpcode>(opcode);
        carry().fragments.assign(body);
        return s;
      }
      if (opcode == 0x1 && !isValidUtf8(body)) return fail(close_code::kInvalidPayload);
      s.message = WsMessage{static_cast<WsOpcode>(opcode), body, 0};
      s.haveMessage = true;
      return s;

    case WsOpcode::Continuation: {
      std::string& fragments = carry().fragments;
      fragments.append(body);
      if (!fin) return s;
      const WsOpcode messageOpcode = fragmentOpcode_;
      fragmentOpcode_ = WsOpcode::Continuation;
      // A character may straddle fragments, so only the joined message can be judged.
      if (messageOpcode == WsOpcode::Text && !isValidUtf8(fragments)) {
        std::string().swap(fragments);
        return fail(close_code::kInvalidPayload);
      }
      // The fragments are released by feed() once the callback is done with this view.
      s.message = WsMessage{messageOpcode, std::string_view(fragments), 0};
      s.haveMessage = true;
      return s;
    }

    case WsOpcode::Close: {
      std::uint16_t code = close_code::kNoStatus;
      if (n == 1) return fail(close_code::kProtocolError);
      if (n >= 2) {
        code = static_cast<std::uint16_t>(readBigEndian(u + headerLen, 2));
        if (!isValidWireCloseCode(code)) return fail(close_code::kProtocolError);
        if (!isValidUtf8(body.substr(2))) return fail(close_code::kInvalidPayload);
      }
      s.message = WsMessage{WsOpcode::Close, body, code};
      s.haveMessage = true;
      return s;
    }

    case WsOpcode::Ping:
    case WsOpcode::Pong:
      s.message = WsMessage{static_cast<WsOpcode>(opcode), body, 0};
      s.haveMessage = true;
      return s;
  }
  return fail(close_code::kProtocolError);  // unreachable: opcodes were checked above
}

}  // namespace parley::net
