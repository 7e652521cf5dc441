#include "chat/Protocol.h"

#include <algorithm>
#include <array>
#include <boost/json/parser.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cstdio>
#include <optional>

namespace parley::chat {

namespace {

ClientRequest error(std::string_view code, std::string_view message) {
  ClientRequest r;
  r.kind = ClientRequest::Kind::Error;
  r.code = code;
  r.message = message;
  return r;
}

// The frame failed after it said what it asked for.
ClientRequest error(ClientRequest::Kind asked, std::string_view code, std::string_view message) {
  ClientRequest r = error(code, message);
  r.asked = asked;
  return r;
}

// One parser per thread: it keeps its buffers between frames, which saves an allocation per
// message on the inbound path.
boost::json::parser& threadParser() {
  thread_local boost::json::parser parser;
  return parser;
}

// A positive integer member, or `fallback` when absent; nullopt when present but not one.
std::optional<std::uint64_t> positiveInteger(const boost::json::object& obj, const char* key,
                                             std::uint64_t fallback, bool allowZero = false) {
  const auto* v = obj.if_contains(key);
  if (!v) return fallback;
  const std::int64_t min = allowZero ? 0 : 1;
  if (const auto* i = v->if_int64(); i && *i >= min) return static_cast<std::uint64_t>(*i);
  if (const auto* u = v->if_uint64(); u && *u >= static_cast<std::uint64_t>(min)) return *u;
  return std::nullopt;
}

ClientRequest parseHistoryRequest(const boost::json::object& obj) {
  ClientRequest r;
  // before: 0 (or absent) means "the newest", as over HTTP.
  const auto before = positiveInteger(obj, "before", 0, /*allowZero=*/true);
  const auto limit = positiveInteger(obj, "limit", kDefaultPageLimit);
  if (!before || !limit)
    return error(ClientRequest::Kind::History, "invalid_message",
                 "\"before\" must be a non-negative and \"limit\" a positive integer");
  r.kind = ClientRequest::Kind::History;
  r.before = *before;
  r.limit = std::min<std::uint64_t>(*limit, kMaxPageLimit);
  return r;
}

ClientRequest parseSubscribe(const boost::json::object& obj) {
  ClientRequest r;
  if (obj.contains("since")) {
    const auto since = positiveInteger(obj, "since", 0, /*allowZero=*/true);
    if (!since)
      return error(ClientRequest::Kind::Subscribe, "invalid_message",
                   "\"since\" must be a non-negative integer (a message id)");
    r.since = *since;
  }
  r.kind = ClientRequest::Kind::Subscribe;
  return r;
}

// A message's new text (a chat message's or an edit's): a non-empty string without U+0000 of at
// most the limit's characters. Null when fine, else the error (`asked` set).
std::optional<ClientRequest> contentError(const boost::json::value* contentValue,
                                          ClientRequest::Kind asked, const ProtocolLimits& limits) {
  if (!contentValue) return error(asked, "invalid_message", "missing \"content\"");
  const auto* content = contentValue->if_string();
  if (!content) return error(asked, "invalid_message", "\"content\" must be a string");
  std::string_view code;
  if (const char* why = contentProblem(*content, limits, code)) return error(asked, code, why);
  return std::nullopt;
}

// {"type":"edit","id":N,"content":"..."} and {"type":"delete","id":N}.
ClientRequest parseChange(const boost::json::object& obj, ClientRequest::Kind kind,
                          const ProtocolLimits& limits) {
  const auto id = positiveInteger(obj, "id", 0);
  if (!id || *id == 0)
    return error(kind, "invalid_message", "\"id\" must be a message id (a positive integer)");
  ClientRequest r;
  if (kind == ClientRequest::Kind::Edit) {
    const auto* contentValue = obj.if_contains("content");
    if (auto bad = contentError(contentValue, kind, limits)) {
      bad->messageId = *id;
      return *bad;
    }
    const auto& content = contentValue->get_string();
    r.content.assign(content.data(), content.size());
  }
  r.kind = kind;
  r.messageId = *id;
  return r;
}

// What the frame asks for, checked (its `room` is read by parseClientFrame).
ClientRequest parseRequest(const boost::json::object& obj, const ProtocolLimits& limits) {
  using Kind = ClientRequest::Kind;
  if (const auto* type = obj.if_contains("type")) {
    const auto* s = type->if_string();
    if (s && *s == "history") return parseHistoryRequest(obj);
    if (s && *s == "typing") {
      const auto* state = obj.if_contains("state");
      if (!state || !state->is_bool())
        return error(Kind::Typing, "invalid_message", "\"state\" must be true or false");
      ClientRequest r;
      r.kind = Kind::Typing;
      r.typing = state->get_bool();
      return r;
    }
    if (s && *s == "auth") {
      const auto* token = obj.if_contains("token");
      if (!token || !token->is_string() || token->get_string().empty() ||
          token->get_string().size() > kMaxTokenChars)
        return error(Kind::Auth, "invalid_message", "\"token\" must be a token from /api/login");
      ClientRequest r;
      r.kind = Kind::Auth;
      r.token = token->get_string();
      return r;
    }
    if (s && *s == "subscribe") return parseSubscribe(obj);
    if (s && *s == "edit") return parseChange(obj, Kind::Edit, limits);
    if (s && *s == "delete") return parseChange(obj, Kind::Delete, limits);
    if (s && *s == "unsubscribe") {
      ClientRequest r;
      r.kind = Kind::Unsubscribe;
      return r;
    }
    if (!s || *s != "message") return error("unknown_type", "unknown or unsupported \"type\"");
  }
  const auto* contentValue = obj.if_contains("content");
  if (auto bad = contentError(contentValue, Kind::Chat, limits)) return *bad;
  const auto* content = &contentValue->get_string();

  ClientRequest r;
  if (const auto* idValue = obj.if_contains("client_id")) {
    const auto* id = idValue->if_string();
    if (!id || !validClientId(*id))
      return error(Kind::Chat, "invalid_client_id",
                   "\"client_id\" must be a string of 1 to 64 characters");
    r.clientId.assign(id->data(), id->size());
  }
  r.kind = Kind::Chat;
  r.content.assign(content->data(), content->size());
  return r;
}

}  // namespace

const char* contentProblem(std::string_view content, const ProtocolLimits& limits,
                           std::string_view& code) {
  if (content.empty()) {
    code = "empty_content";
    return "\"content\" must not be empty";
  }
  // U+0000 cannot be stored (PostgreSQL text) and no client needs it.
  if (content.find('\0') != std::string_view::npos) {
    code = "invalid_message";
    return "\"content\" must not contain U+0000";
  }
  if (countCodePoints(content) > limits.maxContentChars) {
    code = "content_too_long";
    return "\"content\" is longer than the server accepts";
  }
  return nullptr;
}

bool validClientId(std::string_view id) {
  return !id.empty() && countCodePoints(id) <= kMaxClientIdChars &&
         std::none_of(id.begin(), id.end(),
                      [](char c) { return static_cast<unsigned char>(c) < 0x20; });
}

std::size_t countCodePoints(std::string_view utf8) {
  std::size_t n = 0;
  for (unsigned char c : utf8) n += (c & 0xC0) != 0x80;
  return n;
}

ClientRequest parseClientFrame(std::string_view text, const ProtocolLimits& limits) {
  auto& parser = threadParser();
  parser.reset();
  boost::system::error_code ec;
  parser.write(text.data(), text.size(), ec);
  if (ec) return error("invalid_json", "frame is not valid JSON");
  boost::json::value v = parser.release();
  const auto* obj = v.if_object();
  if (!obj) return error("invalid_message", "frame must be a JSON object");
  ClientRequest r = parseRequest(*obj, limits);
  if (const auto* room = obj->if_contains("room")) {
    if (const auto* s = room->if_string()) {
      r.roomField = ClientRequest::RoomField::String;
      r.room.assign(s->data(), s->size());
    } else {
      r.roomField = ClientRequest::RoomField::NotString;
    }
  }
  return r;
}

void appendJsonString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t runStart = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + runStart, i - runStart);
    runStart = i + 1;
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      case '\b':
        out.append("\\b");
        break;
      case '\f':
        out.append("\\f");
        break;
      default: {
        const char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
        out.append(esc, 6);
      }
    }
  }
  out.append(s.data() + runStart, s.size() - runStart);
  out.push_back('"');
}

void appendTimestamp(std::string& out, std::int64_t unixMillis) {
  using namespace std::chrono;
  const sys_time<milliseconds> tp{milliseconds{unixMillis}};
  const auto day = floor<days>(tp);
  const year_month_day ymd{day};
  const hh_mm_ss<milliseconds> hms{tp - day};
  char buf[32];
  const int n = std::snprintf(
      buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", static_cast<int>(ymd.year()),
      static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
      static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
      static_cast<int>(hms.seconds().count()), static_cast<int>(hms.subseconds().count()));
  out.append(buf, static_cast<std::size_t>(n));
}

std::string formatTimestamp(std::int64_t unixMillis) {
  std::string s;
  appendTimestamp(s, unixMillis);
  return s;
}

void appendMessageJson(std::string& out, const ChatMessage& m) {
  out.append(R"({"type":"message","username":)");
  appendJsonString(out, m.username);
  out.append(R"(,"content":)");
  appendJsonString(out, m.content);
  out.append(R"(,"timestamp":")");
  appendTimestamp(out, m.unixMillis);
  out.append(R"(","id":)");
  out.append(std::to_string(m.id));
  out.append(R"(,"room":)");
  appendJsonString(out, m.room);
  if (!m.clientId.empty()) {
    out.append(R"(,"client_id":)");
    appendJsonString(out, m.clientId);
  }
  if (m.deleted) out.append(R"(,"deleted":true)");
  if (m.editedMillis) {
    out.append(R"(,"edited_at":")");
    appendTimestamp(out, m.editedMillis);
    out.push_back('"');
  }
  out.push_back('}');
}

std::string buildEditedJson(std::uint64_t id, std::string_view content, std::int64_t editedMillis,
                            std::string_view room) {
  std::string out = R"({"type":"edited","id":)" + std::to_string(id) + R"(,"content":)";
  appendJsonString(out, content);
  out.append(R"(,"edited_at":")");
  appendTimestamp(out, editedMillis);
  out.push_back('"');
  appendRoom(out, room);
  out.push_back('}');
  return out;
}

std::string buildDeletedJson(std::uint64_t id, std::string_view room) {
  std::string out = R"({"type":"deleted","id":)" + std::to_string(id);
  appendRoom(out, room);
  out.push_back('}');
  return out;
}

std::string buildEditErrorJson(std::string_view code, std::string_view message, std::uint64_t id,
                               std::string_view room) {
  std::string out = R"({"type":"error","code":)";
  appendJsonString(out, code);
  out.append(R"(,"message":)");
  appendJsonString(out, message);
  if (id) out.append(R"(,"id":)" + std::to_string(id));
  appendRoom(out, room);
  out.push_back('}');
  return out;
}

void appendRoom(std::string& out, std::string_view room) {
  if (room.empty()) return;
  out.append(R"(,"room":)");
  appendJsonString(out, room);
}

std::string buildErrorJson(std::string_view code, std::string_view message,
                           std::string_view clientId, std::string_view room) {
  std::string out = R"({"type":"error","code":)";
  appendJsonString(out, code);
  out.append(R"(,"message":)");
  appendJsonString(out, message);
  if (!clientId.empty()) {
    out.append(R"(,"client_id":)");
    appendJsonString(out, clientId);
  }
  appendRoom(out, room);
  out.push_back('}');
  return out;
}

std::string buildHistoryJson(std::string_view messagesArray, bool hasMore, std::uint64_t before,
                             std::string_view room) {
  std::string out = R"({"type":"history","messages":)";
  out.append(messagesArray);
  out.append(R"(,"has_more":)");
  out.append(hasMore ? "true" : "false");
  if (before) {
    out.append(R"(,"before":)");
    out.append(std::to_string(before));
  }
  appendRoom(out, room);
  out.push_back('}');
  return out;
}

std::string buildMembershipJson(std::string_view type, std::string_view username,
                                std::int64_t unixMillis, std::string_view room) {
  std::string out = R"({"type":)";
  appendJsonString(out, type);
  out.append(R"(,"username":)");
  appendJsonString(out, username);
  out.append(R"(,"timestamp":")");
  appendTimestamp(out, unixMillis);
  out.push_back('"');
  appendRoom(out, room);
  out.push_back('}');
  return out;
}

std::string buildUnsubscribedJson(std::string_view room, std::string_view code) {
  std::string out = R"({"type":"unsubscribed")";
  appendRoom(out, room);
  if (!code.empty()) {
    out.append(R"(,"code":)");
    appendJsonString(out, code);
  }
  out.push_back('}');
  return out;
}

std::string buildAuthJson(std::string_view username, std::int64_t expiresAtMillis) {
  std::string out = R"({"type":"auth","username":)";
  appendJsonString(out, username);
  out.append(R"(,"expires_at":")");
  appendTimestamp(out, expiresAtMillis);
  out.append(R"("})");
  return out;
}

std::string buildTypingJson(std::string_view username, bool state, std::string_view room) {
  std::string out = R"({"type":"typing","username":)";
  appendJsonString(out, username);
  out.append(state ? R"(,"state":true)" : R"(,"state":false)");
  appendRoom(out, room);
  out.push_back('}');
  return out;
}

std::string buildResumeTruncatedJson(std::uint64_t since, std::uint64_t firstId,
                                     std::string_view room) {
  std::string out =
      R"({"type":"resume_truncated","since":)" + std::to_string(since) + R"(,"first_id":)" +
      std::to_string(firstId) +
      R"(,"message":"more messages were missed than the server replays; older ones can be paged back with history requests")";
  appendRoom(out, room);
  out.push_back('}');
  return out;
}

}  // namespace parley::chat
