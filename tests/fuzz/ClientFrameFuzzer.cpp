// fuzz_client_frame: chat/Protocol's parseClientFrame on arbitrary text frames, and the frame
// builders on what it accepts. Checks:
// - it refuses as invalid_json exactly what a fresh boost::json::parse refuses (the reused
//   thread-local parser keeps no state from one frame to the next: parsing twice agrees), and
//   anything that is not UTF-8 (the WebSocket layer refuses it first; the parser must too);
// - what it accepts keeps the documented limits: content 1..limit code points of UTF-8 without
//   NUL, client_id 1..64 code points without control characters, history limit 1..200, token
//   1..4096 bytes; with a smaller content limit the answer changes only to content_too_long;
// - an accepted chat message, broadcast by appendMessageJson (any timestamp) or echoed in an
//   error frame, is valid JSON that gives back the same content and client_id, and the content
//   sent again as a frame parses to itself.
// Input: the frame's text, as is (the corpus files are readable JSON).
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "FuzzSupport.h"
#include "chat/Protocol.h"

namespace {

using parley::chat::ClientRequest;
using parley::fuzz::referenceCodePoints;
using parley::fuzz::referenceUtf8;
using Kind = ClientRequest::Kind;

bool same(const ClientRequest& a, const ClientRequest& b) {
  return a.kind == b.kind && a.content == b.content && a.clientId == b.clientId &&
         a.before == b.before && a.limit == b.limit && a.typing == b.typing && a.token == b.token &&
         a.code == b.code && a.message == b.message;
}

bool isError(const ClientRequest& r, std::string_view code) {
  return r.kind == Kind::Error && r.code == code;
}

// The string member `key` of a JSON object, or nullptr.
const boost::json::string* member(const boost::json::value& v, std::string_view key) {
  const auto* obj = v.if_object();
  if (!obj) return nullptr;
  const auto* m = obj->if_contains(key);
  return m ? m->if_string() : nullptr;
}

boost::json::value parseOrDie(const std::string& json, const char* what) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(json, ec);
  FUZZ_CHECK(!ec, "%s is not valid JSON (%s): %s", what, ec.message().c_str(), json.c_str());
  return v;
}

// A 64-bit value from the input, so timestamps and ids range over everything, extremes too.
std::uint64_t hash(std::string_view s) {
  std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

void checkChat(const ClientRequest& r, std::string_view text, const boost::json::value& fresh) {
  FUZZ_CHECK(!r.content.empty(), "empty content accepted");
  FUZZ_CHECK(referenceUtf8(r.content), "content is not UTF-8");
  FUZZ_CHECK(r.content.find('\0') == std::string::npos, "content with U+0000 accepted");
  FUZZ_CHECK(referenceCodePoints(r.content) <= parley::chat::ProtocolLimits{}.maxContentChars,
             "content of %zu code points accepted", referenceCodePoints(r.content));
  if (!r.clientId.empty()) {
    FUZZ_CHECK(referenceUtf8(r.clientId), "client_id is not UTF-8");
    FUZZ_CHECK(referenceCodePoints(r.clientId) <= parley::chat::kMaxClientIdChars,
               "client_id of %zu code points accepted", referenceCodePoints(r.clientId));
    for (unsigned char c : r.clientId) FUZZ_CHECK(c >= 0x20, "client_id with a control character");
  }
  const auto* content = member(fresh, "content");
  FUZZ_CHECK(content && std::string_view(*content) == r.content,
             "content differs from boost::json's reading of the frame");

  // Broadcast: valid JSON that gives back what was sent.
  const std::uint64_t h = hash(text);
  parley::chat::ChatMessage m;
  m.id = h;
  m.room = "general";
  m.username = "alice";
  m.content = r.content;
  m.clientId = r.clientId;
  m.unixMillis = static_cast<std::int64_t>(h * 0x9E3779B97F4A7C15ULL);
  std::string json;
  parley::chat::appendMessageJson(json, m);
  const boost::json::value v = parseOrDie(json, "appendMessageJson");
  const auto* back = member(v, "content");
  FUZZ_CHECK(back && std::string_view(*back) == r.content, "content changed in the broadcast");
  const auto* backId = member(v, "client_id");
  FUZZ_CHECK(
      r.clientId.empty() ? backId == nullptr : backId && std::string_view(*backId) == r.clientId,
      "client_id changed in the broadcast");
  const auto* type = member(v, "type");
  FUZZ_CHECK(type && *type == "message", "broadcast without type message");
  const auto* id = v.as_object().if_contains("id");
  FUZZ_CHECK(id && id->is_number() && id->to_number<std::uint64_t>() == h, "id changed");

  // An error frame about this message (rate_limited echoes the client_id).
  const boost::json::value e =
      parseOrDie(parley::chat::buildErrorJson("rate_limited", "too many", r.clientId), "error");
  const auto* errId = member(e, "client_id");
  FUZZ_CHECK(
      r.clientId.empty() ? errId == nullptr : errId && std::string_view(*errId) == r.clientId,
      "client_id changed in the error frame");

  // The content sent again, as the client library would frame it, parses to itself.
  std::string again = R"({"type":"message","content":)";
  parley::chat::appendJsonString(again, r.content);
  if (!r.clientId.empty()) {
    again += R"(,"client_id":)";
    parley::chat::appendJsonString(again, r.clientId);
  }
  again += '}';
  const ClientRequest r2 = parley::chat::parseClientFrame(again, {});
  FUZZ_CHECK(r2.kind == Kind::Chat && r2.content == r.content && r2.clientId == r.clientId,
             "re-encoded content does not parse to itself: %s", again.c_str());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const ClientRequest r = parley::chat::parseClientFrame(text, {});
  FUZZ_CHECK(same(r, parley::chat::parseClientFrame(text, {})), "a second parse differs");

  boost::system::error_code ec;
  const boost::json::value fresh = boost::json::parse(text, ec);
  FUZZ_CHECK(isError(r, "invalid_json") == static_cast<bool>(ec),
             "invalid_json is %d, boost::json::parse says %s", isError(r, "invalid_json"),
             ec ? ec.message().c_str() : "valid");
  if (!referenceUtf8(text)) FUZZ_CHECK(isError(r, "invalid_json"), "non-UTF-8 frame accepted");

  switch (r.kind) {
    case Kind::Chat:
      checkChat(r, text, fresh);
      break;
    case Kind::History:
      FUZZ_CHECK(r.limit >= 1 && r.limit <= parley::chat::kMaxPageLimit, "limit %zu", r.limit);
      FUZZ_CHECK(member(fresh, "type") && *member(fresh, "type") == "history", "not history");
      break;
    case Kind::Typing:
      FUZZ_CHECK(member(fresh, "type") && *member(fresh, "type") == "typing", "not typing");
      break;
    case Kind::Auth:
      FUZZ_CHECK(!r.token.empty() && r.token.size() <= parley::chat::kMaxTokenChars,
                 "token of %zu bytes", r.token.size());
      FUZZ_CHECK(referenceUtf8(r.token), "token is not UTF-8");
      break;
    case Kind::Subscribe:
    case Kind::Unsubscribe: {
      const char* type = r.kind == Kind::Subscribe ? "subscribe" : "unsubscribe";
      FUZZ_CHECK(member(fresh, "type") && *member(fresh, "type") == type, "not %s", type);
      FUZZ_CHECK(r.roomField == ClientRequest::RoomField::String, "%s without a room string", type);
      break;
    }
    case Kind::Edit:
    case Kind::Delete: {
      const char* type = r.kind == Kind::Edit ? "edit" : "delete";
      FUZZ_CHECK(member(fresh, "type") && *member(fresh, "type") == type, "not %s", type);
      FUZZ_CHECK(r.messageId >= 1, "%s of message id 0", type);
      if (r.kind == Kind::Edit)
        FUZZ_CHECK(!r.content.empty() && referenceUtf8(r.content), "edit without a good content");
      break;
    }
    case Kind::Error:
      FUZZ_CHECK(!r.code.empty() && !r.message.empty(), "error without code or message");
      parseOrDie(parley::chat::buildErrorJson(r.code, r.message), "error frame");
      break;
  }

  // A smaller content limit changes nothing but the content_too_long answer.
  const parley::chat::ProtocolLimits small{8};
  const ClientRequest s = parley::chat::parseClientFrame(text, small);
  if (!same(r, s)) {
    const auto* content = member(fresh, "content");
    FUZZ_CHECK(isError(s, "content_too_long") && content &&
                   referenceCodePoints(*content) > small.maxContentChars,
               "the content limit changed another answer");
  }
  if (r.kind == Kind::Chat && referenceCodePoints(r.content) > small.maxContentChars)
    FUZZ_CHECK(isError(s, "content_too_long"), "content over the small limit accepted");
  return 0;
}
