#include "net/ConnectionGate.h"

#include <netinet/in.h>

namespace parley::net {

std::string ConnectionGate::key(const sockaddr_storage& peer) {
  if (peer.ss_family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(peer).sin_addr;
    return std::string(reinterpret_cast<const char*>(&a), sizeof a);
  }
  if (peer.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(peer).sin6_addr;
    return std::string(reinterpret_cast<const char*>(&a), sizeof a);
  }
  return {};
}

ConnectionGate::Verdict ConnectionGate::admit(const sockaddr_storage& peer, Admission& admission) {
  admission = 0;
  // Claimed first, given back when refused: two shards admitting at once cannot both take the
  // last place.
  if (open_.fetch_add(1, std::memory_order_relaxed) >= max_) {
    open_.fetch_sub(1, std::memory_order_relaxed);
    return Verdict::ServerFull;
  }
  if (maxPerAddress_ == 0) return Verdict::Admitted;
  std::string address = key(peer);
  std::lock_guard lock(mutex_);
  std::uint32_t& n = perAddress_[address];
  if (n >= maxPerAddress_) {
    open_.fetch_sub(1, std::memory_order_relaxed);
    return Verdict::AddressFull;
  }
  ++n;
  if (freeSlots_.empty()) {
    slots_.push_back(std::move(address));
    admission = static_cast<Admission>(slots_.size());
  } else {
    admission = freeSlots_.back();
    freeSlots_.pop_back();
    slots_[admission - 1] = std::move(address);
  }
  return Verdict::Admitted;
}

void ConnectionGate::release(Admission admission) {
  open_.fetch_sub(1, std::memory_order_relaxed);
  if (admission == 0) return;
  std::lock_guard lock(mutex_);
  std::string& address = slots_[admission - 1];
  auto it = perAddress_.find(address);
  if (it != perAddress_.end() && --it->second == 0) perAddress_.erase(it);
  address = std::string();
  freeSlots_.push_back(admission);
}

}  // namespace parley::net
