#include "chat/DuplicateWindow.h"

#include <algorithm>

namespace parley::chat {

std::string DuplicateWindow::key(std::string_view username, std::string_view clientId) {
  std::string key;
  key.reserve(username.size() + 1 + clientId.size());
  key.append(username);
  key.push_back('\n');  // usernames hold no control character: the first one ends the name
  key.append(clientId);
  return key;
}

const DuplicateWindow::Sent* DuplicateWindow::find(const std::string& key, std::int64_t nowMs,
                                                   const DuplicateLimits& limits) const {
  auto it = sent_.find(key);
  if (it == sent_.end() || nowMs - it->second.atMs > limits.windowMs) return nullptr;
  return &it->second;
}

void DuplicateWindow::remember(const std::string& key, std::int64_t nowMs,
                               const DuplicateLimits& limits) {
  sent_[key] = Sent{nullptr, nowMs};
  order_.push_back(key);
  forgetExpired(nowMs, limits);
}

void DuplicateWindow::setFrame(const std::string& key, Frame frame) {
  auto it = sent_.find(key);
  if (it != sent_.end()) it->second.frame = std::move(frame);
}

void DuplicateWindow::forget(const std::string& key) { sent_.erase(key); }

void DuplicateWindow::forgetExpired(std::int64_t nowMs, const DuplicateLimits& limits) {
  while (!order_.empty()) {
    auto it = sent_.find(order_.front());
    const bool expired = it == sent_.end() || nowMs - it->second.atMs > limits.windowMs;
    if (!expired && order_.size() <= limits.perRoom) break;
    if (it != sent_.end() && (expired || sent_.size() > limits.perRoom)) {
      if (!expired) forgotByCountAtMs_ = std::max(forgotByCountAtMs_, it->second.atMs);
      sent_.erase(it);
    }
    order_.pop_front();
  }
}

std::int64_t DuplicateWindow::storeCheckSince(std::int64_t nowMs, std::int64_t rememberingSinceMs,
                                              const DuplicateWindow* window,
                                              const DuplicateLimits& limits) {
  const std::int64_t windowStart = nowMs - limits.windowMs;
  if (rememberingSinceMs > windowStart || (window && window->forgotByCountSince(windowStart)))
    return std::max<std::int64_t>(1, windowStart);
  return 0;
}

}  // namespace parley::chat
