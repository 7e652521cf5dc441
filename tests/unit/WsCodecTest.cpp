#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "net/WsCodec.h"

namespace parley::net {
namespace {

using Key = std::array<std::uint8_t, 4>;

constexpr Key kKey{0x37, 0xfa, 0x21, 0x3d};
constexpr std::size_t kMax = 1 << 20;

// How a test frame is laid out on the wire; the defaults give a valid masked client frame.
struct FrameOpts {
  bool fin = true;
  std::uint8_t rsv = 0;  // RSV1-3 as the 0x70 bits of the first byte
  bool masked = true;
  Key key = kKey;
  int lengthForm = 0;  // 0 = minimal, 126 or 127 = force that extended length encoding
  std::uint64_t declaredLength = UINT64_MAX;  // UINT64_MAX = payload.size()
};

// Builds a client frame the way a browser would (masked), or broken in the ways `o` asks.
std::string clientFrame(std::uint8_t opcode, std::string_view payload, FrameOpts o = {}) {
  std::string f;
  f.push_back(static_cast<char>((o.fin ? 0x80 : 0) | o.rsv | opcode));
  const std::uint64_t len = o.declaredLength == UINT64_MAX ? payload.size() : o.declaredLength;
  const std::uint8_t maskBit = o.masked ? 0x80 : 0;
  int form = o.lengthForm;
  if (form == 0) form = len < 126 ? 0 : len <= 0xFFFF ? 126 : 127;
  if (form == 0) {
    f.push_back(static_cast<char>(maskBit | len));
  } else if (form == 126) {
    f.push_back(static_cast<char>(maskBit | 126));
    f.push_back(static_cast<char>(len >> 8));
    f.push_back(static_cast<char>(len));
  } else {
    f.push_back(static_cast<char>(maskBit | 127));
    for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>(len >> (8 * i)));
  }
  if (o.masked) f.append(reinterpret_cast<const char*>(o.key.data()), 4);
  for (std::size_t i = 0; i < payload.size(); ++i) {
    f.push_back(static_cast<char>(payload[i] ^ (o.masked ? o.key[i % 4] : 0)));
  }
  return f;
}

std::string clientFrame(WsOpcode op, std::string_view payload, FrameOpts o = {}) {
  return clientFrame(static_cast<std::uint8_t>(op), payload, o);
}

std::string closePayload(std::uint16_t code, std::string_view reason = {}) {
  std::string p;
  p.push_back(static_cast<char>(code >> 8));
  p.push_back(static_cast<char>(code & 0xFF));
  p.append(reason);
  return p;
}

// Turns a server frame into the client frame with the same content: sets the mask bit, inserts
// the key after the header and masks the payload.
std::string maskServerFrame(const std::string& frame, Key key) {
  const auto len7 = static_cast<std::uint8_t>(frame[1]) & 0x7F;
  const std::size_t headerLen = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0);
  std::string out = frame.substr(0, headerLen);
  out[1] = static_cast<char>(out[1] | 0x80);
  out.append(reinterpret_cast<const char*>(key.data()), 4);
  for (std::size_t i = headerLen; i < frame.size(); ++i) {
    out.push_back(static_cast<char>(frame[i] ^ key[(i - headerLen) % 4]));
  }
  return out;
}

struct Received {
  WsOpcode opcode;
  std::string payload;
  std::uint16_t closeCode;
  bool operator==(const Received&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Received& r) {
  return os << "{op=" << static_cast<int>(r.opcode) << " len=" << r.payload.size()
            << " close=" << r.closeCode << "}";
}

Received text(std::string s) { return {WsOpcode::Text, std::move(s), 0}; }
Received binary(std::string s) { return {WsOpcode::Binary, std::move(s), 0}; }
Received ping(std::string s) { return {WsOpcode::Ping, std::move(s), 0}; }
Received pong(std::string s) { return {WsOpcode::Pong, std::move(s), 0}; }

// Feeds byte strings (copied, since the parser unmasks in place) and records what comes out.
struct Harness {
  explicit Harness(std::size_t max = kMax) : parser(max) {}

  std::uint16_t feed(std::string bytes) {
    return parser.feed(bytes.data(), bytes.size(), [this](const WsMessage& m) {
      got.push_back({m.opcode, std::string(m.payload), m.closeCode});
      return keepGoing;
    });
  }

  WsFrameParser parser;
  std::vector<Received> got;
  bool keepGoing = true;
};

// Feeds the whole stream at once and returns the close code (0 = still valid).
std::uint16_t errorOf(const std::string& stream, std::size_t max = kMax) {
  Harness h(max);
  return h.feed(stream);
}

std::string pattern(std::size_t n, unsigned seed = 1) {
  std::string s(n, '\0');
  std::mt19937 rng(seed);
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

// ---------------------------------------------------------------------------------------------
// Building server frames

TEST(WsBuildFrame, HeaderSizesRoundTrip) {
  struct Case {
    std::size_t size;
    std::size_t headerLen;
  };
  for (const Case c : {Case{0, 2}, Case{1, 2}, Case{125, 2}, Case{126, 4}, Case{127, 4},
                       Case{65535, 4}, Case{65536, 10}, Case{70000, 10}}) {
    SCOPED_TRACE(c.size);
    const std::string payload = pattern(c.size);
    const std::string frame = buildFrame(WsOpcode::Binary, payload);
    ASSERT_EQ(frame.size(), c.headerLen + c.size);
    EXPECT_EQ(static_cast<std::uint8_t>(frame[0]), 0x82);  // FIN + binary, no RSV
    const auto b1 = static_cast<std::uint8_t>(frame[1]);
    EXPECT_EQ(b1 & 0x80, 0) << "server frames are never masked";
    std::uint64_t decoded = b1 & 0x7F;
    if (c.headerLen == 4) {
      EXPECT_EQ(decoded, 126u);
      decoded = (std::uint64_t{static_cast<std::uint8_t>(frame[2])} << 8) |
                static_cast<std::uint8_t>(frame[3]);
    } else if (c.headerLen == 10) {
      EXPECT_EQ(decoded, 127u);
      decoded = 0;
      for (int i = 0; i < 8; ++i)
        decoded = (decoded << 8) | static_cast<std::uint8_t>(frame[2 + i]);
    }
    EXPECT_EQ(decoded, c.size);
    EXPECT_EQ(frame.substr(c.headerLen), payload);

    // The same bytes, masked as a client would send them, come back out of the parser.
    Harness h;
    ASSERT_EQ(h.feed(maskServerFrame(frame, kKey)), 0);
    ASSERT_EQ(h.got.size(), 1u);
    EXPECT_EQ(h.got[0], binary(payload));
    EXPECT_EQ(h.parser.bufferedBytes(), 0u);
  }
}

TEST(WsBuildFrame, AppendFrameHeaderAppends) {
  std::string out = "xy";
  appendFrameHeader(out, WsOpcode::Text, 5);
  EXPECT_EQ(out, std::string("xy\x81\x05", 4));
  appendFrameHeader(out, WsOpcode::Pong, 300);
  EXPECT_EQ(out, std::string("xy\x81\x05\x8a\x7e\x01\x2c", 8));
  std::string big;
  appendFrameHeader(big, WsOpcode::Text, 0x0102030405ULL);
  EXPECT_EQ(big, std::string("\x81\x7f\x00\x00\x00\x01\x02\x03\x04\x05", 10));
  EXPECT_LE(big.size(), kMaxServerHeader);
}

TEST(WsBuildFrame, OpcodesAreEncoded) {
  EXPECT_EQ(buildFrame(WsOpcode::Text, "hi"), std::string("\x81\x02hi", 4));
  EXPECT_EQ(buildFrame(WsOpcode::Ping, ""), std::string("\x89\x00", 2));
  EXPECT_EQ(buildFrame(WsOpcode::Pong, "p"), std::string("\x8a\x01p", 3));
}

TEST(WsBuildCloseFrame, CodeAndReason) {
  EXPECT_EQ(buildCloseFrame(1000, ""), std::string("\x88\x02\x03\xe8", 4));
  EXPECT_EQ(buildCloseFrame(4008, "slow"), std::string("\x88\x06\x0f\xa8slow", 8));
}

TEST(WsBuildCloseFrame, ReasonTruncatedTo125BytesOfPayload) {
  const std::string reason(200, 'r');
  const std::string frame = buildCloseFrame(1001, reason);
  ASSERT_EQ(frame.size(), 2u + 125u);
  EXPECT_EQ(static_cast<std::uint8_t>(frame[1]), 125);
  EXPECT_EQ(frame.substr(4), std::string(123, 'r'));

  const std::string exact(123, 'e');
  EXPECT_EQ(buildCloseFrame(1001, exact).substr(4), exact);
}

TEST(WsBuildCloseFrame, TruncationNeverSplitsACharacter) {
  // Each multi-byte character placed so that it straddles the 123-byte reason limit.
  for (const std::string ch : {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"}) {
    for (std::size_t pre = 123 - ch.size() + 1; pre <= 122; ++pre) {
      SCOPED_TRACE(pre);
      const std::string reason = std::string(pre, 'a') + ch + "tail";
      const std::string frame = buildCloseFrame(1000, reason);
      const std::string kept = frame.substr(4);
      EXPECT_EQ(kept, std::string(pre, 'a'));
      EXPECT_TRUE(isValidUtf8(kept));
      EXPECT_LE(frame.size() - 2, 125u);
    }
    // A character that ends exactly at the limit is kept.
    const std::string fits = std::string(123 - ch.size(), 'a') + ch + "tail";
    EXPECT_EQ(buildCloseFrame(1000, fits).substr(4), std::string(123 - ch.size(), 'a') + ch);
  }
}

TEST(WsBuildCloseFrame, ParsesBackWithParser) {
  const std::string reason = std::string(121, 'x') + "\xe2\x82\xac";  // 124 bytes
  const std::string frame = buildCloseFrame(4002, reason);
  Harness h;
  ASSERT_EQ(h.feed(maskServerFrame(frame, kKey)), 0);
  ASSERT_EQ(h.got.size(), 1u);
  EXPECT_EQ(h.got[0].opcode, WsOpcode::Close);
  EXPECT_EQ(h.got[0].closeCode, 4002);
  EXPECT_EQ(h.got[0].payload, closePayload(4002, std::string(121, 'x')));
}

// ---------------------------------------------------------------------------------------------
// Parsing: the happy paths

TEST(WsParser, ParsesClientFrameSizes) {
  for (std::size_t size : {0u, 1u, 7u, 8u, 9u, 125u, 126u, 65535u, 65536u, 100000u}) {
    SCOPED_TRACE(size);
    const std::string payload = pattern(size, static_cast<unsigned>(size));
    Harness h;
    ASSERT_EQ(h.feed(clientFrame(WsOpcode::Binary, payload)), 0);
    ASSERT_EQ(h.got.size(), 1u);
    EXPECT_EQ(h.got[0], binary(payload));
    EXPECT_EQ(h.parser.bufferedBytes(), 0u);
  }
}

TEST(WsParser, UnmasksWithRandomKeysLengthsAndAlignments) {
  std::mt19937 rng(12345);
  for (int iter = 0; iter < 500; ++iter) {
    const std::size_t len = rng() % 300;
    Key key;
    for (auto& k : key) k = static_cast<std::uint8_t>(rng());
    const std::string payload = pattern(len, static_cast<unsigned>(iter));
    FrameOpts o;
    o.key = key;
    const std::string frame = clientFrame(WsOpcode::Binary, payload, o);
    // Place the frame at a random offset so the word-wise unmasking sees every alignment.
    const std::size_t shift = rng() % 8;
    std::vector<char> buf(shift + frame.size());
    std::memcpy(buf.data() + shift, frame.data(), frame.size());
    WsFrameParser parser(kMax);
    std::string got;
    int calls = 0;
    ASSERT_EQ(parser.feed(buf.data() + shift, frame.size(),
                          [&](const WsMessage& m) {
                            got.assign(m.payload);
                            ++calls;
                            return true;
                          }),
              0);
    ASSERT_EQ(calls, 1);
    ASSERT_EQ(got, payload) << "len=" << len << " shift=" << shift;
  }
}

TEST(WsParser, UnfragmentedPayloadPointsIntoInputBuffer) {
  std::string frame = clientFrame(WsOpcode::Text, "hello, zero copy");
  WsFrameParser parser(kMax);
  const char* begin = frame.data();
  const char* end = frame.data() + frame.size();
  bool inside = false;
  parser.feed(frame.data(), frame.size(), [&](const WsMessage& m) {
    inside = m.payload.data() >= begin && m.payload.data() + m.payload.size() <= end;
    EXPECT_EQ(m.payload, "hello, zero copy");
    return true;
  });
  EXPECT_TRUE(inside);
}

TEST(WsParser, SeveralFramesInOneFeed) {
  const std::string stream = clientFrame(WsOpcode::Text, "one") + clientFrame(WsOpcode::Ping, "p") +
                             clientFrame(WsOpcode::Binary, std::string(300, 'b')) +
                             clientFrame(WsOpcode::Text, "") + clientFrame(WsOpcode::Pong, "");
  Harness h;
  ASSERT_EQ(h.feed(stream), 0);
  const std::vector<Received> want{text("one"), ping("p"), binary(std::string(300, 'b')), text(""),
                                   pong("")};
  EXPECT_EQ(h.got, want);
  EXPECT_EQ(h.parser.bufferedBytes(), 0u);
}

TEST(WsParser, AcceptsNonMinimalLengthEncodings) {
  FrameOpts o16;
  o16.lengthForm = 126;
  FrameOpts o64;
  o64.lengthForm = 127;
  Harness h;
  ASSERT_EQ(
      h.feed(clientFrame(WsOpcode::Text, "abc", o16) + clientFrame(WsOpcode::Text, "de", o64)), 0);
  EXPECT_EQ(h.got, (std::vector<Received>{text("abc"), text("de")}));
}

TEST(WsParser, ControlFramesOf125BytesAreAccepted) {
  Harness h;
  const std::string p(125, 'p');
  ASSERT_EQ(h.feed(clientFrame(WsOpcode::Ping, p) + clientFrame(WsOpcode::Pong, p)), 0);
  EXPECT_EQ(h.got, (std::vector<Received>{ping(p), pong(p)}));
}

TEST(WsParser, ControlFramesAreNotSubjectToTheMessageLimit) {
  Harness h(/*max=*/10);
  ASSERT_EQ(h.feed(clientFrame(WsOpcode::Ping, std::string(100, 'p'))), 0);
  ASSERT_EQ(h.got.size(), 1u);
}

// The stream every split test below cuts up: short, 16-bit and 64-bit lengths, a fragmented text
// message with a ping between its fragments, and a close at the end.
std::string mixedStream() {
  FrameOpts first;
  first.fin = false;
  FrameOpts middle;
  middle.fin = false;
  return clientFrame(WsOpcode::Text, "hi") + clientFrame(WsOpcode::Binary, pattern(200)) +
         clientFrame(WsOpcode::Text, "frag-", first) + clientFrame(WsOpcode::Ping, "in between") +
         clientFrame(WsOpcode::Continuation, "ment\xc3", middle) +
         clientFrame(WsOpcode::Continuation,
                     "\xa9"
                     "d") +
         clientFrame(WsOpcode::Binary, pattern(70000, 7)) +
         clientFrame(WsOpcode::Close, closePayload(1000, "bye"));
}

std::vector<Received> mixedExpected() {
  return {text("hi"),
          binary(pattern(200)),
          ping("in between"),
          text("frag-ment\xc3\xa9"
               "d"),
          binary(pattern(70000, 7)),
          {WsOpcode::Close, closePayload(1000, "bye"), 1000}};
}

TEST(WsParser, FrameSplitAtEveryByteAcrossTwoFeeds) {
  // A small stream keeps this exhaustive test quick; the 70000-byte frame is covered below.
  FrameOpts first;
  first.fin = false;
  const std::string stream =
      clientFrame(WsOpcode::Text, "hello") + clientFrame(WsOpcode::Binary, pattern(300)) +
      clientFrame(WsOpcode::Text, "ab\xe2", first) + clientFrame(WsOpcode::Ping, "!") +
      clientFrame(WsOpcode::Continuation, "\x82\xac") +
      clientFrame(WsOpcode::Close, closePayload(1001));
  const std::vector<Received> want{text("hello"),
                                   binary(pattern(300)),
                                   ping("!"),
                                   text("ab\xe2\x82\xac"),
                                   {WsOpcode::Close, closePayload(1001), 1001}};
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    SCOPED_TRACE(cut);
    Harness h;
    ASSERT_EQ(h.feed(stream.substr(0, cut)), 0);
    ASSERT_EQ(h.feed(stream.substr(cut)), 0);
    ASSERT_EQ(h.got, want);
    ASSERT_EQ(h.parser.bufferedBytes(), 0u);
  }
}

TEST(WsParser, LargeFrameSplitAroundItsHeaderAndPayload) {
  const std::string stream = mixedStream();
  const std::vector<Received> want = mixedExpected();
  // Every cut within the first 400 bytes and the last 400 bytes, plus a sweep through the middle.
  std::vector<std::size_t> cuts;
  for (std::size_t c = 0; c <= 400; ++c) cuts.push_back(c);
  for (std::size_t c = 400; c < stream.size() - 400; c += 997) cuts.push_back(c);
  for (std::size_t c = stream.size() - 400; c <= stream.size(); ++c) cuts.push_back(c);
  for (std::size_t cut : cuts) {
    SCOPED_TRACE(cut);
    Harness h;
    ASSERT_EQ(h.feed(stream.substr(0, cut)), 0);
    ASSERT_EQ(h.feed(stream.substr(cut)), 0);
    ASSERT_EQ(h.got, want);
    ASSERT_EQ(h.parser.bufferedBytes(), 0u);
  }
}

TEST(WsParser, OneByteAtATime) {
  const std::string stream = mixedStream();
  Harness h;
  for (char c : stream) ASSERT_EQ(h.feed(std::string(1, c)), 0);
  EXPECT_EQ(h.got, mixedExpected());
  EXPECT_EQ(h.parser.bufferedBytes(), 0u);
}

TEST(WsParser, RandomChunking) {
  const std::string stream = mixedStream() + mixedStream();
  std::vector<Received> want = mixedExpected();
  const std::vector<Received> again = mixedExpected();
  want.insert(want.end(), again.begin(), again.end());
  std::mt19937 rng(99);
  for (int iter = 0; iter < 50; ++iter) {
    Harness h;
    std::size_t off = 0;
    while (off < stream.size()) {
      const std::size_t n = std::min<std::size_t>(stream.size() - off, 1 + rng() % 5000);
      ASSERT_EQ(h.feed(stream.substr(off, n)), 0);
      off += n;
    }
    ASSERT_EQ(h.got, want);
    ASSERT_EQ(h.parser.bufferedBytes(), 0u);
  }
}

TEST(WsParser, BufferedBytesWhilePartial) {
  const std::string frame = clientFrame(WsOpcode::Text, "abcdef");
  Harness h;
  ASSERT_EQ(h.feed(frame.substr(0, 4)), 0);
  EXPECT_EQ(h.parser.bufferedBytes(), 4u);
  EXPECT_TRUE(h.got.empty());
  ASSERT_EQ(h.feed(frame.substr(4)), 0);
  EXPECT_EQ(h.parser.bufferedBytes(), 0u);
  EXPECT_EQ(h.got, std::vector<Received>{text("abcdef")});
}

TEST(WsParser, LargeFrameInSmallReads) {
  const std::string payload = pattern(1 << 20, 3);
  const std::string stream =
      clientFrame(WsOpcode::Binary, payload) + clientFrame(WsOpcode::Text, "x");
  Harness h(1 << 20);
  for (std::size_t off = 0; off < stream.size(); off += 1000) {
    ASSERT_EQ(h.feed(stream.substr(off, 1000)), 0);
  }
  EXPECT_EQ(h.got, (std::vector<Received>{binary(payload), text("x")}));
  EXPECT_EQ(h.parser.bufferedBytes(), 0u);
}

// ---------------------------------------------------------------------------------------------
// Fragmentation

TEST(WsParser, FragmentedTextWithInterleavedControlFrames) {
  FrameOpts more;
  more.fin = false;
  const std::string stream =
      clientFrame(WsOpcode::Text, "Hel", more) + clientFrame(WsOpcode::Ping, "p1") +
      clientFrame(WsOpcode::Continuation, "lo ", more) + clientFrame(WsOpcode::Pong, "p2") +
      clientFrame(WsOpcode::Continuation, "wor", more) +
      clientFrame(WsOpcode::Close, closePayload(1000)) + clientFrame(WsOpcode::Continuation, "ld");
  Harness h;
  ASSERT_EQ(h.feed(stream), 0);
  const std::vector<Received> want{
      ping("p1"), pong("p2"), {WsOpcode::Close, closePayload(1000), 1000}, text("Hello world")};
  EXPECT_EQ(h.got, want);
  EXPECT_EQ(h.parser.bufferedBytes(), 0u);
}

TEST(WsParser, FragmentedMessageJoinedAcrossFeeds) {
  FrameOpts more;
  more.fin = false;
  Harness h;
  ASSERT_EQ(h.feed(clientFrame(WsOpcode::Binary, "aaaa", more)), 0);
  EXPECT_EQ(h.parser.bufferedBytes(), 4u);
  ASSERT_EQ(h.feed(clientFrame(WsOpcode::Continuation, "bbb", more)), 0);
  EXPECT_EQ(h.parser.bufferedBytes(), 7u);
  ASSERT_EQ(h.feed(clientFrame(WsOpcode::Continuation, "", more)), 0);
  ASSERT_EQ(h.feed(clientFrame(WsOpcode::Ping, "x")), 0);
  EXPECT_EQ(h.got, std::vector<Received>{ping("x")});
  ASSERT_EQ(h.feed(clientFrame(WsOpcode::Continuation, "cc")), 0);
  EXPECT_EQ(h.got, (std::vector<Received>{ping("x"), binary("aaaabbbcc")}));
  EXPECT_EQ(h.parser.bufferedBytes(), 0u);

  // The parser is ready for the next message, fragmented or not.
  ASSERT_EQ(h.feed(clientFrame(WsOpcode::Text, "next")), 0);
  ASSERT_EQ(
      h.feed(clientFrame(WsOpcode::Text, "x", more) + clientFrame(WsOpcode::Continuation, "y")), 0);
  EXPECT_EQ(h.got.back(), text("xy"));
  EXPECT_EQ(h.got[h.got.size() - 2], text("next"));
}

TEST(WsParser, EmptyFragmentedMessage) {
  FrameOpts more;
  more.fin = false;
  Harness h;
  ASSERT_EQ(h.feed(clientFrame(WsOpcode::Text, "", more) + clientFrame(WsOpcode::Continuation, "")),
            0);
  EXPECT_EQ(h.got, std::vector<Received>{text("")});
}

TEST(WsParser, LargeFragmentedMessageReleasesItsBuffer) {
  FrameOpts more;
  more.fin = false;
  const std::string part = pattern(100000);
  std::string stream = clientFrame(WsOpcode::Binary, part, more);
  for (int i = 0; i < 5; ++i) stream += clientFrame(WsOpcode::Continuation, part, more);
  stream += clientFrame(WsOpcode::Continuation, "end");
  Harness h;
  std::size_t sizeSeen = 0;
  std::size_t bufferedInCallback = 0;
  WsFrameParser& parser = h.parser;
  ASSERT_EQ(parser.feed(stream.data(), stream.size(),
                        [&](const WsMessage& m) {
                          sizeSeen = m.payload.size();
                          bufferedInCallback = parser.bufferedBytes();
                          return true;
                        }),
            0);
  EXPECT_EQ(sizeSeen, 6 * part.size() + 3);
  EXPECT_EQ(bufferedInCallback, sizeSeen) << "the view must stay alive during the callback";
  EXPECT_EQ(parser.bufferedBytes(), 0u);
}

// ---------------------------------------------------------------------------------------------
// Protocol errors

TEST(WsParserErrors, UnmaskedFrame) {
  FrameOpts o;
  o.masked = false;
  EXPECT_EQ(errorOf(clientFrame(WsOpcode::Text, "hi", o)), close_code::kProtocolError);
  EXPECT_EQ(errorOf(clientFrame(WsOpcode::Ping, "", o)), close_code::kProtocolError);
}

TEST(WsParserErrors, ReservedBits) {
  for (std::uint8_t rsv : {0x40, 0x20, 0x10, 0x70}) {
    FrameOpts o;
    o.rsv = rsv;
    EXPECT_EQ(errorOf(clientFrame(WsOpcode::Text, "hi", o)), close_code::kProtocolError) << +rsv;
    EXPECT_EQ(errorOf(clientFrame(WsOpcode::Ping, "", o)), close_code::kProtocolError) << +rsv;
  }
}

TEST(WsParserErrors, ReservedOpcodes) {
  for (std::uint8_t op : {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF}) {
    EXPECT_EQ(errorOf(clientFrame(op, "")), close_code::kProtocolError) << +op;
  }
}

TEST(WsParserErrors, FragmentedControlFrame) {
  FrameOpts o;
  o.fin = false;
  for (WsOpcode op : {WsOpcode::Ping, WsOpcode::Pong, WsOpcode::Close}) {
    EXPECT_EQ(errorOf(clientFrame(op, "", o)), close_code::kProtocolError);
  }
}

TEST(WsParserErrors, ControlFrameOver125Bytes) {
  for (WsOpcode op : {WsOpcode::Ping, WsOpcode::Pong, WsOpcode::Close}) {
    EXPECT_EQ(errorOf(clientFrame(op, std::string(126, 'x'))), close_code::kProtocolError);
    // Even a small payload is refused when it uses the extended length form.
    FrameOpts o;
    o.lengthForm = 126;
    EXPECT_EQ(errorOf(clientFrame(op, closePayload(1000), o)), close_code::kProtocolError);
  }
}

TEST(WsParserErrors, ContinuationWithoutMessage) {
  EXPECT_EQ(errorOf(clientFrame(WsOpcode::Continuation, "x")), close_code::kProtocolError);
  FrameOpts more;
  more.fin = false;
  EXPECT_EQ(errorOf(clientFrame(WsOpcode::Continuation, "x", more)), close_code::kProtocolError);
  // ...including after a message has just been completed.
  EXPECT_EQ(
      errorOf(clientFrame(WsOpcode::Text, "a", more) + clientFrame(WsOpcode::Continuation, "b") +
              clientFrame(WsOpcode::Continuation, "c")),
      close_code::kProtocolError);
}

TEST(WsParserErrors, NewDataFrameDuringFragmentedMessage) {
  FrameOpts more;
  more.fin = false;
  for (WsOpcode op : {WsOpcode::Text, WsOpcode::Binary}) {
    EXPECT_EQ(errorOf(clientFrame(WsOpcode::Text, "a", more) + clientFrame(op, "b")),
              close_code::kProtocolError);
    EXPECT_EQ(errorOf(clientFrame(WsOpcode::Binary, "a", more) + clientFrame(op, "b", more)),
              close_code::kProtocolError);
  }
}

TEST(WsParserErrors, SixtyFourBitLengthWithTopBitSet) {
  FrameOpts o;
  o.declaredLength = 0x8000000000000000ULL;
  std::string header = clientFrame(WsOpcode::Binary, "", o);
  EXPECT_EQ(errorOf(header), close_code::kProtocolError);
  // Detected before the mask key arrives.
  EXPECT_EQ(errorOf(header.substr(0, 10)), close_code::kProtocolError);
}

TEST(WsParserErrors, OversizeSingleFrame) {
  EXPECT_EQ(errorOf(clientFrame(WsOpcode::Text, std::string(101, 'x')), 100), close_code::kTooBig);
  EXPECT_EQ(errorOf(clientFrame(WsOpcode::Binary, std::string(101, 'x')), 100),
            close_code::kTooBig);
  FrameOpts more;
  more.fin = false;
  EXPECT_EQ(errorOf(clientFrame(WsOpcode::Text, std::string(101, 'x'), more), 100),
            close_code::kTooBig);
  // Exactly at the limit is fine.
  Harness h(100);
  EXPECT_EQ(h.feed(clientFrame(WsOpcode::Text, std::string(100, 'x'))), 0);
  EXPECT_EQ(h.got.size(), 1u);
}

TEST(WsParserErrors, OversizeDetectedFromHeaderAlone) {
  FrameOpts o;
  o.declaredLength = 1ULL << 30;  // 1 GiB that never arrives
  const std::string header = clientFrame(WsOpcode::Binary, "", o);
  ASSERT_EQ(header.size(), 14u);
  EXPECT_EQ(errorOf(header, 65536), close_code::kTooBig);
  // The length field alone (no mask key yet) is enough.
  EXPECT_EQ(errorOf(header.substr(0, 10), 65536), close_code::kTooBig);
  // Also when the header trickles in over several reads.
  Harness h(65536);
  EXPECT_EQ(h.feed(header.substr(0, 1)), 0);
  EXPECT_EQ(h.feed(header.substr(1, 4)), 0);
  EXPECT_EQ(h.feed(header.substr(5, 5)), close_code::kTooBig);
  // 16-bit lengths too.
  o.declaredLength = 60000;
  EXPECT_EQ(errorOf(clientFrame(WsOpcode::Text, "", o).substr(0, 4), 1000), close_code::kTooBig);
}

TEST(WsParserErrors, OversizeJoinedFragments) {
  FrameOpts more;
  more.fin = false;
  const std::string part(40, 'x');
  const std::string ok = clientFrame(WsOpcode::Text, part, more) +
                         clientFrame(WsOpcode::Continuation, part, more) +
                         clientFrame(WsOpcode::Continuation, std::string(20, 'x'));
  Harness h(100);
  EXPECT_EQ(h.feed(ok), 0);
  ASSERT_EQ(h.got.size(), 1u);
  EXPECT_EQ(h.got[0].payload.size(), 100u);

  const std::string tooBig = clientFrame(WsOpcode::Text, part, more) +
                             clientFrame(WsOpcode::Continuation, part, more) +
                             clientFrame(WsOpcode::Continuation, std::string(21, 'x'));
  EXPECT_EQ(errorOf(tooBig, 100), close_code::kTooBig);
  // Detected from the continuation's header, before its payload arrives.
  const std::string firstTwo =
      clientFrame(WsOpcode::Text, part, more) + clientFrame(WsOpcode::Continuation, part, more);
  EXPECT_EQ(
      errorOf(
          firstTwo + clientFrame(WsOpcode::Continuation, std::string(21, 'x'), more).substr(0, 2),
          100),
      close_code::kTooBig);
}

TEST(WsParserErrors, ErrorsFromTheFirstBytesOfAFrame) {
  FrameOpts o;
  o.rsv = 0x40;
  EXPECT_EQ(errorOf(clientFrame(WsOpcode::Text, "x", o).substr(0, 1)), close_code::kProtocolError);
  EXPECT_EQ(errorOf(clientFrame(std::uint8_t{5}, "x").substr(0, 1)), close_code::kProtocolError);
  EXPECT_EQ(errorOf(clientFrame(WsOpcode::Continuation, "x").substr(0, 1)),
            close_code::kProtocolError);
  FrameOpts unmasked;
  unmasked.masked = false;
  EXPECT_EQ(errorOf(clientFrame(WsOpcode::Text, "xyz", unmasked).substr(0, 2)),
            close_code::kProtocolError);
}

TEST(WsParserErrors, InvalidUtf8Text) {
  EXPECT_EQ(errorOf(clientFrame(WsOpcode::Text, "ab\xff")), close_code::kInvalidPayload);
  // Binary messages are not checked.
  EXPECT_EQ(errorOf(clientFrame(WsOpcode::Binary, "ab\xff")), 0);
  // A fragmented text message whose last fragment leaves a character unfinished.
  FrameOpts more;
  more.fin = false;
  EXPECT_EQ(errorOf(clientFrame(WsOpcode::Text, "ab", more) +
                    clientFrame(WsOpcode::Continuation, "\xe2\x82")),
            close_code::kInvalidPayload);
}

TEST(WsParserErrors, InvalidUtf8TextIsNotDelivered) {
  Harness h;
  EXPECT_EQ(h.feed(clientFrame(WsOpcode::Text, "ok") + clientFrame(WsOpcode::Text, "\xc0\xaf")),
            close_code::kInvalidPayload);
  EXPECT_EQ(h.got, std::vector<Received>{text("ok")});
}

TEST(WsParserErrors, FramesBeforeTheErrorAreDeliveredAndNothingAfter) {
  FrameOpts unmasked;
  unmasked.masked = false;
  Harness h;
  EXPECT_EQ(h.feed(clientFrame(WsOpcode::Text, "a") + clientFrame(WsOpcode::Text, "b", unmasked) +
                   clientFrame(WsOpcode::Text, "c")),
            close_code::kProtocolError);
  EXPECT_EQ(h.got, std::vector<Received>{text("a")});
  // A failed parser keeps refusing.
  EXPECT_NE(h.feed(clientFrame(WsOpcode::Text, "d")), 0);
  EXPECT_EQ(h.got.size(), 1u);
}

// ---------------------------------------------------------------------------------------------
// Close frames

TEST(WsParserClose, EmptyPayloadReports1005) {
  Harness h;
  ASSERT_EQ(h.feed(clientFrame(WsOpcode::Close, "")), 0);
  ASSERT_EQ(h.got.size(), 1u);
  EXPECT_EQ(h.got[0], (Received{WsOpcode::Close, "", 1005}));
}

TEST(WsParserClose, CodeOnly) {
  Harness h;
  ASSERT_EQ(h.feed(clientFrame(WsOpcode::Close, closePayload(1001))), 0);
  EXPECT_EQ(h.got, (std::vector<Received>{{WsOpcode::Close, closePayload(1001), 1001}}));
}

TEST(WsParserClose, CodeAndReason) {
  Harness h;
  const std::string payload = closePayload(4000, "au revoir \xc3\xa9");
  ASSERT_EQ(h.feed(clientFrame(WsOpcode::Close, payload)), 0);
  EXPECT_EQ(h.got, (std::vector<Received>{{WsOpcode::Close, payload, 4000}}));
}

TEST(WsParserClose, OneBytePayloadIsAProtocolError) {
  EXPECT_EQ(errorOf(clientFrame(WsOpcode::Close, "\x03")), close_code::kProtocolError);
}

TEST(WsParserClose, ValidCodes) {
  for (std::uint16_t code :
       {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999}) {
    Harness h;
    EXPECT_EQ(h.feed(clientFrame(WsOpcode::Close, closePayload(code, "r"))), 0) << code;
    ASSERT_EQ(h.got.size(), 1u) << code;
    EXPECT_EQ(h.got[0].closeCode, code);
  }
}

TEST(WsParserClose, InvalidCodes) {
  for (std::uint16_t code :
       {0, 1, 999, 1004, 1005, 1006, 1012, 1013, 1014, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
    EXPECT_EQ(errorOf(clientFrame(WsOpcode::Close, closePayload(code))), close_code::kProtocolError)
        << code;
  }
}

TEST(WsParserClose, InvalidUtf8Reason) {
  EXPECT_EQ(errorOf(clientFrame(WsOpcode::Close, closePayload(1000, "bad \xed\xa0\x80"))),
            close_code::kInvalidPayload);
  EXPECT_EQ(errorOf(clientFrame(WsOpcode::Close, closePayload(1000, "\xce"))),
            close_code::kInvalidPayload);
}

// ---------------------------------------------------------------------------------------------
// Callback control

TEST(WsParser, CallbackReturningFalseStopsProcessing) {
  const std::string stream = clientFrame(WsOpcode::Text, "1") + clientFrame(WsOpcode::Text, "2") +
                             clientFrame(WsOpcode::Text, "3");
  Harness h;
  h.keepGoing = false;
  EXPECT_EQ(h.feed(stream), 0);
  EXPECT_EQ(h.got, std::vector<Received>{text("1")});
}

TEST(WsParser, CallbackReturningFalseStopsAfterACarriedFrame) {
  const std::string stream = clientFrame(WsOpcode::Text, "1") + clientFrame(WsOpcode::Text, "2");
  Harness h;
  h.keepGoing = false;
  EXPECT_EQ(h.feed(stream.substr(0, 3)), 0);
  EXPECT_EQ(h.feed(stream.substr(3)), 0);
  EXPECT_EQ(h.got, std::vector<Received>{text("1")});
}

// ---------------------------------------------------------------------------------------------
// UTF-8

struct Utf8Case {
  const char* name;
  std::string bytes;
  bool valid;
};

std::vector<Utf8Case> utf8Cases() {
  return {
      {"empty", "", true},
      {"ascii", "hello world", true},
      {"long ascii", std::string(1000, 'a'), true},
      {"nul bytes", std::string("a\0b", 3), true},
      {"2-byte min U+0080", "\xc2\x80", true},
      {"2-byte max U+07FF", "\xdf\xbf", true},
      {"3-byte min U+0800", "\xe0\xa0\x80", true},
      {"euro", "\xe2\x82\xac", true},
      {"before surrogates U+D7FF", "\xed\x9f\xbf", true},
      {"after surrogates U+E000", "\xee\x80\x80", true},
      {"U+FFFF", "\xef\xbf\xbf", true},
      {"U+FFFE (noncharacter, still valid)", "\xef\xbf\xbe", true},
      {"4-byte min U+10000", "\xf0\x90\x80\x80", true},
      {"emoji", "\xf0\x9f\x98\x80", true},
      {"U+10FFFF", "\xf4\x8f\xbf\xbf", true},
      {"mixed", "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z", true},
      {"lone continuation", "\x80", false},
      {"continuation after ascii", "abc\xbf", false},
      {"overlong 2-byte C0", "\xc0\xaf", false},
      {"overlong 2-byte C1", "\xc1\xbf", false},
      {"overlong 3-byte", "\xe0\x80\xaf", false},
      {"overlong 3-byte max", "\xe0\x9f\xbf", false},
      {"overlong 4-byte", "\xf0\x80\x80\xaf", false},
      {"overlong 4-byte max", "\xf0\x8f\xbf\xbf", false},
      {"surrogate D800", "\xed\xa0\x80", false},
      {"surrogate DFFF", "\xed\xbf\xbf", false},
      {"surrogate pair as CESU-8", "\xed\xa0\xbd\xed\xb8\x80", false},
      {"above U+10FFFF", "\xf4\x90\x80\x80", false},
      {"F5 lead", "\xf5\x80\x80\x80", false},
      {"F8 5-byte lead", "\xf8\x88\x80\x80\x80", false},
      {"FE", "\xfe", false},
      {"FF", "\xff", false},
      {"truncated 2-byte", "\xc3", false},
      {"truncated 3-byte", "\xe2\x82", false},
      {"truncated 4-byte", "\xf0\x9f\x98", false},
      {"truncated then ascii", "\xe2\x82z", false},
      {"lead then lead", "\xc3\xc3\xa9", false},
      {"bad 3rd byte", "\xe2\x82\x41", false},
      {"bad 4th byte", "\xf0\x9f\x98\x41", false},
      {"invalid after 8 ascii", "12345678\xff", false},
      {"invalid in 2nd word", "1234567890\xc0\x80zzzz", false},
      {"truncated at end of long ascii", std::string(64, 'a') + "\xf0\x9f", false},
  };
}

TEST(WsUtf8, TableOfCases) {
  for (const auto& c : utf8Cases()) {
    EXPECT_EQ(isValidUtf8(c.bytes), c.valid) << c.name;
  }
}

TEST(WsUtf8, TableOfCasesThroughTextFrames) {
  for (const auto& c : utf8Cases()) {
    EXPECT_EQ(errorOf(clientFrame(WsOpcode::Text, c.bytes)),
              c.valid ? 0 : close_code::kInvalidPayload)
        << c.name;
  }
}

std::string encodeUtf8(std::uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    s.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    s.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    s.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
  return s;
}

TEST(WsUtf8, EveryCodePoint) {
  for (std::uint32_t cp = 0; cp <= 0x10FFFF; ++cp) {
    const bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
    ASSERT_EQ(isValidUtf8(encodeUtf8(cp)), !surrogate) << std::hex << cp;
  }
}

TEST(WsUtf8, EveryTwoByteSequence) {
  for (unsigned a = 0; a < 256; ++a) {
    for (unsigned b = 0; b < 256; ++b) {
      const char s[2] = {static_cast<char>(a), static_cast<char>(b)};
      const bool valid =
          (a < 0x80 && b < 0x80) || (a >= 0xC2 && a <= 0xDF && b >= 0x80 && b <= 0xBF);
      ASSERT_EQ(isValidUtf8(std::string_view(s, 2)), valid) << std::hex << a << " " << b;
    }
  }
}

TEST(WsUtf8, TruncationIsJudgedByTheViewNotTheBytesAfterIt) {
  // The bytes right after each view would complete the character, so reading past the end of the
  // view would wrongly accept it.
  const std::string_view all = "ab\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
  const std::vector<bool> validAtLength{true,  true, true,  false, true,  false,
                                        false, true, false, false, false, true};
  ASSERT_EQ(validAtLength.size(), all.size() + 1);
  for (std::size_t n = 0; n <= all.size(); ++n) {
    EXPECT_EQ(isValidUtf8(all.substr(0, n)), validAtLength[n]) << n;
  }
}

TEST(WsUtf8, NonAsciiAtEveryPositionOfTheFastPath) {
  for (std::size_t pos = 0; pos < 40; ++pos) {
    std::string s(40, 'a');
    s[pos] = '\xff';
    EXPECT_FALSE(isValidUtf8(s)) << pos;
    std::string ok(40, 'a');
    ok.replace(pos, 1, "\xc3\xa9");
    EXPECT_TRUE(isValidUtf8(ok)) << pos;
  }
}

TEST(WsUtf8, CharacterSplitAcrossFragmentsIsValidWhenJoined) {
  FrameOpts more;
  more.fin = false;
  for (const std::string ch : {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"}) {
    const std::string message = "x" + ch + "y";
    for (std::size_t cut = 0; cut <= message.size(); ++cut) {
      SCOPED_TRACE(cut);
      Harness h;
      ASSERT_EQ(h.feed(clientFrame(WsOpcode::Text, message.substr(0, cut), more) +
                       clientFrame(WsOpcode::Continuation, message.substr(cut))),
                0);
      ASSERT_EQ(h.got, std::vector<Received>{text(message)});
    }
    // One byte per fragment.
    std::string stream = clientFrame(WsOpcode::Text, message.substr(0, 1), more);
    for (std::size_t i = 1; i + 1 < message.size(); ++i) {
      stream += clientFrame(WsOpcode::Continuation, message.substr(i, 1), more);
    }
    stream += clientFrame(WsOpcode::Continuation, message.substr(message.size() - 1));
    Harness h;
    ASSERT_EQ(h.feed(stream), 0);
    EXPECT_EQ(h.got, std::vector<Received>{text(message)});
  }
}

// The frame deadline's clock: a carry is stamped once, keeps its stamp while the same frame waits,
// and a new incomplete frame after a complete one starts a new stamp.
TEST(WsFrameParser, IncompleteFrameKeepsItsFirstStamp) {
  Harness h;
  EXPECT_EQ(h.parser.incompleteSinceMs(), 0);
  EXPECT_EQ(h.parser.heldBytes(), 0u);
  const std::string a = clientFrame(WsOpcode::Text, "hello world");
  ASSERT_EQ(h.feed(a.substr(0, 5)), 0);
  h.parser.stampIncomplete(100);
  EXPECT_EQ(h.parser.incompleteSinceMs(), 100);
  EXPECT_GE(h.parser.heldBytes(), 5u);
  ASSERT_EQ(h.feed(a.substr(5, 3)), 0);
  h.parser.stampIncomplete(200);
  EXPECT_EQ(h.parser.incompleteSinceMs(), 100);  // the same frame still waits: its first stamp
  const std::string b = clientFrame(WsOpcode::Text, "next");
  ASSERT_EQ(h.feed(a.substr(8) + b.substr(0, 3)), 0);
  ASSERT_EQ(h.got, std::vector<Received>{text("hello world")});
  EXPECT_EQ(h.parser.incompleteSinceMs(), 0);  // a new frame began: not yet stamped
  h.parser.stampIncomplete(300);
  EXPECT_EQ(h.parser.incompleteSinceMs(), 300);
  ASSERT_EQ(h.feed(b.substr(3)), 0);
  EXPECT_EQ(h.parser.incompleteSinceMs(), 0);
  EXPECT_EQ(h.parser.heldBytes(), 0u);  // idle again: nothing held
  // release(): what was held goes, and the parser takes nothing more.
  ASSERT_EQ(h.feed(a.substr(0, 4)), 0);
  EXPECT_GT(h.parser.heldBytes(), 0u);
  h.parser.release();
  EXPECT_EQ(h.parser.heldBytes(), 0u);
  EXPECT_NE(h.feed(a.substr(4)), 0);
}

}  // namespace
}  // namespace parley::net
