// fuzz_ws_frame: net/WsCodec's WsFrameParser on arbitrary client byte streams, cut into reads at
// points the fuzzer chooses. Checks, for every stream and every cut:
// - the same items come out, with the same final close code, as from a plain reference parser
//   of RFC 6455 written here (one frame at a time from the whole stream, nothing carried);
// - text messages and close reasons are valid UTF-8 (by a validator independent of isValidUtf8);
//   no data message is larger than the limit, no control payload larger than 125 bytes;
// - the bytes held between reads are exactly the incomplete frame plus the fragments so far, and
//   never more than the limit + one control frame (an idle connection holds none);
// - a callback that returns false stops delivery there;
// and, through ASan, that no read goes past the bytes handed in (each read is its own exact-size
// allocation).
//
// Input: [stream bytes][split offsets: u16 each][number of splits][stop after][limit selector]
// (FuzzedDataProvider reads the integers from the end, so the stream is the front of the file).
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "FuzzSupport.h"
#include "net/WsCodec.h"

namespace {

using parley::fuzz::referenceUtf8;
using parley::net::WsFrameParser;
using parley::net::WsMessage;

struct Item {
  unsigned opcode;
  std::string payload;
  std::uint16_t closeCode;
  bool operator==(const Item&) const = default;
};

struct Outcome {
  std::vector<Item> items;
  std::uint16_t error = 0;
  std::size_t heldBytes = 0;  // incomplete frame + fragments at the end (when no error)
};

// RFC 6455 §5 as a server reads it, written for clarity: needs the whole stream, re-reads the
// header of each frame, copies every payload. Checks run in the order the protocol states them
// (header fields as soon as they are present, then the payload), so a frame broken in two ways
// gives the same close code as the parser under test.
Outcome referenceParse(std::string_view in, std::size_t maxMessage) {
  Outcome out;
  std::size_t pos = 0;
  bool inMessage = false;
  unsigned messageOpcode = 0;
  std::string fragments;
  auto fail = [&](std::uint16_t code) {
    out.error = code;
    return out;
  };
  while (pos < in.size()) {
    const std::size_t left = in.size() - pos;
    const auto* u = reinterpret_cast<const unsigned char*>(in.data() + pos);
    const bool fin = u[0] & 0x80;
    const unsigned opcode = u[0] & 0x0F;
    if (u[0] & 0x70) return fail(1002);  // no extension negotiated
    const bool control = opcode >= 8;
    if (!(opcode <= 2 || (opcode >= 8 && opcode <= 10))) return fail(1002);
    if (control && !fin) return fail(1002);
    if (!control && opcode == 0 && !inMessage) return fail(1002);
    if (!control && opcode != 0 && inMessage) return fail(1002);
    if (left < 2) break;
    if (!(u[1] & 0x80)) return fail(1002);  // clients must mask
    const unsigned len7 = u[1] & 0x7F;
    if (control && len7 > 125) return fail(1002);
    const std::size_t ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
    if (left < 2 + ext) break;
    std::uint64_t length = len7;
    if (ext) {
      length = 0;
      for (std::size_t i = 0; i < ext; ++i) length = length * 256 + u[2 + i];
    }
    if (length > INT64_MAX) return fail(1002);
    if (!control) {
      const std::size_t already = opcode == 0 ? fragments.size() : 0;
      if (length + already > maxMessage) return fail(1009);
    }
    const std::size_t header = 2 + ext + 4;
    if (left < header || left - header < length) break;
    std::string payload(in.substr(pos + header, static_cast<std::size_t>(length)));
    for (std::size_t i = 0; i < payload.size(); ++i)
      payload[i] = static_cast<char>(payload[i] ^ u[header - 4 + i % 4]);
    pos += header + static_cast<std::size_t>(length);
    if (opcode == 1 || opcode == 2) {
      if (!fin) {
        inMessage = true;
        messageOpcode = opcode;
        fragments = std::move(payload);
        continue;
      }
      if (opcode == 1 && !referenceUtf8(payload)) return fail(1007);
      out.items.push_back({opcode, std::move(payload), 0});
    } else if (opcode == 0) {
      fragments += payload;
      if (!fin) continue;
      inMessage = false;
      if (messageOpcode == 1 && !referenceUtf8(fragments)) return fail(1007);
      out.items.push_back({messageOpcode, std::move(fragments), 0});
      fragments.clear();
    } else if (opcode == 8) {
      std::uint16_t code = 1005;
      if (payload.size() == 1) return fail(1002);
      if (payload.size() >= 2) {
        code = static_cast<std::uint16_t>(static_cast<unsigned char>(payload[0]) << 8 |
                                          static_cast<unsigned char>(payload[1]));
        // Codes a peer may send (RFC 6455 §7.4, the IANA registry as Autobahn tests it).
        const bool sendable = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
                              (code >= 3000 && code <= 4999);
        if (!sendable) return fail(1002);
        if (!referenceUtf8(std::string_view(payload).substr(2))) return fail(1007);
      }
      out.items.push_back({8, std::move(payload), code});
    } else {
      out.items.push_back({opcode, std::move(payload), 0});
    }
  }
  out.heldBytes = (in.size() - pos) + fragments.size();
  return out;
}

// What the parser under test hands out, checked item by item against the limits.
struct Collector {
  std::size_t maxMessage;
  std::size_t stopAfter;  // 0: never stop
  std::vector<Item> items;
  bool stopped = false;

  bool operator()(const WsMessage& m) {
    const auto op = static_cast<unsigned>(m.opcode);
    FUZZ_CHECK(op == 1 || op == 2 || op == 8 || op == 9 || op == 10, "opcode %u handed out", op);
    FUZZ_CHECK(!stopped, "a message after the callback asked to stop");
    if (op == 1) FUZZ_CHECK(referenceUtf8(m.payload), "text message is not UTF-8");
    if (op <= 2)
      FUZZ_CHECK(m.payload.size() <= maxMessage, "message of %zu bytes over the limit %zu",
                 m.payload.size(), maxMessage);
    else
      FUZZ_CHECK(m.payload.size() <= 125, "control payload of %zu bytes", m.payload.size());
    items.push_back({op, std::string(m.payload), op == 8 ? m.closeCode : std::uint16_t{0}});
    if (stopAfter != 0 && items.size() == stopAfter) stopped = true;
    return !stopped;
  }
};

// The most a connection may hold between reads: the fragments so far and a frame cut short,
// either a data frame (at most 14 bytes of header and the part of the limit the fragments left)
// or a control frame (at most 6 + 125 bytes).
std::size_t heldBound(std::size_t maxMessage) { return maxMessage + 6 + 125; }

constexpr std::size_t kLimits[] = {0, 1, 2, 3, 125, 126, 127, 1000, 65535, 65536, 64 * 1024 + 1};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const std::size_t maxMessage = kLimits[in.ConsumeIntegral<std::uint8_t>() % std::size(kLimits)];
  const std::size_t stopAfter = in.ConsumeIntegral<std::uint8_t>() % 8;  // 0: never
  const int splitCount = in.ConsumeIntegralInRange<int>(0, 32);
  std::vector<std::size_t> cuts;
  for (int i = 0; i < splitCount && in.remaining_bytes() > 2; ++i)
    cuts.push_back(in.ConsumeIntegral<std::uint16_t>());
  const std::string stream = in.ConsumeRemainingBytesAsString();
  for (auto& c : cuts) c %= stream.size() + 1;
  std::sort(cuts.begin(), cuts.end());
  cuts.push_back(stream.size());

  const Outcome want = referenceParse(stream, maxMessage);

  // The whole stream in one read.
  {
    WsFrameParser parser(maxMessage);
    Collector got{maxMessage, 0, {}};
    std::string copy = stream;  // feed() unmasks in place
    const std::uint16_t error = parser.feed(copy.data(), copy.size(), got);
    FUZZ_CHECK(error == want.error, "one read: close code %u, reference %u", error, want.error);
    FUZZ_CHECK(got.items == want.items, "one read: %zu items differ from the reference's %zu",
               got.items.size(), want.items.size());
    if (!error)
      FUZZ_CHECK(parser.bufferedBytes() == want.heldBytes, "one read: holds %zu bytes, not %zu",
                 parser.bufferedBytes(), want.heldBytes);
  }

  // The same stream in the reads the fuzzer chose, perhaps stopping early.
  WsFrameParser parser(maxMessage);
  Collector got{maxMessage, stopAfter, {}};
  std::uint16_t error = 0;
  std::size_t from = 0;
  for (std::size_t cut : cuts) {
    const std::size_t len = cut - from;
    // An exact-size allocation per read: ASan reports any byte read past it.
    const auto read = std::make_unique<char[]>(len);
    std::copy(stream.data() + from, stream.data() + cut, read.get());
    from = cut;
    error = parser.feed(read.get(), len, got);
    if (error || got.stopped) break;  // the connection is closing: never fed again
    FUZZ_CHECK(parser.bufferedBytes() <= heldBound(maxMessage),
               "holds %zu bytes between reads (limit %zu)", parser.bufferedBytes(), maxMessage);
  }
  if (got.stopped) {
    FUZZ_CHECK(error == 0, "close code %u after the callback asked to stop", error);
    FUZZ_CHECK(want.items.size() >= stopAfter &&
                   std::equal(got.items.begin(), got.items.end(), want.items.begin()),
               "stopped after %zu items: not the reference's first ones", got.items.size());
    return 0;
  }
  FUZZ_CHECK(error == want.error, "%zu reads: close code %u, reference %u", cuts.size(), error,
             want.error);
  FUZZ_CHECK(got.items == want.items, "%zu reads: %zu items differ from the reference's %zu",
             cuts.size(), got.items.size(), want.items.size());
  if (!error)
    FUZZ_CHECK(parser.bufferedBytes() == want.heldBytes, "%zu reads: holds %zu bytes, not %zu",
               cuts.size(), parser.bufferedBytes(), want.heldBytes);
  return 0;
}
