// Protocol: turns client text frames into typed requests and builds the server's JSON frames.
// Pure functions over strings: never touches sockets, rooms or clocks it is not handed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace parley::chat {

struct ProtocolLimits {
  std::size_t maxContentChars = 4000;
};

// What a client frame asks for. Error carries the `error` frame's code and message.
struct ClientRequest {
  enum class Kind { Chat, Error };
  Kind kind = Kind::Error;
  std::string content;       // Chat
  std::string_view code;     // Error: a stable code from docs/PROTOCOL.md
  std::string_view message;  // Error: a human sentence
};

// Parses one text frame (already checked to be valid UTF-8 by the WebSocket layer).
ClientRequest parseClientFrame(std::string_view text, const ProtocolLimits& limits);

// A chat message as it is broadcast.
struct ChatMessage {
  std::uint64_t id = 0;
  std::string_view room;
  std::string_view username;
  std::string_view content;
  std::int64_t unixMillis = 0;
};

// {"type":"message","username":...,"content":...,"timestamp":...,"id":...,"room":...}
// The first four fields keep the original backend's order.
void appendMessageJson(std::string& out, const ChatMessage& m);

// {"type":"error","code":...,"message":...}
std::string buildErrorJson(std::string_view code, std::string_view message);

// "2025-09-17T15:23:45.123Z" (UTC, milliseconds).
std::string formatTimestamp(std::int64_t unixMillis);
void appendTimestamp(std::string& out, std::int64_t unixMillis);

// Appends `s` as a JSON string literal (quotes included). `s` must be valid UTF-8; non-ASCII
// passes through unescaped, control characters become \u00XX or their short escapes.
void appendJsonString(std::string& out, std::string_view s);

// Number of Unicode code points in valid UTF-8.
std::size_t countCodePoints(std::string_view utf8);

}  // namespace parley::chat
