// WalBatchingVfs: an SQLite VFS over the default one that gathers the frames a commit appends to
// the write-ahead log and writes them together (one pwrite per 124 KiB), not two per page.
// Never holds bytes past the end of a commit or past any other call on the file: what SQLite
// has been told is written is in the kernel before a reader can learn of it.
#pragma once

#include <cstdint>

namespace parley::store {

// Registers the VFS once (any thread) and returns its name for sqlite3_open_v2.
const char* walBatchingVfs();

// Process-wide counters, for tests and profiling.
struct WalBatchingStats {
  std::uint64_t walWrites = 0;      // writes that reached the WAL file
  std::uint64_t walAppends = 0;     // writes SQLite asked for on WAL files
  std::uint64_t commitFlushes = 0;  // gathered writes ended by a commit frame
};
WalBatchingStats walBatchingStats();

}  // namespace parley::store
