#include "chat/Protocol.h"

#include <array>
#include <boost/json/parser.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cstdio>

namespace parley::chat {

namespace {

ClientRequest error(std::string_view code, std::string_view message) {
  ClientRequest r;
  r.kind = ClientRequest::Kind::Error;
  r.code = code;
  r.message = message;
  return r;
}

// One parser per thread: it keeps its buffers between frames, which saves an allocation per
// message on the inbound path.
boost::json::parser& threadParser() {
  thread_local boost::json::parser parser;
  return parser;
}

}  // namespace

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

  if (const auto* type = obj->if_contains("type")) {
    const auto* s = type->if_string();
    if (!s || *s != "message") return error("unknown_type", "unknown or unsupported \"type\"");
  }
  const auto* contentValue = obj->if_contains("content");
  if (!contentValue) return error("invalid_message", "missing \"content\"");
  const auto* content = contentValue->if_string();
  if (!content) return error("invalid_message", "\"content\" must be a string");
  if (content->empty()) return error("empty_content", "\"content\" must not be empty");
  if (countCodePoints(*content) > limits.maxContentChars)
    return error("content_too_long", "\"content\" is longer than the server accepts");

  ClientRequest r;
  r.kind = ClientRequest::Kind::Chat;
  r.content.assign(content->data(), content->size());
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
  out.push_back('}');
}

std::string buildErrorJson(std::string_view code, std::string_view message) {
  std::string out = R"({"type":"error","code":)";
  appendJsonString(out, code);
  out.append(R"(,"message":)");
  appendJsonString(out, message);
  out.push_back('}');
  return out;
}

}  // namespace parley::chat
