// Presence: who is in one room (users, not connections: three tabs are one member) and who is
// typing, with the cap above which join/leave events are summarised instead of broadcast.
// Pure state owned by the room's home shard: never sends anything, never reads a clock itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace parley::chat {

struct PresenceOptions {
  std::size_t cap = 1000;               // above this many users: summaries, truncated lists
  std::int64_t typingTimeoutMs = 6000;  // a `true` not refreshed for this long expires
};

class RoomPresence {
 public:
  // A connection of `user` joined; true when it is the user's first (the user joined the room).
  bool addConnection(const std::string& user);
  // A connection of `user` left; true when it was the last (the user left the room).
  bool removeConnection(const std::string& user);

  std::size_t userCount() const { return connections_.size(); }
  bool empty() const { return connections_.empty(); }
  // Join/leave events go out one by one only while the room is at or below the cap.
  bool summarised(const PresenceOptions& o) const { return connections_.size() > o.cap; }

  // {"type":"presence","users":[...],"count":N,"room":...} (at most `cap` names, then
  // "truncated":true), rebuilt only after a change: a burst of joins costs O(cap) each, never
  // O(members). `room`: this presence's room (always the same one).
  const std::string& presenceJson(std::string_view room, const PresenceOptions& o);
  std::vector<std::string> users() const;

  // Typing. Each returns true when what others see changes (a frame is due).
  bool setTyping(const std::string& user, bool typing, std::int64_t nowMs,
                 const PresenceOptions& o);
  bool isTyping(const std::string& user) const { return typingUntil_.count(user) != 0; }
  bool anyTyping() const { return !typingUntil_.empty(); }
  // Users whose `true` ran out by `nowMs` (they are no longer typing).
  std::vector<std::string> expireTyping(std::int64_t nowMs);

  // Summarised join/leave counts since the last summary.
  void countJoin() { ++joined_; }
  void countLeave() { ++left_; }
  // A summary is due when something changed and the last one is at least a second old.
  bool summaryDue(std::int64_t nowMs) const {
    return joined_ + left_ > 0 && nowMs - lastSummaryMs_ >= kSummaryIntervalMs;
  }
  bool summaryPending() const { return joined_ + left_ > 0; }
  // {"type":"presence_summary","count":N,"joined":J,"left":L,"timestamp":...,"room":...};
  // resets counts.
  std::string takeSummaryJson(std::string_view room, std::int64_t unixMillis);

 private:
  std::unordered_map<std::string, std::uint32_t> connections_;
  std::unordered_map<std::string, std::int64_t> typingUntil_;
  std::string presenceJson_;
  bool presenceStale_ = true;
  static constexpr std::int64_t kSummaryIntervalMs = 1000;
  std::size_t joined_ = 0;
  std::size_t left_ = 0;
  std::int64_t lastSummaryMs_ = 0;
};

}  // namespace parley::chat
