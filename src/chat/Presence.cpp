#include "chat/Presence.h"

#include "chat/Protocol.h"

namespace parley::chat {

bool RoomPresence::addConnection(const std::string& user) {
  const bool first = connections_[user]++ == 0;
  if (first) presenceStale_ = true;
  return first;
}

bool RoomPresence::removeConnection(const std::string& user) {
  auto it = connections_.find(user);
  if (it == connections_.end()) return false;
  if (--it->second > 0) return false;
  connections_.erase(it);
  typingUntil_.erase(user);
  presenceStale_ = true;
  return true;
}

const std::string& RoomPresence::presenceJson(std::string_view room, const PresenceOptions& o) {
  if (!presenceStale_) return presenceJson_;
  presenceStale_ = false;
  presenceJson_ = R"({"type":"presence","users":[)";
  std::size_t n = 0;
  for (const auto& [user, count] : connections_) {
    if (n == o.cap) break;
    if (n++) presenceJson_.push_back(',');
    appendJsonString(presenceJson_, user);
  }
  presenceJson_.append(R"(],"count":)");
  presenceJson_.append(std::to_string(connections_.size()));
  if (connections_.size() > o.cap) presenceJson_.append(R"(,"truncated":true)");
  appendRoom(presenceJson_, room);
  presenceJson_.push_back('}');
  return presenceJson_;
}

std::vector<std::string> RoomPresence::users() const {
  std::vector<std::string> out;
  out.reserve(connections_.size());
  for (const auto& [user, count] : connections_) out.push_back(user);
  return out;
}

bool RoomPresence::setTyping(const std::string& user, bool typing, std::int64_t nowMs,
                             const PresenceOptions& o) {
  if (!typing) return typingUntil_.erase(user) > 0;
  auto [it, started] = typingUntil_.try_emplace(user, 0);
  it->second = nowMs + o.typingTimeoutMs;  // a refresh only moves the deadline
  return started;
}

std::vector<std::string> RoomPresence::expireTyping(std::int64_t nowMs) {
  std::vector<std::string> expired;
  for (auto it = typingUntil_.begin(); it != typingUntil_.end();) {
    if (it->second <= nowMs) {
      expired.push_back(it->first);
      it = typingUntil_.erase(it);
    } else {
      ++it;
    }
  }
  return expired;
}

std::string RoomPresence::takeSummaryJson(std::string_view room, std::int64_t unixMillis) {
  std::string out = R"({"type":"presence_summary","count":)" + std::to_string(userCount()) +
                    R"(,"joined":)" + std::to_string(joined_) + R"(,"left":)" +
                    std::to_string(left_) + R"(,"timestamp":")";
  appendTimestamp(out, unixMillis);
  out.push_back('"');
  appendRoom(out, room);
  out.push_back('}');
  joined_ = left_ = 0;
  lastSummaryMs_ = unixMillis;
  return out;
}

}  // namespace parley::chat
