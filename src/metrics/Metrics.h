// Metrics: the server's counters and gauges, rendered in Prometheus text format for /metrics.
// Lock-free relaxed atomics only: counting must never slow the path it counts.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

namespace parley::metrics {

// Every rejected input, by the reason named in docs/PROTOCOL.md.
enum class Rejection : unsigned {
  InvalidRoom,
  InvalidUsername,
  ServerFull,
  UpgradeRequired,
  NotFound,
  MethodNotAllowed,
  BadRequest,
  InvalidJson,
  InvalidMessage,
  EmptyContent,
  ContentTooLong,
  UnknownType,
  InvalidClientId,
  RateLimited,
  InvalidToken,
  TokenExpired,
  AuthRequired,
  UsernameMismatch,
  InvalidPassword,
  UsernameTaken,
  InvalidCredentials,
  TooManyAttempts,
  AuthBusy,
  UsernameReserved,
  OriginNotAllowed,
  TooManyConnections,
  NotSubscribed,
  AlreadySubscribed,
  TooManyRooms,
  UserRateLimited,     // error rate_limited, refused by the per-user limit
  AddressRateLimited,  // error rate_limited, refused by the per-address limit
  RoomNotGranted,      // the token's parley_rooms do not reach the room
  ReadOnly,            // a message to a room the token may only read
  TokenNotRenewable,   // /api/refresh with a token from the identity provider
  NotAllowed,          // an edit or delete of a message that is not the asker's (not_allowed)
  InvalidApiKey,       // the server API with a wrong key
  NoStore,             // an edit or delete with --db none (no_store)
  NotAMember,          // a private room refused a non-member (WebSocket, subscribe, REST)
  Banned,              // a room refused a banned user
  NotRoomAdmin,        // a room change the caller's role does not allow
  RoomExists,          // POST /api/rooms: the room exists
  Count
};

// The error frame codes map onto rejections; unknown codes map to BadRequest.
Rejection rejectionForCode(std::string_view errorCode);

class Metrics {
 public:
  void reject(Rejection r) { rejected_[static_cast<unsigned>(r)].fetch_add(1, relaxed); }
  // A connection closed by the server with `code`, or 1006 when the peer vanished.
  void disconnect(std::uint16_t code);

  void connectionOpened() {
    open_.fetch_add(1, relaxed);
    accepted_.fetch_add(1, relaxed);
  }
  void connectionClosed() { open_.fetch_sub(1, relaxed); }
  std::int64_t openConnections() const { return open_.load(relaxed); }

  void messagesReceived(std::uint64_t n) { received_.fetch_add(n, relaxed); }
  void framesDelivered(std::uint64_t n) { delivered_.fetch_add(n, relaxed); }
  void writeCalls(std::uint64_t n) { writes_.fetch_add(n, relaxed); }
  void writeBatch() { writeBatches_.fetch_add(1, relaxed); }
  // Accounts: what went through (the refusals are rejections).
  enum class AuthEvent : unsigned { Registered, LoggedIn, Renewed, Count };
  void auth(AuthEvent e) { auth_[static_cast<unsigned>(e)].fetch_add(1, relaxed); }

  std::uint64_t rejected(Rejection r) const { return rejected_[static_cast<unsigned>(r)].load(); }

  // `extra` is appended verbatim (gauges owned by other parts: rooms, messages sequenced).
  std::string renderPrometheus(std::string_view extra) const;

 private:
  static constexpr auto relaxed = std::memory_order_relaxed;
  static constexpr std::uint16_t kCodes[] = {1000, 1001, 1002, 1003, 1006, 1007, 1008,
                                             1009, 1011, 4001, 4002, 4003, 4008, 4009};
  static constexpr unsigned kCodeCount = sizeof(kCodes) / sizeof(kCodes[0]);

  std::atomic<std::uint64_t> rejected_[static_cast<unsigned>(Rejection::Count)]{};
  std::atomic<std::uint64_t> disconnects_[kCodeCount + 1]{};  // last: any other code
  std::atomic<std::int64_t> open_{0};
  std::atomic<std::uint64_t> accepted_{0};
  std::atomic<std::uint64_t> received_{0};
  std::atomic<std::uint64_t> delivered_{0};
  std::atomic<std::uint64_t> writes_{0};
  std::atomic<std::uint64_t> writeBatches_{0};
  std::atomic<std::uint64_t> auth_[static_cast<unsigned>(AuthEvent::Count)]{};
};

}  // namespace parley::metrics
