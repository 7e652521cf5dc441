// CloseCode: the WebSocket close codes of docs/PROTOCOL.md, in one list for the two parts that
// close connections: the transport (net/: protocol errors, keep-alive, backpressure, shutdown)
// and the conversation (chat/: an expired token, a room that refused the user). Values only: never
// includes anything.
#pragma once

#include <cstdint>

namespace parley::chat::close_code {

inline constexpr std::uint16_t kNormal = 1000;
inline constexpr std::uint16_t kGoingAway = 1001;
inline constexpr std::uint16_t kProtocolError = 1002;
inline constexpr std::uint16_t kUnsupportedData = 1003;
// RFC 6455 §7.4.1: reported, never sent. 1005: a close frame without a code; 1006: the peer
// vanished without a close frame (counted in /metrics under this code).
inline constexpr std::uint16_t kNoStatus = 1005;
inline constexpr std::uint16_t kAbnormal = 1006;
inline constexpr std::uint16_t kInvalidPayload = 1007;
// A partial frame held too long (--frame-timeout) or past the shard's bound on partial frames.
inline constexpr std::uint16_t kPolicyViolation = 1008;
inline constexpr std::uint16_t kTooBig = 1009;
inline constexpr std::uint16_t kInternalError = 1011;
inline constexpr std::uint16_t kAuthExpired = 4001;
inline constexpr std::uint16_t kKeepAliveTimeout = 4002;
// The room refused the user after they joined: removed from a private room's members, or banned
// (RoomOwner::accessChanged). Only the /ws/{room} connection closes; on /ws the room alone is dropped.
inline constexpr std::uint16_t kRemovedFromRoom = 4003;
inline constexpr std::uint16_t kSlowConsumer = 4008;
// The application's backend disconnected the user (DELETE /api/users/{user}/connections).
inline constexpr std::uint16_t kDisconnectedByServer = 4009;

}  // namespace parley::chat::close_code
