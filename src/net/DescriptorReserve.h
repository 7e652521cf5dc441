// DescriptorReserve: the process's one spare descriptor (/dev/null), given up for a moment when
// accept4 says the process is out of descriptors, so that a listener can accept one connection,
// tell it why (503) and close it, instead of leaving it to hang in the kernel's queue.
//
// One per process, not one per shard: the descriptor table is the process's. With a spare per
// shard (until 2026-12-03), the slot one shard freed could be taken by the other shard's plain
// accept4; the first shard's accept then failed, its spare could not be reopened, and from then
// on its share of new clients hung at the limit (connection-limits' out-of-descriptors case,
// flaky under ASan). Here every listener's accept4 holds the lock shared, and the give-up,
// accept, refuse, reopen sequence holds it exclusively, so no listener can take the freed slot.
// (A thread that opens a file outside listeners, a store or Redis reconnect, still can: then
// the spare is reopened at the next refusal, once a descriptor is free again.)
//
// Never blocks on I/O under the lock, never owns an accepted connection past the refusal.
#pragma once

#include <sys/socket.h>

#include <functional>
#include <shared_mutex>

#include "net/FileDescriptor.h"

namespace parley::net {

class DescriptorReserve {
 public:
  static DescriptorReserve& process();

  // accept4(listener, ...) non-blocking and close-on-exec, never while the spare is given up.
  FileDescriptor accept(int listener, sockaddr* peer, socklen_t* peerLength);
  // At the descriptor limit: gives the spare up, accepts one connection on `listener`, hands it
  // to `refuse` (which answers and closes it), takes the spare back. False when nothing could be
  // accepted (no spare to give, or the queue was empty): the caller backs off.
  bool refuseOne(int listener, const std::function<void(FileDescriptor)>& refuse);

 private:
  DescriptorReserve();
  std::shared_mutex lock_;
  FileDescriptor spare_;
};

}  // namespace parley::net
