#include "cluster/Envelope.h"

#include <charconv>
#include <vector>

namespace parley::cluster {

namespace {

// One length-prefixed field, "<length>:<bytes>": the unit of an envelope and of a batch.
void appendField(std::string& out, std::string_view field) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, field.size());
  (void)ec;  // 24 digits hold any size_t
  out.append(digits, end);
  out.push_back(':');
  out.append(field);
}

// Reads the field at `at` of `s` into `field` and moves `at` past it; false when what is there
// is not a whole field. A length is at most 10 digits: no payload Parley sends is near 10 GB.
bool readField(std::string_view s, std::size_t& at, std::string_view& field) {
  const std::size_t colon = s.find(':', at);
  if (colon == std::string_view::npos || colon == at || colon - at > 10) return false;
  std::size_t length = 0;
  auto [end, ec] = std::from_chars(s.data() + at, s.data() + colon, length);
  if (ec != std::errc() || end != s.data() + colon) return false;
  if (length > s.size() - colon - 1) return false;
  field = s.substr(colon + 1, length);
  at = colon + 1 + length;
  return true;
}

}  // namespace

EnvelopeWriter::EnvelopeWriter(char kind, std::size_t reserve) {
  bytes_.reserve(reserve);
  bytes_.push_back(kind);
}

EnvelopeWriter& EnvelopeWriter::add(std::string_view field) {
  appendField(bytes_, field);
  return *this;
}

EnvelopeWriter& EnvelopeWriter::add(std::uint64_t number) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, number);
  (void)ec;
  return add(std::string_view(digits, static_cast<std::size_t>(end - digits)));
}

bool Envelope::number(std::size_t i, std::uint64_t& out) const {
  const std::string_view f = field(i);
  if (f.empty()) return false;
  auto [end, ec] = std::from_chars(f.data(), f.data() + f.size(), out);
  return ec == std::errc() && end == f.data() + f.size();
}

bool parseEnvelope(std::string_view payload, Envelope& out) {
  out = Envelope{};
  if (payload.empty()) return false;
  out.kind = payload[0];
  std::size_t at = 1;
  while (at < payload.size()) {
    if (out.count == Envelope::kMaxFields) return false;
    if (!readField(payload, at, out.fields[out.count++])) return false;
  }
  return true;
}

void packEnvelope(std::string& packed, std::string_view envelope) { appendField(packed, envelope); }

bool unpackEnvelopes(std::string_view packed, const std::function<void(std::string_view)>& each) {
  // Checked whole first: a batch is applied all or not at all.
  std::vector<std::string_view> parts;
  for (std::size_t at = 0; at < packed.size();)
    if (!readField(packed, at, parts.emplace_back())) return false;
  for (std::string_view p : parts) each(p);
  return true;
}

}  // namespace parley::cluster
