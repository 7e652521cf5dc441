// DuplicateWindow: a room's recently sent client_ids, so that a retry (the same user and
// client_id, e.g. after a reconnect) is answered with the original instead of being sequenced and
// stored twice. Bounded twice: an entry is forgotten after `windowMs` and past `perRoom` entries
// (oldest first), so a room's memory for this is capped whatever its senders do.
// Pure state of the room's owner: never sends, never reads a clock itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>

#include "chat/DuplicateLimits.h"
#include "chat/Member.h"

namespace parley::chat {

class DuplicateWindow {
 public:
  struct Sent {
    Frame frame;  // null while the original is still on its way to the store
    std::int64_t atMs = 0;
  };

  // The key of `clientId` sent by `username`.
  static std::string key(std::string_view username, std::string_view clientId);

  // The original sent under `key` no longer than `limits.windowMs` before `nowMs`, or null.
  const Sent* find(const std::string& key, std::int64_t nowMs, const DuplicateLimits& limits) const;
  // Remembers a send under `key` at `nowMs` (its frame comes later: setFrame), then forgets what
  // is past either bound.
  void remember(const std::string& key, std::int64_t nowMs, const DuplicateLimits& limits);
  // The original's frame, once it has one (stored, or sequenced without a store).
  void setFrame(const std::string& key, Frame frame);
  // The send under `key` was refused: a retry must be able to go through.
  void forget(const std::string& key);
  // Forgets what is older than the window or past the count (oldest first).
  void forgetExpired(std::int64_t nowMs, const DuplicateLimits& limits);

  // True when a send remembered at or after `fromMs` was forgotten for the count bound (not its
  // age): then a retry of it would not be found here.
  bool forgotByCountSince(std::int64_t fromMs) const { return forgotByCountAtMs_ >= fromMs; }

  // When the store must be asked whether a send at `nowMs` is a retry (StoredMessage::
  // checkClientIdSince): the window's start, when memory cannot vouch for it (it began at
  // `rememberingSinceMs`, after the window's start: a restart or a room's new owner; or
  // `window`, the room's memory, null when there is none, forgot some of it for the count
  // bound); else 0 (memory knows).
  static std::int64_t storeCheckSince(std::int64_t nowMs, std::int64_t rememberingSinceMs,
                                      const DuplicateWindow* window, const DuplicateLimits& limits);

  bool empty() const { return sent_.empty(); }
  std::size_t size() const { return sent_.size(); }

 private:
  std::unordered_map<std::string, Sent> sent_;
  // Keys in the order remembered; the map entry goes with its own (latest) entry here. A list:
  // an empty one allocates nothing (a deque does), and most rooms never see a client_id.
  std::list<std::string> order_;
  std::int64_t forgotByCountAtMs_ = -1;  // the newest send forgotten for the count bound
};

}  // namespace parley::chat
