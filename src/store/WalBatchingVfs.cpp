#include "store/WalBatchingVfs.h"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <new>
#include <stdexcept>
#include <vector>

namespace parley::store {

namespace {

// Why: with many rooms, every message of a commit dirties its own B-tree page, and SQLite
// appends each page to the WAL as two pwrite calls (a 24-byte frame header, then the page).
// At 10,000 messages a second that was ~6 write syscalls per message on the writer thread.
//
// Safety rests on two facts of the WAL format (https://sqlite.org/fileformat2.html#walformat),
// frozen since 3.7.0: a frame is a 24-byte header followed by its page, written in that order,
// and only the last frame of a transaction (the commit frame) has a non-zero "database size"
// in bytes 4-7 of its header. A reader learns of new frames only from the wal-index header,
// which SQLite updates after the commit frame is written. So: gather contiguous appends, and
// write them out when the commit frame's page arrives (inside that xWrite, whose result is
// the flush's), before any other operation on the file, on a gap, or past kMaxGathered.
constexpr std::size_t kFrameHeaderBytes = 24;
constexpr std::size_t kMaxGathered = 4 << 20;
// The unix VFS masks a write's size with 0x1ffff (it caps one pwrite below 128 KiB, and a
// multiple of 128 KiB would come out as 0 bytes, reported as "disk full"): 124 KiB per call.
constexpr std::size_t kMaxWrite = 0x1ffff & ~std::size_t{4095};
constexpr char kName[] = "parley-walbatch";

std::atomic<std::uint64_t> gWalWrites{0};
std::atomic<std::uint64_t> gWalAppends{0};
std::atomic<std::uint64_t> gCommitFlushes{0};

struct File {
  sqlite3_file base;  // must come first: SQLite sees a File as a sqlite3_file
  sqlite3_file* real = nullptr;
  bool wal = false;
  bool commitPageNext = false;  // the last append was a commit frame's header
  sqlite3_int64 gatheredAt = 0;
  std::vector<char> gathered;
};

sqlite3_vfs* realVfs(sqlite3_vfs* vfs) { return static_cast<sqlite3_vfs*>(vfs->pAppData); }
File* asFile(sqlite3_file* f) { return reinterpret_cast<File*>(f); }

std::uint32_t bigEndian32(const void* p) {
  const auto* b = static_cast<const unsigned char*>(p);
  return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) |
         std::uint32_t{b[3]};
}

int flush(File* f) {
  if (f->gathered.empty()) return SQLITE_OK;
  int rc = SQLITE_OK;
  for (std::size_t done = 0; done < f->gathered.size() && rc == SQLITE_OK; done += kMaxWrite) {
    const std::size_t n = std::min(kMaxWrite, f->gathered.size() - done);
    gWalWrites.fetch_add(1, std::memory_order_relaxed);
    rc = f->real->pMethods->xWrite(f->real, f->gathered.data() + done, static_cast<int>(n),
                                   f->gatheredAt + static_cast<sqlite3_int64>(done));
  }
  f->gathered.clear();
  f->commitPageNext = false;
  return rc;
}

int xClose(sqlite3_file* file) {
  File* f = asFile(file);
  flush(f);  // an error here has nowhere to go; SQLite never closes with a commit half-written
  const int rc = f->real->pMethods ? f->real->pMethods->xClose(f->real) : SQLITE_OK;
  f->~File();
  return rc;
}

int xRead(sqlite3_file* file, void* buf, int amt, sqlite3_int64 off) {
  File* f = asFile(file);
  if (int rc = flush(f); rc != SQLITE_OK) return rc;
  return f->real->pMethods->xRead(f->real, buf, amt, off);
}

int xWrite(sqlite3_file* file, const void* buf, int amt, sqlite3_int64 off) {
  File* f = asFile(file);
  if (!f->wal) return f->real->pMethods->xWrite(f->real, buf, amt, off);
  gWalAppends.fetch_add(1, std::memory_order_relaxed);
  const bool completesCommit = f->commitPageNext;  // (a flush below would clear it)
  const auto size = static_cast<std::size_t>(amt);
  const bool contiguous = off == f->gatheredAt + static_cast<sqlite3_int64>(f->gathered.size());
  if (!f->gathered.empty() && (!contiguous || f->gathered.size() + size > kMaxGathered)) {
    if (int rc = flush(f); rc != SQLITE_OK) return rc;
  }
  if (f->gathered.empty()) f->gatheredAt = off;
  // One allocation for the file's life, never grown or given back: a buffer that is regrown
  // per commit comes from fresh mmap()ed pages each time (glibc serves large blocks that way),
  // and the page faults on them cost more than the writes it saves (a 500 KiB commit: ~10
  // us/message). Only the pages a commit touches become resident.
  if (f->gathered.capacity() < kMaxGathered) f->gathered.reserve(kMaxGathered);
  const auto* bytes = static_cast<const char*>(buf);
  f->gathered.insert(f->gathered.end(), bytes, bytes + size);
  if (completesCommit) {
    gCommitFlushes.fetch_add(1, std::memory_order_relaxed);
    return flush(f);  // the transaction's last frame: all of it goes now
  }
  f->commitPageNext = size == kFrameHeaderBytes && bigEndian32(bytes + 4) != 0;
  return SQLITE_OK;
}

// Every other operation first writes out what is gathered, so nothing can observe the file
// without it.
template <typename Method, typename... Args>
int forward(sqlite3_file* file, Method sqlite3_io_methods::*method, Args... args) {
  File* f = asFile(file);
  if (int rc = flush(f); rc != SQLITE_OK) return rc;
  return (f->real->pMethods->*method)(f->real, args...);
}

int xTruncate(sqlite3_file* file, sqlite3_int64 size) {
  return forward(file, &sqlite3_io_methods::xTruncate, size);
}
int xSync(sqlite3_file* file, int flags) {
  return forward(file, &sqlite3_io_methods::xSync, flags);
}
int xFileSize(sqlite3_file* file, sqlite3_int64* size) {
  return forward(file, &sqlite3_io_methods::xFileSize, size);
}
int xLock(sqlite3_file* file, int level) {
  return forward(file, &sqlite3_io_methods::xLock, level);
}
int xUnlock(sqlite3_file* file, int level) {
  return forward(file, &sqlite3_io_methods::xUnlock, level);
}
int xCheckReservedLock(sqlite3_file* file, int* out) {
  return forward(file, &sqlite3_io_methods::xCheckReservedLock, out);
}
int xFileControl(sqlite3_file* file, int op, void* arg) {
  return forward(file, &sqlite3_io_methods::xFileControl, op, arg);
}
int xShmMap(sqlite3_file* file, int page, int size, int extend, void volatile** p) {
  return forward(file, &sqlite3_io_methods::xShmMap, page, size, extend, p);
}
int xShmLock(sqlite3_file* file, int offset, int n, int flags) {
  return forward(file, &sqlite3_io_methods::xShmLock, offset, n, flags);
}
int xShmUnmap(sqlite3_file* file, int deleteFlag) {
  return forward(file, &sqlite3_io_methods::xShmUnmap, deleteFlag);
}
int xFetch(sqlite3_file* file, sqlite3_int64 off, int amt, void** p) {
  return forward(file, &sqlite3_io_methods::xFetch, off, amt, p);
}
int xUnfetch(sqlite3_file* file, sqlite3_int64 off, void* p) {
  return forward(file, &sqlite3_io_methods::xUnfetch, off, p);
}

int xSectorSize(sqlite3_file* file) {
  File* f = asFile(file);
  return f->real->pMethods->xSectorSize(f->real);
}
int xDeviceCharacteristics(sqlite3_file* file) {
  File* f = asFile(file);
  return f->real->pMethods->xDeviceCharacteristics(f->real);
}
void xShmBarrier(sqlite3_file* file) {
  File* f = asFile(file);
  flush(f);  // never has anything to write: a commit flushed already (see xWrite)
  f->real->pMethods->xShmBarrier(f->real);
}

// One table per version the real file offers, so SQLite never calls what it lacks.
sqlite3_io_methods makeMethods(int version) {
  sqlite3_io_methods m{};
  m.iVersion = version;
  m.xClose = xClose;
  m.xRead = xRead;
  m.xWrite = xWrite;
  m.xTruncate = xTruncate;
  m.xSync = xSync;
  m.xFileSize = xFileSize;
  m.xLock = xLock;
  m.xUnlock = xUnlock;
  m.xCheckReservedLock = xCheckReservedLock;
  m.xFileControl = xFileControl;
  m.xSectorSize = xSectorSize;
  m.xDeviceCharacteristics = xDeviceCharacteristics;
  if (version >= 2) {
    m.xShmMap = xShmMap;
    m.xShmLock = xShmLock;
    m.xShmBarrier = xShmBarrier;
    m.xShmUnmap = xShmUnmap;
  }
  if (version >= 3) {
    m.xFetch = xFetch;
    m.xUnfetch = xUnfetch;
  }
  return m;
}
const sqlite3_io_methods kMethods[] = {makeMethods(1), makeMethods(2), makeMethods(3)};

int vfsOpen(sqlite3_vfs* vfs, const char* name, sqlite3_file* file, int flags, int* outFlags) {
  sqlite3_vfs* real = realVfs(vfs);
  File* f = new (file) File{};
  f->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(file) + sizeof(File));
  f->real->pMethods = nullptr;
  const int rc = real->xOpen(real, name, f->real, flags, outFlags);
  if (rc != SQLITE_OK || f->real->pMethods == nullptr) {
    f->~File();
    file->pMethods = nullptr;  // SQLite calls no xClose on a file that failed to open
    return rc != SQLITE_OK ? rc : SQLITE_CANTOPEN;
  }
  f->wal = (flags & SQLITE_OPEN_WAL) != 0;
  const int version = f->real->pMethods->iVersion < 1   ? 1
                      : f->real->pMethods->iVersion > 3 ? 3
                                                        : f->real->pMethods->iVersion;
  file->pMethods = &kMethods[version - 1];
  return SQLITE_OK;
}

int vfsDelete(sqlite3_vfs* vfs, const char* name, int syncDir) {
  return realVfs(vfs)->xDelete(realVfs(vfs), name, syncDir);
}
int vfsAccess(sqlite3_vfs* vfs, const char* name, int flags, int* out) {
  return realVfs(vfs)->xAccess(realVfs(vfs), name, flags, out);
}
int vfsFullPathname(sqlite3_vfs* vfs, const char* name, int n, char* out) {
  return realVfs(vfs)->xFullPathname(realVfs(vfs), name, n, out);
}
void* vfsDlOpen(sqlite3_vfs* vfs, const char* name) {
  return realVfs(vfs)->xDlOpen(realVfs(vfs), name);
}
void vfsDlError(sqlite3_vfs* vfs, int n, char* out) {
  realVfs(vfs)->xDlError(realVfs(vfs), n, out);
}
void (*vfsDlSym(sqlite3_vfs* vfs, void* handle, const char* symbol))(void) {
  return realVfs(vfs)->xDlSym(realVfs(vfs), handle, symbol);
}
void vfsDlClose(sqlite3_vfs* vfs, void* handle) { realVfs(vfs)->xDlClose(realVfs(vfs), handle); }
int vfsRandomness(sqlite3_vfs* vfs, int n, char* out) {
  return realVfs(vfs)->xRandomness(realVfs(vfs), n, out);
}
int vfsSleep(sqlite3_vfs* vfs, int micros) { return realVfs(vfs)->xSleep(realVfs(vfs), micros); }
int vfsCurrentTime(sqlite3_vfs* vfs, double* out) {
  return realVfs(vfs)->xCurrentTime(realVfs(vfs), out);
}
int vfsGetLastError(sqlite3_vfs* vfs, int n, char* out) {
  return realVfs(vfs)->xGetLastError(realVfs(vfs), n, out);
}
int vfsCurrentTimeInt64(sqlite3_vfs* vfs, sqlite3_int64* out) {
  return realVfs(vfs)->xCurrentTimeInt64(realVfs(vfs), out);
}

sqlite3_vfs gVfs{};

void registerVfs() {
  sqlite3_initialize();
  sqlite3_vfs* real = sqlite3_vfs_find(nullptr);
  if (real == nullptr) throw std::runtime_error("sqlite: no default VFS");
  static_assert(sizeof(File) % 8 == 0, "the real file that follows must stay aligned");
  gVfs.iVersion = real->iVersion >= 2 ? 2 : 1;  // no system-call overrides through the shim
  gVfs.szOsFile = static_cast<int>(sizeof(File)) + real->szOsFile;
  gVfs.mxPathname = real->mxPathname;
  gVfs.zName = kName;
  gVfs.pAppData = real;
  gVfs.xOpen = vfsOpen;
  gVfs.xDelete = vfsDelete;
  gVfs.xAccess = vfsAccess;
  gVfs.xFullPathname = vfsFullPathname;
  gVfs.xDlOpen = vfsDlOpen;
  gVfs.xDlError = vfsDlError;
  gVfs.xDlSym = vfsDlSym;
  gVfs.xDlClose = vfsDlClose;
  gVfs.xRandomness = vfsRandomness;
  gVfs.xSleep = vfsSleep;
  gVfs.xCurrentTime = vfsCurrentTime;
  gVfs.xGetLastError = vfsGetLastError;
  if (gVfs.iVersion >= 2) gVfs.xCurrentTimeInt64 = vfsCurrentTimeInt64;
  if (sqlite3_vfs_register(&gVfs, 0) != SQLITE_OK)
    throw std::runtime_error("sqlite: cannot register the WAL-batching VFS");
}

}  // namespace

const char* walBatchingVfs() {
  static std::once_flag once;
  std::call_once(once, registerVfs);
  return kName;
}

WalBatchingStats walBatchingStats() {
  return {gWalWrites.load(std::memory_order_relaxed), gWalAppends.load(std::memory_order_relaxed),
          gCommitFlushes.load(std::memory_order_relaxed)};
}

}  // namespace parley::store
