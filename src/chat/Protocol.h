// Protocol: turns client text frames into typed requests and builds the server's JSON frames.
// Pure functions over strings: never touches sockets, rooms or clocks it is not handed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace parley::chat {

struct ProtocolLimits {
  std::size_t maxContentChars = 4000;
};

inline constexpr std::size_t kMaxClientIdChars = 64;
inline constexpr std::size_t kMaxTokenChars = 4096;
inline constexpr std::size_t kDefaultPageLimit = 50;
inline constexpr std::size_t kMaxPageLimit = 200;

// What a client frame asks for. Error carries the `error` frame's code and message.
struct ClientRequest {
  enum class Kind { Chat, History, Typing, Auth, Subscribe, Unsubscribe, Edit, Delete, Error };
  Kind kind = Kind::Error;
  // Error: what the frame asked for before it failed (Error: unknown, as for invalid JSON).
  Kind asked = Kind::Error;
  // The frame's `room` member (on /ws, the room it is about), whatever it asks: absent, a
  // string (in `room`), or something else. On /ws/{room} the conversation ignores it.
  enum class RoomField : std::uint8_t { Absent, String, NotString };
  RoomField roomField = RoomField::Absent;
  std::string room;
  std::string content;                 // Chat, Edit (the new text)
  std::uint64_t messageId = 0;         // Edit, Delete: the message's id
  std::string clientId;                // Chat: optional, echoed back, makes retries idempotent
  std::uint64_t before = 0;            // History: messages with id < before (0: the newest)
  std::size_t limit = 0;               // History: page size, capped at kMaxPageLimit
  bool typing = false;                 // Typing: the state
  std::string token;                   // Auth: a fresh token for the connection's account
  std::optional<std::uint64_t> since;  // Subscribe: replay what came after this id
  std::string_view code;               // Error: a stable code from docs/PROTOCOL.md
  std::string_view message;            // Error: a human sentence
};

// Why a message's text (a chat message's, an edit's, the server API's) is refused, or null when
// it is fine: a non-empty string without U+0000 of at most limits.maxContentChars characters.
// `code` gets the error code (empty_content, invalid_message, content_too_long).
const char* contentProblem(std::string_view content, const ProtocolLimits& limits,
                           std::string_view& code);
// A client_id: 1 to kMaxClientIdChars characters, no control characters.
bool validClientId(std::string_view clientId);

// Parses one text frame (already checked to be valid UTF-8 by the WebSocket layer).
ClientRequest parseClientFrame(std::string_view text, const ProtocolLimits& limits);

// A chat message as it is broadcast.
struct ChatMessage {
  std::uint64_t id = 0;
  std::string_view room;
  std::string_view username;
  std::string_view content;
  std::string_view clientId;  // omitted from the JSON when empty
  std::int64_t unixMillis = 0;
  // History only (a live message is never either): "deleted":true (a tombstone: content
  // empty), "edited_at" when it was edited.
  bool deleted = false;
  std::int64_t editedMillis = 0;
};

// {"type":"message","username":...,"content":...,"timestamp":...,"id":...,"room":...}
// (+ "client_id" when the sender gave one). The first four fields keep the original's order.
void appendMessageJson(std::string& out, const ChatMessage& m);

// Every server frame about a room carries it: "room" is appended last (a message frame has had
// it after "id" from the start). `room` empty: the frame is about no room.
void appendRoom(std::string& out, std::string_view room);

// {"type":"history","messages":<messagesArray>,"has_more":...} (+ "before" when answering a
// paging request, before > 0) (+ "room"). `messagesArray` is a JSON array of message objects.
std::string buildHistoryJson(std::string_view messagesArray, bool hasMore, std::uint64_t before,
                             std::string_view room);

// {"type":"error","code":...,"message":...} (+ "client_id" when not empty) (+ "room" when the
// error is about one)
std::string buildErrorJson(std::string_view code, std::string_view message,
                           std::string_view clientId = {}, std::string_view room = {});

// {"type":"edited","id":...,"content":...,"edited_at":...,"room":...}
std::string buildEditedJson(std::uint64_t id, std::string_view content, std::int64_t editedMillis,
                            std::string_view room);
// {"type":"deleted","id":...,"room":...}
std::string buildDeletedJson(std::uint64_t id, std::string_view room);
// An error answering an edit or delete: {"type":"error","code":...,"message":...,"id":...}
// (+ "room")
std::string buildEditErrorJson(std::string_view code, std::string_view message, std::uint64_t id,
                               std::string_view room);

// {"type":"join"|"leave","username":...,"timestamp":...,"room":...}
std::string buildMembershipJson(std::string_view type, std::string_view username,
                                std::int64_t unixMillis, std::string_view room);

// {"type":"typing","username":...,"state":true|false,"room":...}
std::string buildTypingJson(std::string_view username, bool state, std::string_view room);

// {"type":"unsubscribed","room":...}; with `code` (the room refused the user: "not_a_member",
// "banned"): {"type":"unsubscribed","room":...,"code":...}.
std::string buildUnsubscribedJson(std::string_view room, std::string_view code = {});

// {"type":"auth","username":...,"expires_at":...}: a renewed token was accepted.
std::string buildAuthJson(std::string_view username, std::int64_t expiresAtMillis);

// {"type":"resume_truncated","since":...,"first_id":...,"message":...,"room":...}
std::string buildResumeTruncatedJson(std::uint64_t since, std::uint64_t firstId,
                                     std::string_view room);

// "2025-09-17T15:23:45.123Z" (UTC, milliseconds).
std::string formatTimestamp(std::int64_t unixMillis);
void appendTimestamp(std::string& out, std::int64_t unixMillis);

// Appends `s` as a JSON string literal (quotes included). `s` must be valid UTF-8; non-ASCII
// passes through unescaped, control characters become \u00XX or their short escapes.
void appendJsonString(std::string& out, std::string_view s);

// Number of Unicode code points in valid UTF-8.
std::size_t countCodePoints(std::string_view utf8);

}  // namespace parley::chat
