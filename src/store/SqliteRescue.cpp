#include "store/SqliteRescue.h"

#include <fcntl.h>
#include <stdio.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "store/FileIdentity.h"
#include "store/SqliteStore.h"

namespace parley::store {

namespace {

namespace fs = std::filesystem;

bool exists(const std::string& path) {
  std::error_code ec;
  return fs::symlink_status(path, ec).type() != fs::file_type::not_found;
}

void removeDatabaseFiles(const std::string& path) {
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) fs::remove(path + suffix, ec);
}

// rename(2) that fails with EEXIST instead of replacing what is at `to`.
bool renameNoReplace(const std::string& from, const std::string& to) {
  return ::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0;
}

}  // namespace

StoreStatus rescueSqliteDatabase(SqliteStore& source, const std::string& path,
                                 std::span<const StoredMessage> waiting,
                                 std::span<const FileIdentity> oldFiles, std::string& savedAt) {
  savedAt.clear();
  auto fail = [&](const std::string& why) {
    return StoreStatus::failure("cannot save a copy of " + path + ": " + why);
  };
  std::error_code ec;
  if (const fs::path dir = fs::path(path).parent_path(); !dir.empty()) {
    fs::create_directories(dir, ec);
    if (ec) return fail("cannot create " + dir.string() + ": " + ec.message());
  }
  const std::string stamp = std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                               std::chrono::system_clock::now().time_since_epoch())
                                               .count());
  const std::string tmp = path + ".rescue-" + stamp + ".tmp";
  removeDatabaseFiles(tmp);
  if (StoreStatus st = source.copyTo(tmp); !st.ok) {
    removeDatabaseFiles(tmp);
    return fail(st.error);
  }
  try {
    // synchronous=FULL: the copy is on the disk before it takes the database's name. Closing its
    // last connection checkpoints and removes its -wal: one file to rename.
    SqliteStore copy(tmp, /*syncEachCommit=*/true);
    if (!waiting.empty())
      if (StoreStatus st = copy.append(waiting); !st.ok) throw std::runtime_error(st.error);
  } catch (const std::exception& e) {
    removeDatabaseFiles(tmp);
    return fail(e.what());
  }
  auto moveAside = [&](const std::string& old) { fs::rename(old, old + ".detached-" + stamp, ec); };
  for (const FileIdentity& old : oldFiles)
    if (old.stillNamed()) moveAside(old.path());
  if (!exists(path)) {
    for (const char* suffix : {"-wal", "-shm"})
      if (const std::string old = path + suffix; exists(old)) moveAside(old);
    if (renameNoReplace(tmp, path))
      savedAt = path;
    else if (errno != EEXIST)
      return fail("cannot rename " + tmp + " to " + path + ": " + std::strerror(errno));
  }
  if (savedAt.empty()) {
    const std::string beside = path + ".rescued-" + stamp;
    if (!renameNoReplace(tmp, beside))
      return fail("cannot rename " + tmp + " to " + beside + ": " + std::strerror(errno));
    savedAt = beside;
  }
  std::string error;
  if (!syncDirectoryOf(savedAt, error)) return fail(error);
  return {};
}

}  // namespace parley::store
