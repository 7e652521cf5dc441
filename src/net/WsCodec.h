// RFC 6455 framing for the server side: parses masked client frames, builds unmasked server frames.
// Pure byte handling: never does I/O, never allocates per frame on the hot path, never includes
// Boost.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>

#include "chat/CloseCode.h"

namespace parley::net {

enum class WsOpcode : std::uint8_t {
  Continuation = 0x0,
  Text = 0x1,
  Binary = 0x2,
  Close = 0x8,
  Ping = 0x9,
  Pong = 0xA,
};

// The close codes (chat/CloseCode.h holds the list, shared with the conversation, which closes
// a connection whose token expired).
namespace close_code = chat::close_code;

// Largest header a server frame needs (2 + 8 bytes, no mask).
inline constexpr std::size_t kMaxServerHeader = 10;

// Appends an unmasked FIN frame header for a payload of `payloadLen` bytes.
void appendFrameHeader(std::string& out, WsOpcode opcode, std::size_t payloadLen);

// A whole unmasked server frame.
std::string buildFrame(WsOpcode opcode, std::string_view payload);

// A close frame with `code` and a reason (truncated so the payload stays within 125 bytes).
std::string buildCloseFrame(std::uint16_t code, std::string_view reason);

// True if `s` is well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
bool isValidUtf8(std::string_view s);

// One complete item out of the stream: a whole data message (fragments already joined) or a
// control frame. `payload` points into the parser's or the caller's buffer and is valid only
// during the callback.
struct WsMessage {
  WsOpcode opcode;           // Text, Binary, Close, Ping or Pong (never Continuation)
  std::string_view payload;  // unmasked; for Close, the raw payload (code + reason)
  std::uint16_t closeCode;   // Close only: the peer's code, or 1005 when the payload is empty
};

// Incremental parser for one connection's inbound byte stream. The caller reads into any buffer
// (a per-shard scratch buffer) and calls feed(); the parser keeps only what it must between
// calls: the bytes of an incomplete frame, and the joined payload of a fragmented message.
// While a connection is idle both are empty, so an idle connection costs two empty strings.
class WsFrameParser {
 public:
  // `maxMessageBytes` (--max-frame) is at most 16 MiB: kept in 32 bits, a word less for every
  // connection.
  explicit WsFrameParser(std::size_t maxMessageBytes)
      : maxMessageBytes_(static_cast<std::uint32_t>(
            std::min<std::size_t>(maxMessageBytes, std::numeric_limits<std::uint32_t>::max()))) {}

  // Consumes `len` bytes at `data` (unmasked in place, hence non-const). Calls
  // `onMessage(const WsMessage&)` for each complete item in stream order; the callback returns
  // false to stop early (for example after it decided to close). Returns 0 if the stream is
  // still valid, else the close code to send (1002, 1007 or 1009) and the parser must not be fed
  // again. Text messages are checked for UTF-8 before they are handed out (1007).
  template <class OnMessage>
  std::uint16_t feed(char* data, std::size_t len, OnMessage&& onMessage);

  // Bytes held between calls (partial frame + fragments): what an idle connection costs.
  std::size_t bufferedBytes() const {
    return carry_ ? carry_->partial.size() + carry_->fragments.size() : 0;
  }

 private:
  struct Step {
    std::uint16_t error = 0;   // close code if the stream is invalid
    std::size_t consumed = 0;  // bytes of input used (0 = need more data)
    bool haveMessage = false;  // `message` is valid
    WsMessage message{};
  };
  // Parses at most one frame from [data, data+len). Defined in WsCodec.cpp.
  Step step(char* data, std::size_t len);
  // How many of the `len` bytes at `data` belong to the carried partial frame (all of them if
  // its end is not yet known), so only those are copied. Defined in WsCodec.cpp.
  std::size_t bytesToCompletePartial(const char* data, std::size_t len) const;
  // A joined message is handed out as a view of the fragments, so their memory can only be released
  // once the callback has returned.
  void releaseDeliveredFragments() {
    if (fragmentOpcode_ == WsOpcode::Continuation && carry_ && !carry_->fragments.empty())
      std::string().swap(carry_->fragments);
    dropEmptyCarry();
  }

  // What is kept between feed() calls, allocated only while there is some: two empty strings
  // would cost every idle connection 64 bytes.
  struct Carry {
    std::string partial;    // an incomplete frame carried over from the previous feed()
    std::string fragments;  // payload of a fragmented data message so far
  };
  Carry& carry() {
    if (!carry_) carry_ = std::make_unique<Carry>();
    return *carry_;
  }
  bool hasPartial() const { return carry_ && !carry_->partial.empty(); }
  std::size_t fragmentBytes() const { return carry_ ? carry_->fragments.size() : 0; }
  void dropEmptyCarry() {
    if (carry_ && carry_->partial.empty() && carry_->fragments.empty()) carry_.reset();
  }

  std::unique_ptr<Carry> carry_;
  std::uint32_t maxMessageBytes_;
  WsOpcode fragmentOpcode_ = WsOpcode::Continuation;  // Continuation = no message in progress
  bool failed_ = false;
};

template <class OnMessage>
std::uint16_t WsFrameParser::feed(char* data, std::size_t len, OnMessage&& onMessage) {
  if (failed_) return close_code::kProtocolError;
  // A carried-over partial frame is completed first, taking from the new bytes only what it still
  // lacks: a large frame arriving in many small reads is then copied once (not once per read), and
  // the frames after it parse straight out of the caller's buffer like in the common case.
  if (hasPartial()) {
    std::string& partial = carry_->partial;
    const std::size_t take = bytesToCompletePartial(data, len);
    partial.append(data, take);
    data += take;
    len -= take;
    Step s = step(partial.data(), partial.size());
    if (s.error) {
      failed_ = true;
      return s.error;
    }
    if (s.consumed == 0)
      return 0;  // still incomplete, and every new byte went into the partial frame
    const bool keepGoing = !s.haveMessage || onMessage(static_cast<const WsMessage&>(s.message));
    std::string().swap(carry_->partial);  // an idle connection holds no buffer
    releaseDeliveredFragments();
    if (!keepGoing) return 0;
  }
  std::size_t off = 0;
  while (off < len) {
    Step s = step(data + off, len - off);
    if (s.error) {
      failed_ = true;
      return s.error;
    }
    if (s.consumed == 0) break;
    off += s.consumed;
    if (s.haveMessage) {
      const bool keepGoing = onMessage(static_cast<const WsMessage&>(s.message));
      releaseDeliveredFragments();
      if (!keepGoing) return 0;
    }
  }
  if (off < len) carry().partial.assign(data + off, len - off);
  return 0;
}

}  // namespace parley::net
