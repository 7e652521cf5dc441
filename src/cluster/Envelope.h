// Envelope: one message between Parley instances as it travels through Redis pub/sub: a kind
// byte, then fields, each written as its decimal length, ':', and its bytes. Length-prefixed so
// that any bytes (a chat message's JSON, a name) pass unescaped and a reader never scans for a
// delimiter; small enough to read and to fuzz. Parsing is bounded (kMaxFields, the payload's own
// size) and never trusts a length: a malformed payload is refused whole, never half read.
// Knows nothing of what the kinds mean (chat/ClusterOwner does).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace parley::cluster {

class EnvelopeWriter {
 public:
  explicit EnvelopeWriter(char kind, std::size_t reserve = 64);
  EnvelopeWriter& add(std::string_view field);
  EnvelopeWriter& add(std::uint64_t number);
  const std::string& bytes() const { return bytes_; }
  std::string take() { return std::move(bytes_); }

 private:
  std::string bytes_;
};

struct Envelope {
  static constexpr std::size_t kMaxFields = 8;
  char kind = 0;
  std::size_t count = 0;
  std::array<std::string_view, kMaxFields> fields;  // views into the parsed payload

  // The field at `i`, or "" past the end.
  std::string_view field(std::size_t i) const { return i < count ? fields[i] : std::string_view(); }
  // The field at `i` as an unsigned decimal number; false when absent or not one.
  bool number(std::size_t i, std::uint64_t& out) const;
};

// False when `payload` is not a whole, well-formed envelope (its fields then mean nothing).
bool parseEnvelope(std::string_view payload, Envelope& out);

// Several envelopes in one field (a batch: one Redis message for many): packEnvelope appends one
// to `packed`; unpackEnvelopes calls `each(bytes)` for each in order, and is false (having
// called it for none) when `packed` is not a whole sequence of them.
void packEnvelope(std::string& packed, std::string_view envelope);
bool unpackEnvelopes(std::string_view packed, const std::function<void(std::string_view)>& each);

}  // namespace parley::cluster
