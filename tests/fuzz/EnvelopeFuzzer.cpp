// fuzz_envelope: cluster/Envelope, what one Parley instance reads of another's messages through
// Redis (a payload is never trusted: a bad one must be refused whole, never half read). Checks:
// - parseEnvelope never reads past the payload, and accepts exactly the payloads a reference
//   reader (the format read the plainest way) accepts, with the same fields;
// - what it accepts, written again by EnvelopeWriter, is the same bytes (one encoding per
//   message);
// - unpackEnvelopes applies a batch all or nothing, and a batch packed from the accepted fields
//   unpacks to them again.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "FuzzSupport.h"
#include "cluster/Envelope.h"

namespace {

// The reference: kind byte, then "<digits>:<bytes>" fields until the end; at most kMaxFields,
// lengths of at most 10 digits.
bool referenceParse(std::string_view p, std::vector<std::string_view>& fields, bool& canonical) {
  canonical = true;
  if (p.empty()) return false;
  std::size_t i = 1;
  while (i < p.size()) {
    if (fields.size() == parley::cluster::Envelope::kMaxFields) return false;
    std::size_t digits = 0;
    std::uint64_t length = 0;
    while (i < p.size() && p[i] >= '0' && p[i] <= '9') {
      if (++digits > 10) return false;
      length = length * 10 + static_cast<std::uint64_t>(p[i] - '0');
      ++i;
    }
    if (digits == 0 || i == p.size() || p[i] != ':') return false;
    if (digits > 1 && p[i - digits] == '0') canonical = false;  // a length with leading zeros
    ++i;
    if (length > p.size() - i) return false;
    fields.push_back(p.substr(i, length));
    i += length;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view payload(reinterpret_cast<const char*>(data), size);
  parley::cluster::Envelope e;
  const bool ok = parley::cluster::parseEnvelope(payload, e);
  std::vector<std::string_view> expected;
  bool canonical = true;
  const bool refOk = referenceParse(payload, expected, canonical);
  FUZZ_CHECK(ok == refOk, "parseEnvelope says %d, the reference %d", ok, refOk);
  if (!ok) return 0;
  FUZZ_CHECK(e.count == expected.size(), "%zu fields, the reference %zu", e.count, expected.size());
  parley::cluster::EnvelopeWriter again(e.kind);
  for (std::size_t i = 0; i < e.count; ++i) {
    FUZZ_CHECK(e.field(i) == expected[i], "field %zu differs", i);
    FUZZ_CHECK(e.field(i).data() >= payload.data() &&
                   e.field(i).data() + e.field(i).size() <= payload.data() + payload.size(),
               "field %zu outside the payload", i);
    again.add(e.field(i));
  }
  // One encoding per message, unless a length was written with leading zeros (read as the
  // reference reads them; the writer never makes them).
  if (canonical) FUZZ_CHECK(again.bytes() == payload, "written again, the bytes differ");

  // The fields as a batch: packed, they unpack to themselves, in order.
  std::string packed;
  for (std::size_t i = 0; i < e.count; ++i) parley::cluster::packEnvelope(packed, e.field(i));
  std::vector<std::string> back;
  FUZZ_CHECK(
      parley::cluster::unpackEnvelopes(packed, [&](std::string_view b) { back.emplace_back(b); }),
      "a packed batch does not unpack");
  FUZZ_CHECK(back.size() == e.count, "%zu unpacked of %zu", back.size(), e.count);
  for (std::size_t i = 0; i < e.count; ++i)
    FUZZ_CHECK(back[i] == e.field(i), "unpacked %zu differs", i);
  // The payload itself read as a batch (without its kind byte): all or nothing.
  std::size_t calls = 0;
  const bool batchOk =
      parley::cluster::unpackEnvelopes(payload.substr(1), [&](std::string_view) { ++calls; });
  if (!batchOk) FUZZ_CHECK(calls == 0, "a refused batch applied %zu of its parts", calls);
  return 0;
}
