// SqliteRescue: saves everything a SQLite store holds to a new file when its database was deleted
// or replaced under the running server (a lost log alone needs no copy: the inbox moves what
// waits into the database): the database as the server still sees it (its open file
// outlives the name) and the messages waiting in the inbox. The copy goes to the database's own
// path when that path is free (a deleted file or directory: the next start continues from it,
// ids and all), else beside it. Never overwrites a file: the copy is built under a name of its
// own and renamed into place only where nothing is.
#pragma once

#include <span>
#include <string>

#include "store/FileIdentity.h"
#include "store/MessageStore.h"

namespace parley::store {

class SqliteStore;

// Copies `source` (an open connection to the lost file) and appends `waiting` to the copy, synced,
// then renames it to `path` if nothing is there, else to `path`.rescued-<unix ms>, and sets
// `savedAt` to where it went. `oldFiles`: the lost database's -wal and -shm and its inbox logs as
// opened; moved aside (renamed, .detached-<unix ms>) wherever they are still at their names, as
// is any -wal or -shm at a free `path`: at the next start SQLite would replay that WAL onto
// whatever file then has the database's name (SQLite itself keeps a moved database's WAL at
// close), and the inbox would recover the logs' messages into it. A failure leaves nothing behind
// but a temporary file it could not remove.
StoreStatus rescueSqliteDatabase(SqliteStore& source, const std::string& path,
                                 std::span<const StoredMessage> waiting,
                                 std::span<const FileIdentity> oldFiles, std::string& savedAt);

}  // namespace parley::store
