// FileTable: grows the process's file-descriptor table once, at start-up, to the size the
// server will need. Must run before the process starts any thread; never closes an fd it did
// not open.
#pragma once

#include <cstddef>

namespace parley::app {

// Makes room for descriptors 0 .. fds-1 (capped at the open-file limit). Returns the table's
// size afterwards, as the kernel reports it (FDSize in /proc/self/status), or 0 if unknown.
//
// Why: the kernel grows the table by doubling, and once the process has a second thread each
// growth waits for an RCU grace period (expand_fdtable -> synchronize_rcu), 10-16 ms on these
// machines, during which the accepting shard is stuck in accept4(). A burst of 15,000 connects
// crossed 256, 512, ... 8,192 and stalled every handshake in flight six times (~80 ms in all).
// Grown while the process is single-threaded the kernel skips that wait; the table costs the
// kernel ~8 bytes per descriptor, rounded up to a power of two (256 KiB for 20,000), none of it
// in our RSS.
std::size_t reserveFileTable(std::size_t fds);

}  // namespace parley::app
