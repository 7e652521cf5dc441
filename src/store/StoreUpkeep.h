// StoreUpkeep: what keeps a store in shape besides reading and writing messages: retention (the
// store writer prunes between commits), health (its probe while unhealthy; /healthz and /metrics
// read the backlog and the refusal) and housekeeping off the write path (a StoreMaintainer calls
// maintain()). Blocking calls from the store's own threads only, except backlog() and refusal(),
// which any thread may call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "store/StoreStatus.h"

namespace parley::store {

// Messages a store has made durable but not yet moved where readers and other servers look
// (SQLite: its inbox log), and why the last move failed ("" when it did not).
struct StoreBacklog {
  std::size_t waiting = 0;
  std::string error;
};

class StoreUpkeep {
 public:
  virtual ~StoreUpkeep() = default;

  // Retention. Each deletes in small transactions so writers are never stalled for long, and
  // adds the number of rows deleted to `deleted`. Never deletes a room's newest message (its id is
  // what makes ids continue after a restart).
  virtual StoreStatus pruneKeepLast(std::size_t keepPerRoom, std::uint64_t& deleted) = 0;
  virtual StoreStatus pruneOlderThan(std::int64_t cutoffMillis, std::uint64_t& deleted) = 0;

  // A write that changes nothing a reader can see, through the path appends take (SQLite: a
  // record the inbox's recovery skips, written to its log and cut off again; PostgreSQL: an
  // UPDATE that sets a value to itself). The writer's probe while its last write failed: a read
  // would succeed while every append fails (a full disk, files made immutable, a database in
  // read-only mode).
  virtual StoreStatus probeWrite() = 0;

  // Housekeeping the store wants done off the write path (SQLite: the inbox's ingest and a WAL
  // checkpoint), called about once a second by a StoreMaintainer when wantsMaintenance(). Best
  // effort: failures are the next call's business (and show in backlog()).
  virtual bool wantsMaintenance() const { return false; }
  virtual void maintain() {}

  // Any thread, for /healthz and /metrics.
  virtual StoreBacklog backlog() const { return {}; }
  // Any thread: why this store refuses every write until the server restarts ("" when it does
  // not). SQLite: its database file, a log, or their directory was deleted or replaced under the
  // running server.
  virtual std::string refusal() const { return {}; }
};

}  // namespace parley::store
