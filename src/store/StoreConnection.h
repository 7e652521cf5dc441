// StoreConnection: one connection to the configured store (openStore), which each store thread
// opens for itself: the writer, the reader, the maintainer, the auth and the rooms threads. It is
// every interface at once; each owner is handed (and sees) only the part it uses: MessageStore to
// the reader, AccountStore to auth, RoomStore (and AccountStore) to the rooms thread, StoreUpkeep
// to the maintainer, messages and upkeep to the writer.
// Used by one thread at a time; never shared between threads.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "store/AccountStore.h"
#include "store/MessageStore.h"
#include "store/RoomStore.h"
#include "store/StoreUpkeep.h"

namespace parley::store {

// When the SQLite store asks the OS to put what it wrote on the disk (docs/OPERATIONS.md, --fsync).
// Every mode survives a crash of the process: what a write(2) returned is in the OS page cache.
enum class FsyncPolicy {
  None,   // never: an OS crash or power cut may lose what was acknowledged in the last ~30 s
  Batch,  // the inbox log once per append (one per group commit), before any of it is
          // acknowledged; the ingest's transaction before the log it came from is emptied
  Always  // as Batch, and every SQLite transaction as it commits (accounts, retention)
};

// "none", "batch", "always"; nullopt for anything else.
std::optional<FsyncPolicy> parseFsyncPolicy(std::string_view name);
std::string_view fsyncPolicyName(FsyncPolicy policy);

struct StoreOptions {
  FsyncPolicy fsync = FsyncPolicy::Batch;  // SQLite only: PostgreSQL syncs as it is configured to
};

class StoreConnection : public MessageStore,
                        public AccountStore,
                        public RoomStore,
                        public StoreUpkeep {
 public:
  // Short name for logs and /healthz: "sqlite" or "postgres".
  virtual std::string_view kind() const = 0;
};

// Opens (creating and migrating the schema as needed) the store named by `url`:
//   sqlite:PATH           e.g. sqlite:./data/parley.db (parent directories are created); the
//                         connection is an InboxStore: appends go through the file's inbox log
//                         (sqlite::memory: is a plain SqliteStore: no file to put a log beside)
//   postgres://user:pass@host:port/dbname   (also postgresql://)
// Each call returns a new connection: callers open one per thread. Throws std::runtime_error with
// a clear message at start-up: bad URL, unreachable database, or a schema newer than this binary.
std::unique_ptr<StoreConnection> openStore(const std::string& url,
                                           const StoreOptions& options = {});

}  // namespace parley::store
