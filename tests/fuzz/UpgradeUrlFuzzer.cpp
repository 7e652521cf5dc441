// fuzz_upgrade_url: the WebSocket upgrade's reading of its request target ("/ws/" + the input):
// Boost.URL's origin-form parse, the percent-decoded room segment and query parameters, and
// chat/Names' rules for room names and usernames. Checks, against a plain decoder and the name
// rules written out here from docs/PROTOCOL.md:
// - a target that passes names exactly one room, which is the raw segment percent-decoded and
//   matches [A-Za-z0-9._~-]{1,64};
// - the username is the first "username" parameter, decoded ('+' is a space), and is accepted
//   exactly when it is 1-32 code points of UTF-8 without control characters and without white
//   space at either end (usernameError and roomNameError agree with the rules on any string);
// - since is accepted exactly when it is 1-19 digits.
// Input: the part of the target after "/ws/".
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "FuzzSupport.h"
#include "UpgradeTarget.h"
#include "chat/Names.h"

namespace {

// RFC 3986 percent-decoding; nullopt for a '%' not followed by two hex digits.
std::optional<std::string> percentDecode(std::string_view s, bool plusIsSpace) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size() || hex(s[i + 1]) < 0 || hex(s[i + 2]) < 0) return std::nullopt;
      out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
      i += 2;
    } else {
      out.push_back(plusIsSpace && s[i] == '+' ? ' ' : s[i]);
    }
  }
  return out;
}

bool roomRule(std::string_view room) {
  if (room.empty() || room.size() > 64 || room == "." || room == "..") return false;
  for (char c : room)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '~' || c == '-'))
      return false;
  return true;
}

std::vector<char32_t> codePoints(std::string_view s) {
  std::vector<char32_t> out;
  for (std::size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    const std::size_t n = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
    char32_t cp = n == 1 ? b : n == 2 ? b & 0x1F : n == 3 ? b & 0x0F : b & 0x07;
    for (std::size_t k = 1; k < n; ++k)
      cp = cp << 6 | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    out.push_back(cp);
    i += n;
  }
  return out;
}

// docs/PROTOCOL.md: white space is Unicode's White_Space set minus the controls (which are
// refused anyway), plus U+FEFF (a zero-width no-break space that renders as nothing).
bool isWhiteSpace(char32_t c) {
  return c == 0x20 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
         c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000 || c == 0xFEFF;
}

// `maxChars`: 32 for an ASCII name (already NFC); a name with other characters is counted after
// NFC, which this reference does not model and which may join up to three code points into one
// (a combining mark onto its letter: 33 code points can be 32 characters), so 96 there.
bool usernameRule(std::string_view name, std::size_t maxChars = 32) {
  if (name.empty() || !parley::fuzz::referenceUtf8(name)) return false;
  const auto cps = codePoints(name);
  if (cps.size() > maxChars) return false;
  for (char32_t c : cps)
    if (c < 0x20 || (c >= 0x7F && c <= 0x9F)) return false;
  return !isWhiteSpace(cps.front()) && !isWhiteSpace(cps.back());
}

// RFC 3986 origin-form: absolute-path [ "?" query ], path = 1*( "/" segment ), segment = *pchar,
// query = *( pchar / "/" / "?" ), pchar = unreserved / pct-encoded / sub-delims / ":" / "@".
bool originForm(std::string_view t) {
  auto pchar = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("-._~!$&'()*+,;=:@").find(c) != std::string_view::npos;
  };
  if (t.empty() || t[0] != '/') return false;
  bool inQuery = false;
  for (std::size_t i = 0; i < t.size(); ++i) {
    const char c = t[i];
    if (c == '%') {
      if (!percentDecode(t.substr(i, 3), false) || i + 2 >= t.size()) return false;
      i += 2;
    } else if (c == '?') {
      inQuery = true;
    } else if (!(pchar(c) || c == '/' || (inQuery && c == '?'))) {
      return false;
    }
  }
  return true;
}

// The reference rule above is the base rule (UTF-8, length, controls, white space at the ends).
// chat/Names also refuses, by Unicode's properties through ICU, invisible, bidi, unassigned and
// other characters this reference does not model: for a name with any non-ASCII byte the base
// rule is only necessary; for an ASCII name the two must agree exactly.
bool agreesWithRule(std::string_view name, bool accepted) {
  const bool ascii = std::all_of(name.begin(), name.end(),
                                 [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  return ascii ? accepted == usernameRule(name) : (!accepted || usernameRule(name, 3 * 32));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  // The name rules on any string, decoded or not.
  FUZZ_CHECK((parley::chat::roomNameError(input) == nullptr) == roomRule(input),
             "roomNameError disagrees with the rule");
  FUZZ_CHECK(agreesWithRule(input, parley::chat::usernameError(input) == nullptr),
             "usernameError disagrees with the rule");

  const std::string target = "/ws/" + std::string(input);
  const parley::fuzz::UpgradeTarget up = parley::fuzz::readUpgradeTarget(target);
  FUZZ_CHECK(up.parsed == originForm(target), "Boost.URL %s a target the grammar %s",
             up.parsed ? "accepted" : "refused", up.parsed ? "refuses" : "accepts");
  if (!up.parsed) return 0;

  // The room: the one raw segment after /ws/, decoded.
  const std::size_t q = target.find('?');
  const std::string_view path = std::string_view(target).substr(0, q);
  const std::string_view rawRoom = path.substr(4);
  const auto room = percentDecode(rawRoom, false);
  FUZZ_CHECK(room, "a path Boost.URL accepted has a bad escape");
  const bool roomOk = rawRoom.find('/') == std::string_view::npos && roomRule(*room);
  FUZZ_CHECK((up.refusal != "invalid_room") == roomOk, "room \"%s\" %s", room->c_str(),
             up.refusal == "invalid_room" ? "refused" : "accepted");
  if (!roomOk) return 0;
  FUZZ_CHECK(*room == up.room, "room \"%s\" is not the decoded segment", up.room.c_str());

  // The query: the first parameter with each name (names are decoded before they are compared).
  std::optional<std::string> username;
  std::optional<std::string> since;
  if (q != std::string::npos) {
    std::string_view query = std::string_view(target).substr(q + 1);
    for (;;) {
      const std::size_t amp = query.find('&');
      const std::string_view param = query.substr(0, amp);
      const std::size_t eq = param.find('=');
      const auto key = percentDecode(param.substr(0, eq), true);
      FUZZ_CHECK(key, "a query Boost.URL accepted has a bad escape");
      const auto value = eq == std::string_view::npos ? std::optional<std::string>("")
                                                      : percentDecode(param.substr(eq + 1), true);
      FUZZ_CHECK(value, "a query Boost.URL accepted has a bad escape");
      if (*key == "username" && !username) username = *value;
      if (*key == "since" && !since) since = *value;
      if (amp == std::string_view::npos) break;
      query.remove_prefix(amp + 1);
    }
  }
  FUZZ_CHECK(up.namedUser == username.has_value(), "username parameter found: %d, here: %d",
             up.namedUser, username.has_value());
  if (username) {
    FUZZ_CHECK(up.username == *username, "username \"%s\", decoded here \"%s\"",
               up.username.c_str(), username->c_str());
    FUZZ_CHECK(agreesWithRule(*username, up.refusal != "invalid_username"), "username \"%s\" %s",
               username->c_str(), up.refusal == "invalid_username" ? "refused" : "accepted");
  }
  if (up.refusal == "invalid_username") return 0;
  FUZZ_CHECK(up.since.has_value() == (since && !since->empty() && since->size() <= 19 &&
                                      since->find_first_not_of("0123456789") == std::string::npos),
             "since \"%s\"", since ? since->c_str() : "(none)");
  FUZZ_CHECK(up.refusal == (since && !up.since ? "invalid_since" : ""), "refusal %.*s",
             static_cast<int>(up.refusal.size()), up.refusal.data());
  return 0;
}
