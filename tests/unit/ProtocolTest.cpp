#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <iterator>
#include <optional>

#include "chat/Protocol.h"

namespace parley::chat {
namespace {

ProtocolLimits limits() { return ProtocolLimits{4000}; }

TEST(ParseClientFrame, SeedFrameIsAChatMessage) {
  auto r = parseClientFrame(R"({"content": "Hello world!"})", limits());
  ASSERT_EQ(r.kind, ClientRequest::Kind::Chat);
  EXPECT_EQ(r.content, "Hello world!");
}

TEST(ParseClientFrame, ExplicitMessageTypeAndExtraMembersAreAccepted) {
  auto r = parseClientFrame(R"({"type":"message","content":"hi","mood":"happy"})", limits());
  ASSERT_EQ(r.kind, ClientRequest::Kind::Chat);
  EXPECT_EQ(r.content, "hi");
}

TEST(ParseClientFrame, EscapesAreDecoded) {
  auto r = parseClientFrame(R"({"content":"a\"b\\c\n\u00e9\ud83d\ude00"})", limits());
  ASSERT_EQ(r.kind, ClientRequest::Kind::Chat);
  EXPECT_EQ(r.content, "a\"b\\c\n\xC3\xA9\xF0\x9F\x98\x80");
}

struct BadCase {
  const char* frame;
  const char* code;
};

class ParseClientFrameErrors : public ::testing::TestWithParam<BadCase> {};

TEST_P(ParseClientFrameErrors, GiveTheDocumentedCode) {
  auto r = parseClientFrame(GetParam().frame, limits());
  ASSERT_EQ(r.kind, ClientRequest::Kind::Error) << GetParam().frame;
  EXPECT_EQ(r.code, GetParam().code) << GetParam().frame;
  EXPECT_FALSE(r.message.empty());
}

INSTANTIATE_TEST_SUITE_P(
    All, ParseClientFrameErrors,
    ::testing::Values(BadCase{"", "invalid_json"}, BadCase{"{", "invalid_json"},
                      BadCase{"hello", "invalid_json"},
                      BadCase{R"({"content":"x"} {})", "invalid_json"},
                      BadCase{"[1,2]", "invalid_message"}, BadCase{"\"text\"", "invalid_message"},
                      BadCase{"null", "invalid_message"}, BadCase{"{}", "invalid_message"},
                      BadCase{R"({"content":5})", "invalid_message"},
                      BadCase{R"({"content":null})", "invalid_message"},
                      BadCase{R"({"content":["a"]})", "invalid_message"},
                      BadCase{R"({"content":""})", "empty_content"},
                      BadCase{R"({"content":"a\u0000b"})", "invalid_message"},
                      BadCase{R"({"content":"x","client_id":""})", "invalid_client_id"},
                      BadCase{R"({"content":"x","client_id":5})", "invalid_client_id"},
                      BadCase{R"({"content":"x","client_id":"a\nb"})", "invalid_client_id"},
                      BadCase{R"({"type":"typing","state":"yes"})", "invalid_message"},
                      BadCase{R"({"type":"history","before":-1})", "invalid_message"},
                      BadCase{R"({"type":"history","limit":0})", "invalid_message"},
                      BadCase{R"({"type":"bogus","content":"x"})", "unknown_type"},
                      BadCase{R"({"type":5,"content":"x"})", "unknown_type"},
                      BadCase{R"({"type":"auth"})", "invalid_message"},
                      BadCase{R"({"type":"auth","token":""})", "invalid_message"},
                      BadCase{R"({"type":"auth","token":7})", "invalid_message"}));

TEST(ParseClientFrame, ClientIdTypingAndHistoryRequests) {
  auto chat = parseClientFrame(R"({"content":"hi","client_id":"c-1"})", limits());
  ASSERT_EQ(chat.kind, ClientRequest::Kind::Chat);
  EXPECT_EQ(chat.clientId, "c-1");
  auto typing = parseClientFrame(R"({"type":"typing","state":true})", limits());
  ASSERT_EQ(typing.kind, ClientRequest::Kind::Typing);
  EXPECT_TRUE(typing.typing);
  auto page = parseClientFrame(R"({"type":"history","before":120,"limit":500})", limits());
  ASSERT_EQ(page.kind, ClientRequest::Kind::History);
  EXPECT_EQ(page.before, 120u);
  EXPECT_EQ(page.limit, kMaxPageLimit);
  auto newest = parseClientFrame(R"({"type":"history"})", limits());
  ASSERT_EQ(newest.kind, ClientRequest::Kind::History);
  EXPECT_EQ(newest.before, 0u);
  EXPECT_EQ(newest.limit, kDefaultPageLimit);
}

TEST(ParseClientFrame, ContentLimitCountsCharactersNotBytes) {
  const std::string emoji = "\xF0\x9F\x98\x80";
  std::string content;
  for (int i = 0; i < 4000; ++i) content += emoji;
  auto ok = parseClientFrame(R"({"content":")" + content + "\"}", limits());
  EXPECT_EQ(ok.kind, ClientRequest::Kind::Chat);
  auto tooLong = parseClientFrame(R"({"content":")" + content + "x\"}", limits());
  ASSERT_EQ(tooLong.kind, ClientRequest::Kind::Error);
  EXPECT_EQ(tooLong.code, "content_too_long");
}

TEST(Timestamp, UtcWithMillisecondsAndZ) {
  EXPECT_EQ(formatTimestamp(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(formatTimestamp(1758122625123), "2025-09-17T15:23:45.123Z");
  EXPECT_EQ(formatTimestamp(951782400007), "2000-02-29T00:00:00.007Z");  // leap day
  EXPECT_EQ(formatTimestamp(4102444799999), "2099-12-31T23:59:59.999Z");
}

std::string jsonString(std::string_view s) {
  std::string out;
  appendJsonString(out, s);
  return out;
}

TEST(JsonString, EscapesQuotesBackslashesAndControls) {
  EXPECT_EQ(jsonString("plain"), "\"plain\"");
  EXPECT_EQ(jsonString("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(jsonString("\n\r\t\b\f"), R"("\n\r\t\b\f")");
  EXPECT_EQ(jsonString(std::string_view("\x00\x01\x1f", 3)), R"("\u0000\u0001\u001f")");
  EXPECT_EQ(jsonString("\x7f"), "\"\x7f\"");
  EXPECT_EQ(jsonString("</script>"), "\"</script>\"");
}

TEST(JsonString, EveryByteStringRoundTripsThroughAJsonParser) {
  // All code points of the BMP outside surrogates, plus astral ones, as UTF-8.
  std::string s;
  auto put = [&s](char32_t cp) {
    if (cp < 0x80) {
      s += static_cast<char>(cp);
    } else if (cp < 0x800) {
      s += static_cast<char>(0xC0 | (cp >> 6));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      s += static_cast<char>(0xE0 | (cp >> 12));
      s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      s += static_cast<char>(0xF0 | (cp >> 18));
      s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    }
  };
  for (char32_t cp = 0; cp < 0x10000; ++cp)
    if (cp < 0xD800 || cp > 0xDFFF) put(cp);
  for (char32_t cp = 0x10000; cp <= 0x10FFFF; cp += 0x101) put(cp);
  const auto v = boost::json::parse(jsonString(s));
  EXPECT_EQ(std::string_view(v.as_string()), s);
}

TEST(MessageJson, KeepsTheOriginalFieldsFirstAndAddsIdAndRoom) {
  ChatMessage m;
  m.id = 42;
  m.room = "general";
  m.username = "Alice";
  m.content = "Hello world!";
  m.unixMillis = 1758122625123;
  std::string out;
  appendMessageJson(out, m);
  EXPECT_EQ(out, R"({"type":"message","username":"Alice","content":"Hello world!",)"
                 R"("timestamp":"2025-09-17T15:23:45.123Z","id":42,"room":"general"})");
}

TEST(MessageJson, HostileContentStaysOneValidObject) {
  ChatMessage m;
  m.id = 1;
  m.room = "r";
  m.username = "\"},{\"type\":\"evil";
  m.content = "\"\\\n\x01</script><img src=x onerror=alert(1)>";
  std::string out;
  appendMessageJson(out, m);
  const auto v = boost::json::parse(out).as_object();
  EXPECT_EQ(v.at("username").as_string(), m.username);
  EXPECT_EQ(v.at("content").as_string(), m.content);
  EXPECT_EQ(v.size(), 6u);
}

TEST(ParseClientFrame, AuthCarriesItsTokenUpToTheLimit) {
  auto auth = parseClientFrame(R"({"type":"auth","token":"a.b.c"})", limits());
  ASSERT_EQ(auth.kind, ClientRequest::Kind::Auth);
  EXPECT_EQ(auth.token, "a.b.c");
  const std::string longest(kMaxTokenChars, 't');
  EXPECT_EQ(parseClientFrame(R"({"type":"auth","token":")" + longest + "\"}", limits()).kind,
            ClientRequest::Kind::Auth);
  EXPECT_EQ(parseClientFrame(R"({"type":"auth","token":")" + longest + "t\"}", limits()).code,
            "invalid_message");
}

TEST(AuthJson, NamesTheAccountAndTheNewExpiry) {
  const auto v = boost::json::parse(buildAuthJson("Al\"ice", 1'758'122'625'000)).as_object();
  EXPECT_EQ(v.at("type").as_string(), "auth");
  EXPECT_EQ(v.at("username").as_string(), "Al\"ice");
  EXPECT_EQ(v.at("expires_at").as_string(), "2025-09-17T15:23:45.000Z");
}

TEST(ErrorJson, HasTypeCodeAndMessage) {
  const auto v = boost::json::parse(buildErrorJson("invalid_json", "frame \"x\"")).as_object();
  EXPECT_EQ(v.at("type").as_string(), "error");
  EXPECT_EQ(v.at("code").as_string(), "invalid_json");
  EXPECT_EQ(v.at("message").as_string(), "frame \"x\"");
}

TEST(ParseClientFrame, ReadsTheRoomOfAnyFrameAndSubscribeRequests) {
  using Kind = ClientRequest::Kind;
  using RoomField = ClientRequest::RoomField;
  auto r = parseClientFrame(R"({"room":"general","content":"hi"})", limits());
  EXPECT_EQ(r.kind, Kind::Chat);
  EXPECT_EQ(r.roomField, RoomField::String);
  EXPECT_EQ(r.room, "general");
  EXPECT_EQ(parseClientFrame(R"({"content":"hi"})", limits()).roomField, RoomField::Absent);
  EXPECT_EQ(parseClientFrame(R"({"room":7,"content":"hi"})", limits()).roomField,
            RoomField::NotString);

  r = parseClientFrame(R"({"type":"subscribe","room":"a","since":41})", limits());
  ASSERT_EQ(r.kind, Kind::Subscribe);
  EXPECT_EQ(r.room, "a");
  EXPECT_EQ(r.since, std::optional<std::uint64_t>(41));
  r = parseClientFrame(R"({"type":"subscribe","room":"a"})", limits());
  ASSERT_EQ(r.kind, Kind::Subscribe);
  EXPECT_FALSE(r.since);
  EXPECT_EQ(parseClientFrame(R"({"type":"subscribe","since":0})", limits()).since,
            std::optional<std::uint64_t>(0));
  r = parseClientFrame(R"({"type":"unsubscribe","room":"a"})", limits());
  EXPECT_EQ(r.kind, Kind::Unsubscribe);
  EXPECT_EQ(r.room, "a");
}

TEST(ParseClientFrame, AFailedFrameSaysWhatItAskedFor) {
  using Kind = ClientRequest::Kind;
  auto asked = [](const char* frame) {
    auto r = parseClientFrame(frame, limits());
    EXPECT_EQ(r.kind, Kind::Error) << frame;
    return r.asked;
  };
  EXPECT_EQ(asked("{"), Kind::Error);
  EXPECT_EQ(asked("[1]"), Kind::Error);
  EXPECT_EQ(asked(R"({"type":"dance"})"), Kind::Error);
  EXPECT_EQ(asked(R"({"content":""})"), Kind::Chat);
  EXPECT_EQ(asked(R"({"room":"a","content":"x","client_id":""})"), Kind::Chat);
  EXPECT_EQ(asked(R"({"type":"typing"})"), Kind::Typing);
  EXPECT_EQ(asked(R"({"type":"history","limit":0})"), Kind::History);
  EXPECT_EQ(asked(R"({"type":"auth"})"), Kind::Auth);
  EXPECT_EQ(asked(R"({"type":"subscribe","room":"a","since":-1})"), Kind::Subscribe);
  EXPECT_EQ(asked(R"({"type":"subscribe","room":"a","since":"5"})"), Kind::Subscribe);
}

TEST(RoomJson, EveryFrameAboutARoomCarriesItLast) {
  auto room = [](const std::string& json) {
    auto v = boost::json::parse(json).as_object();
    EXPECT_EQ(std::prev(v.end())->key(), "room") << json;
    return std::string(v.at("room").as_string());
  };
  EXPECT_EQ(room(buildHistoryJson("[]", true, 7, "g")), "g");
  EXPECT_EQ(room(buildErrorJson("rate_limited", "slow", "c1", "g")), "g");
  EXPECT_EQ(room(buildMembershipJson("join", "Alice", 0, "g")), "g");
  EXPECT_EQ(room(buildTypingJson("Alice", true, "g")), "g");
  EXPECT_EQ(room(buildResumeTruncatedJson(1, 9, "g")), "g");
  EXPECT_EQ(buildUnsubscribedJson("g"), R"({"type":"unsubscribed","room":"g"})");
  // About no room: no field.
  EXPECT_FALSE(
      boost::json::parse(buildErrorJson("invalid_json", "x")).as_object().contains("room"));
  EXPECT_EQ(boost::json::parse(buildTypingJson("A", false, "a\"b")).as_object().at("room"), "a\"b");
}

TEST(CountCodePoints, CountsCharacters) {
  EXPECT_EQ(countCodePoints(""), 0u);
  EXPECT_EQ(countCodePoints("abc"), 3u);
  EXPECT_EQ(countCodePoints("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"), 3u);
}

}  // namespace
}  // namespace parley::chat
