// One behaviour suite for every MessageStore, run against SQLite and a real PostgreSQL 15.
// The PostgreSQL server is started on first use only (so other suites in this binary, and test
// listing, never pay for it), shared by the whole process, and always stopped and deleted at
// the end, even when the process dies (a watchdog child does it).
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <limits>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "store/InboxStore.h"
#include "store/PostgresSchema.h"
#include "store/PostgresStore.h"
#include "store/SqliteInbox.h"
#include "store/SqliteSchema.h"
#include "store/SqliteStore.h"
#include "store/StoreConnection.h"
#include "store/StoreMaintainer.h"
#include "store/StoreWriter.h"
#include "store/WalBatchingVfs.h"

namespace parley::store {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string makeTempDir(const char* prefix) {
  std::string pattern = (fs::temp_directory_path() / (std::string(prefix) + "XXXXXX")).string();
  if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed for " + pattern);
  return pattern;
}

int freeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = 0;
  if (fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  if (fd >= 0) close(fd);
  return port;
}

std::string readTail(const std::string& path, std::size_t maxBytes = 2000) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > maxBytes ? s.substr(s.size() - maxBytes) : s;
}

// A private PostgreSQL 15 cluster in a temporary directory, on a free loopback port.
class PostgresServer {
 public:
  static PostgresServer& instance() {
    static PostgresServer server;
    return server;
  }
  ~PostgresServer() { shutdown(); }

  // Starts the server the first time; false (with error()) when it cannot run. A failure is
  // remembered, so every PostgreSQL test fails fast with the same message.
  bool ensureRunning() {
    if (!attempted_) {
      attempted_ = true;
      running_ = boot();
    }
    return running_;
  }
  const std::string& error() const { return error_; }
  bool booted() const { return running_; }

  std::string url(const std::string& db) const {
    return "postgresql://parley@127.0.0.1:" + std::to_string(port_) + "/" + db +
           "?connect_timeout=2";
  }

  // A new empty database for one test; "" (with error()) on failure.
  std::string createDatabase() {
    const std::string name = "t_" + std::to_string(++databases_);
    PGconn* c = PQconnectdb(url("postgres").c_str());
    PGresult* r = PQexec(c, ("CREATE DATABASE " + name).c_str());
    const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) error_ = "CREATE DATABASE failed: " + std::string(PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return ok ? url(name) : std::string();
  }

  bool stop() { return pgCtl("-m fast -w stop"); }
  bool start() { return pgCtl("-w -o \"" + serverOptions() + "\" start"); }
  bool restart() { return pgCtl("-m fast -w -o \"" + serverOptions() + "\" restart"); }
  bool isUp() const {
    PGconn* c = PQconnectdb(url("postgres").c_str());
    const bool up = PQstatus(c) == CONNECTION_OK;
    PQfinish(c);
    return up;
  }

  // Closing the pipe wakes the watchdog, which stops the server and deletes the directory.
  void shutdown() {
    if (watchdogPipe_ < 0) return;
    close(watchdogPipe_);
    watchdogPipe_ = -1;
    int status = 0;
    waitpid(watchdog_, &status, 0);
    running_ = false;
  }

 private:
  PostgresServer() = default;

  std::string asPostgres() const {
    if (geteuid() != 0) return "";  // initdb refuses root; any other user runs it directly
    for (const char* p : {"/usr/sbin/runuser", "/sbin/runuser"})
      if (fs::exists(p)) return std::string(p) + " -u postgres -- ";
    return "runuser -u postgres -- ";
  }
  std::string serverOptions() const {
    return "-p " + std::to_string(port_) + " -k " + base_ +
           " -c listen_addresses=127.0.0.1 -c fsync=off";
  }
  std::string dataDir() const { return base_ + "/data"; }

  bool sh(const std::string& cmd) {
    const std::string log = base_ + "/cmd.log";
    const int rc = std::system((cmd + " >" + log + " 2>&1").c_str());
    if (rc == 0) return true;
    error_ = cmd + " failed (status " + std::to_string(rc) + "): " + readTail(log) +
             "\nserver log: " + readTail(base_ + "/server.log");
    return false;
  }
  bool pgCtl(const std::string& args) {
    return sh(asPostgres() + bin_ + "/pg_ctl -D " + dataDir() + " -l " + base_ + "/server.log " +
              args);
  }

  bool boot() {
    const char* env = std::getenv("PARLEY_PG_BINDIR");
    bin_ = env && *env ? env : "/usr/lib/postgresql/15/bin";
    if (!fs::exists(bin_ + "/initdb") || !fs::exists(bin_ + "/pg_ctl")) {
      error_ = "PostgreSQL 15 server binaries not found in " + bin_ +
               " (install the postgresql-15 package: `make test` does; or set PARLEY_PG_BINDIR)";
      return false;
    }
    base_ = makeTempDir("parley-pg-");
    if (geteuid() == 0) {
      const passwd* pw = getpwnam("postgres");
      if (!pw || chown(base_.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
        error_ = "running as root, but cannot hand " + base_ + " to the postgres user";
        fs::remove_all(base_);
        return false;
      }
    }
    port_ = freeLoopbackPort();
    startWatchdog();
    return sh(asPostgres() + bin_ + "/initdb --no-sync -A trust -U parley -E UTF8 --locale=C -D " +
              dataDir()) &&
           start();
  }

  // A child that outlives nothing: it waits for this process to close the pipe (or die), then
  // stops the server and deletes its directory. Ignores terminal signals so ^C still cleans up.
  void startWatchdog() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return;  // no watchdog: the destructor path still cleans
    const std::string cleanup = asPostgres() + bin_ + "/pg_ctl -D " + dataDir() +
                                " -m fast -w stop >/dev/null 2>&1; rm -rf " + base_;
    const pid_t pid = fork();
    if (pid == 0) {
      close(fds[1]);
      signal(SIGINT, SIG_IGN);
      signal(SIGTERM, SIG_IGN);
      signal(SIGHUP, SIG_IGN);
      char byte;
      while (read(fds[0], &byte, 1) != 0 && errno == EINTR) {
      }
      execl("/bin/sh", "sh", "-c", cleanup.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(fds[0]);
    if (pid < 0) {
      close(fds[1]);
      return;
    }
    watchdog_ = pid;
    watchdogPipe_ = fds[1];
  }

  std::string bin_, base_, error_;
  int port_ = 0;
  int databases_ = 0;
  bool attempted_ = false, running_ = false;
  pid_t watchdog_ = -1;
  int watchdogPipe_ = -1;
};

class PostgresEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { PostgresServer::instance().shutdown(); }
};
[[maybe_unused]] ::testing::Environment* const kPostgresEnvironment =
    ::testing::AddGlobalTestEnvironment(new PostgresEnvironment);

// ---- helpers -------------------------------------------------------------------------------

StoredMessage msg(std::string room, std::uint64_t id, std::string user = "alice",
                  std::string content = "", std::string clientId = "", std::int64_t ms = -1) {
  StoredMessage m;
  m.room = std::move(room);
  m.id = id;
  m.username = std::move(user);
  m.content = content.empty() ? "message " + std::to_string(id) : std::move(content);
  m.clientId = std::move(clientId);
  m.unixMillis = ms >= 0 ? ms : 1'700'000'000'000 + static_cast<std::int64_t>(id % 1'000'000) * 10;
  return m;
}

std::vector<StoredMessage> range(const std::string& room, std::uint64_t first, std::uint64_t last) {
  std::vector<StoredMessage> out;
  for (std::uint64_t id = first; id <= last; ++id) out.push_back(msg(room, id));
  return out;
}

using Fields =
    std::tuple<std::string, std::uint64_t, std::string, std::string, std::string, std::int64_t>;
std::vector<Fields> fields(const std::vector<StoredMessage>& v) {
  std::vector<Fields> out;
  for (const auto& m : v)
    out.emplace_back(m.room, m.id, m.username, m.content, m.clientId, m.unixMillis);
  return out;
}

std::vector<std::uint64_t> ids(const std::vector<StoredMessage>& v) {
  std::vector<std::uint64_t> out;
  for (const auto& m : v) out.push_back(m.id);
  return out;
}

// std::span takes no braced list before C++26.
StoreStatus appendTo(MessageStore& s, const std::vector<StoredMessage>& batch) {
  return s.append(batch);
}

std::vector<std::uint64_t> iota(std::uint64_t first, std::uint64_t last) {
  std::vector<std::uint64_t> out;
  for (std::uint64_t id = first; id <= last; ++id) out.push_back(id);
  return out;
}

// ---- the behaviour suite -------------------------------------------------------------------

enum class Backend { Sqlite, Postgres };
void PrintTo(Backend b, std::ostream* os) { *os << (b == Backend::Sqlite ? "sqlite" : "postgres"); }

// Failures collected from several threads.
struct ErrorLog {
  std::mutex mu;
  std::vector<std::string> errors;
  void add(std::string e) {
    std::lock_guard lock(mu);
    errors.push_back(std::move(e));
  }
};

// One server's life in a test thread: open the store, append `batch`, close.
void openAndAppend(const std::string& url, const std::vector<StoredMessage>& batch, ErrorLog& log) {
  try {
    auto s = openStore(url);
    if (StoreStatus st = appendTo(*s, batch); !st.ok) log.add(st.error);
  } catch (const std::exception& e) {
    log.add(e.what());
  }
}

class StoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::Postgres) {
      auto& pg = PostgresServer::instance();
      ASSERT_TRUE(pg.ensureRunning()) << pg.error();
      url_ = pg.createDatabase();
      ASSERT_FALSE(url_.empty()) << pg.error();
    } else {
      dir_ = makeTempDir("parley-store-");
      path_ = dir_ + "/nested/dirs/parley.db";
      url_ = "sqlite:" + path_;
    }
  }
  void TearDown() override {
    store_.reset();
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  StoreConnection& store() {
    if (!store_) store_ = openStore(url_);
    return *store_;
  }
  void reopen() {
    store_.reset();
    store_ = openStore(url_);
  }
  int knownVersion() const {
    return GetParam() == Backend::Sqlite ? kSqliteSchemaVersion : kPostgresSchemaVersion;
  }

  // Runs `sql` (several statements) on the database without opening a store: for laying out
  // an older schema before the store sees it.
  void rawExec(const std::string& sql) {
    if (GetParam() == Backend::Sqlite) {
      fs::create_directories(fs::path(path_).parent_path());
      sqlite3* db = nullptr;
      sqlite3_open(path_.c_str(), &db);
      char* err = nullptr;
      if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK)
        ADD_FAILURE() << sql << ": " << (err ? err : "");
      sqlite3_free(err);
      sqlite3_close(db);
    } else {
      PGconn* c = PQconnectdb(url_.c_str());
      PGresult* r = PQexec(c, sql.c_str());
      if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        ADD_FAILURE() << sql << ": " << PQerrorMessage(c);
      PQclear(r);
      PQfinish(c);
    }
  }

  // Raw SQL beside the store; returns the first column of the first row ("" if none).
  std::string query(const std::string& sql) {
    std::string out;
    if (GetParam() == Backend::Sqlite) {
      // What waits in the inbox reaches the file on the maintainer's next run: this is it.
      store().maintain();
      sqlite3* db = nullptr;
      sqlite3_open(path_.c_str(), &db);
      sqlite3_stmt* s = nullptr;
      if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) {
        ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db);
      } else {
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW && sqlite3_column_text(s, 0))
          out = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
        while (rc == SQLITE_ROW) rc = sqlite3_step(s);
        if (rc != SQLITE_DONE) ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db);
      }
      sqlite3_finalize(s);
      sqlite3_close(db);
    } else {
      PGconn* c = PQconnectdb(url_.c_str());
      PGresult* r = PQexec(c, sql.c_str());
      const auto st = PQresultStatus(r);
      if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
        ADD_FAILURE() << sql << ": " << PQerrorMessage(c);
      else if (st == PGRES_TUPLES_OK && PQntuples(r) > 0)
        out = PQgetvalue(r, 0, 0);
      PQclear(r);
      PQfinish(c);
    }
    return out;
  }

  std::vector<StoredMessage> all(const std::string& room) {
    std::vector<StoredMessage> out;
    EXPECT_TRUE(store().after(room, 0, 1'000'000, out).ok);
    return out;
  }
  std::uint64_t last(const std::string& room) {
    std::uint64_t id = 999;
    const StoreStatus st = store().lastId(room, id);
    EXPECT_TRUE(st.ok) << st.error;
    return id;
  }
  void put(const std::vector<StoredMessage>& batch) {
    const StoreStatus st = appendTo(store(), batch);
    ASSERT_TRUE(st.ok) << st.error;
  }

  std::string url_, dir_, path_;
  std::unique_ptr<StoreConnection> store_;
};

TEST_P(StoreTest, FreshDatabaseIsEmptyAndAnswers) {
  EXPECT_EQ(store().kind(), GetParam() == Backend::Sqlite ? "sqlite" : "postgres");
  EXPECT_TRUE(store().probeWrite().ok);
  EXPECT_EQ(last("general"), 0u);
  EXPECT_TRUE(all("general").empty());
  std::vector<StoredMessage> page{msg("x", 1)};
  EXPECT_TRUE(store().before("general", 0, 10, page).ok);
  EXPECT_TRUE(page.empty());
  std::vector<RoomSummary> rooms{{"x", 1, 1}};
  EXPECT_TRUE(store().rooms(10, rooms).ok);
  EXPECT_TRUE(rooms.empty());
  std::optional<StoredMessage> found = msg("x", 1);
  EXPECT_TRUE(store().findByClientId("general", "alice", "c1", 0, found).ok);
  EXPECT_FALSE(found);
  std::uint64_t deleted = 0;
  EXPECT_TRUE(store().pruneKeepLast(1, deleted).ok);
  EXPECT_TRUE(store().pruneOlderThan(std::numeric_limits<std::int64_t>::max(), deleted).ok);
  EXPECT_EQ(deleted, 0u);
  EXPECT_TRUE(appendTo(store(), {}).ok);
  EXPECT_EQ(query("SELECT count(*) FROM schema_version"), "1");
  EXPECT_EQ(query("SELECT version FROM schema_version"), std::to_string(knownVersion()));
}

TEST_P(StoreTest, PagesForwardAndBackwardOldestFirst) {
  const auto batch = range("general", 1, 10);
  put({batch[0]});
  put({batch.begin() + 1, batch.begin() + 4});
  put({batch.begin() + 4, batch.end()});
  EXPECT_EQ(last("general"), 10u);
  EXPECT_EQ(fields(all("general")), fields(batch));

  auto afterIds = [&](std::uint64_t afterId, std::size_t limit) {
    std::vector<StoredMessage> out;
    const StoreStatus st = store().after("general", afterId, limit, out);
    EXPECT_TRUE(st.ok) << st.error;
    return ids(out);
  };
  auto beforeIds = [&](std::uint64_t beforeId, std::size_t limit) {
    std::vector<StoredMessage> out;
    const StoreStatus st = store().before("general", beforeId, limit, out);
    EXPECT_TRUE(st.ok) << st.error;
    return ids(out);
  };
  EXPECT_EQ(afterIds(0, 3), iota(1, 3));
  EXPECT_EQ(afterIds(3, 3), iota(4, 6));
  EXPECT_EQ(afterIds(7, 3), iota(8, 10));  // exactly the rest
  EXPECT_EQ(afterIds(8, 3), iota(9, 10));  // fewer than asked: the caller's "no more"
  EXPECT_EQ(afterIds(10, 3), iota(1, 0));
  EXPECT_EQ(afterIds(99, 3), iota(1, 0));
  EXPECT_EQ(afterIds(0, 0), iota(1, 0));
  EXPECT_EQ(afterIds(0, std::numeric_limits<std::size_t>::max()), iota(1, 10));
  EXPECT_EQ(afterIds(std::numeric_limits<std::uint64_t>::max(), 3), iota(1, 0));

  EXPECT_EQ(beforeIds(0, 3), iota(8, 10));  // 0: the newest
  EXPECT_EQ(beforeIds(8, 3), iota(5, 7));
  EXPECT_EQ(beforeIds(4, 3), iota(1, 3));  // exactly the rest
  EXPECT_EQ(beforeIds(3, 3), iota(1, 2));
  EXPECT_EQ(beforeIds(1, 3), iota(1, 0));
  EXPECT_EQ(beforeIds(11, 10), iota(1, 10));
  EXPECT_EQ(beforeIds(0, 10), iota(1, 10));
  EXPECT_EQ(beforeIds(0, 11), iota(1, 10));
  EXPECT_EQ(beforeIds(0, 0), iota(1, 0));
  EXPECT_EQ(beforeIds(std::numeric_limits<std::uint64_t>::max(), 2), iota(9, 10));

  std::vector<StoredMessage> page;
  ASSERT_TRUE(store().before("general", 6, 2, page).ok);
  EXPECT_EQ(fields(page), fields({batch[3], batch[4]}));
}

TEST_P(StoreTest, RoomsAreSeparate) {
  put({msg("a", 1), msg("ab", 1), msg("a", 2), msg("A", 1), msg("ab", 2), msg("ab", 3)});
  EXPECT_EQ(last("a"), 2u);
  EXPECT_EQ(last("ab"), 3u);
  EXPECT_EQ(last("A"), 1u);
  EXPECT_EQ(last("b"), 0u);
  EXPECT_EQ(ids(all("a")), iota(1, 2));
  EXPECT_EQ(ids(all("ab")), iota(1, 3));
  for (const auto& m : all("ab")) EXPECT_EQ(m.room, "ab");
  std::vector<StoredMessage> page;
  ASSERT_TRUE(store().before("a", 0, 10, page).ok);
  EXPECT_EQ(ids(page), iota(1, 2));
}

TEST_P(StoreTest, TextRoundTripsByteForByte) {
  std::string controls;
  for (char c = 1; c < 0x20; ++c) controls += c;
  controls += '\x7f';
  std::string longEmoji;
  for (int i = 0; i < 4000; ++i) longEmoji += "\xF0\x9F\x98\x80";
  const std::vector<StoredMessage> batch = {
      msg("r", 1, "Zo\xC3\xAB \xF0\x9F\x98\x80",
          "h\xC3\xA9llo \xE2\x80\x94 \xE6\x97\xA5\xE6\x9C\xAC "
          "\xD7\xA2\xD7\x91\xD7\xA8\xD7\x99\xD7\xAA "
          "\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7",
          "c\xC3\xA9"),
      msg("r", 2, "o'brien", "it's \"quoted\" 'single' \\back\\slash\\ `tick` $1 %s ?", "c'1\""),
      msg("r", 3, "bob", "'); DROP TABLE messages; --", "{a,b}"),
      msg("r", 4, "bob", controls, "NULL"),
      msg("r", 5, "bob", "NULL", "\\\""),
      msg("r", 6, "bob", "{braces},commas,\"NULL\",{}", " spaced "),
      msg("r", 7, "bob", "  leading and trailing spaces  \t"),
      msg("r", 8, "bob", longEmoji),
      msg("r", 9, " ", "\\", "\\"),
  };
  put(batch);
  EXPECT_EQ(fields(all("r")), fields(batch));

  std::optional<StoredMessage> found;
  for (const auto& m : batch) {
    if (m.clientId.empty()) continue;
    ASSERT_TRUE(store().findByClientId("r", m.username, m.clientId, 0, found).ok);
    ASSERT_TRUE(found) << m.clientId;
    EXPECT_EQ(found->id, m.id);
    EXPECT_EQ(found->clientId, m.clientId);
  }
  // The string "NULL" is a client id like any other; an empty one is stored as SQL NULL.
  EXPECT_EQ(query("SELECT count(*) FROM messages WHERE client_id IS NULL"), "2");
}

TEST_P(StoreTest, DuplicateIdFailsTheWholeBatchAndChangesNothing) {
  const auto first = range("general", 1, 3);
  put(first);
  put({msg("other", 1)});
  std::vector<RoomSummary> before;
  ASSERT_TRUE(store().rooms(10, before).ok);

  // A clash at the end, after valid rows of this room and another.
  StoreStatus st = appendTo(store(), {msg("general", 4), msg("elsewhere", 1), msg("general", 5),
                                      msg("general", 2, "eve", "x")});
  EXPECT_FALSE(st.ok);
  EXPECT_FALSE(st.error.empty());
  EXPECT_EQ(st.error.find('\n'), std::string::npos) << st.error;
  // A clash inside the batch itself.
  st = appendTo(store(), {msg("general", 4), msg("general", 4, "eve", "y")});
  EXPECT_FALSE(st.ok);

  EXPECT_EQ(last("general"), 3u);
  EXPECT_EQ(last("elsewhere"), 0u);
  EXPECT_EQ(fields(all("general")), fields(first));
  std::vector<RoomSummary> after;
  ASSERT_TRUE(store().rooms(10, after).ok);
  ASSERT_EQ(after.size(), before.size());
  for (std::size_t i = 0; i < after.size(); ++i) {
    EXPECT_EQ(after[i].room, before[i].room);
    EXPECT_EQ(after[i].lastId, before[i].lastId);
    EXPECT_EQ(after[i].lastMillis, before[i].lastMillis);
  }

  // The store is still usable, and the sequence continues where it was.
  put(range("general", 4, 5));
  EXPECT_EQ(last("general"), 5u);
}

TEST_P(StoreTest, AppendingAStoredBatchAgainIsANoOp) {
  // A retry of a batch whose commit the caller never heard about must not fail forever.
  const auto batch = range("general", 1, 3);
  put(batch);
  put(batch);
  put({batch[1]});
  EXPECT_EQ(fields(all("general")), fields(batch));
  auto changed = batch;
  changed[2].content = "edited";
  EXPECT_FALSE(appendTo(store(), changed).ok);
  changed = batch;
  changed[2].clientId = "now-with-id";
  EXPECT_FALSE(appendTo(store(), changed).ok);
  EXPECT_EQ(fields(all("general")), fields(batch));
}

TEST_P(StoreTest, RefusesWhatCannotBeStored) {
  EXPECT_FALSE(appendTo(store(), {msg("r", 0)}).ok);
  EXPECT_FALSE(appendTo(store(), {msg("r", 1ull << 63)}).ok);
  const StoreStatus st =
      appendTo(store(), {msg("r", 1), msg("r", 2, "bob", std::string("a\0b", 3))});
  EXPECT_FALSE(st.ok);
  EXPECT_NE(st.error.find("NUL"), std::string::npos) << st.error;
  EXPECT_EQ(last("r"), 0u);
  std::vector<RoomSummary> rooms;
  ASSERT_TRUE(store().rooms(10, rooms).ok);
  EXPECT_TRUE(rooms.empty());

  put({msg("r", 1, "bob", "hi", "c")});
  // Keys that could never have been stored find nothing (and never a truncated key's rows).
  const std::string nulRoom("r\0x", 3);
  EXPECT_EQ(last(nulRoom), 0u);
  EXPECT_TRUE(all(nulRoom).empty());
  std::optional<StoredMessage> found;
  ASSERT_TRUE(store().findByClientId("r", std::string("bob\0", 4), "c", 0, found).ok);
  EXPECT_FALSE(found);
}

TEST_P(StoreTest, FindsByClientIdPerUserRoomAndWindow) {
  put({msg("r", 1, "alice", "first", "c1", 1000), msg("r", 2, "bob", "same id", "c1", 2000),
       msg("r", 3, "alice", "no id", "", 3000), msg("r", 4, "alice", "other id", "c2", 4000)});
  put({msg("r2", 1, "alice", "other room", "c1", 5000)});

  std::optional<StoredMessage> found;
  auto find = [&](const char* room, const char* user, const char* cid, std::int64_t notBefore) {
    found.reset();
    const StoreStatus st = store().findByClientId(room, user, cid, notBefore, found);
    EXPECT_TRUE(st.ok) << st.error;
    return found ? found->id : 0;
  };
  EXPECT_EQ(find("r", "alice", "c1", 0), 1u);
  ASSERT_TRUE(found);
  EXPECT_EQ(fields({*found}), fields({msg("r", 1, "alice", "first", "c1", 1000)}));
  EXPECT_EQ(find("r", "alice", "c1", 1000), 1u);  // "at or after"
  EXPECT_EQ(find("r", "alice", "c1", 1001), 0u);  // outside the window
  EXPECT_EQ(find("r", "bob", "c1", 0), 2u);
  EXPECT_EQ(find("r", "carol", "c1", 0), 0u);  // another user's id is not ours
  EXPECT_EQ(find("r", "Alice", "c1", 0), 0u);
  EXPECT_EQ(find("r", "alice", "c2", 0), 4u);
  EXPECT_EQ(find("r", "alice", "c3", 0), 0u);
  EXPECT_EQ(find("r", "alice", "", 0), 0u);  // "no id" never matches
  EXPECT_EQ(find("r2", "alice", "c1", 1000), 1u);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->room, "r2");
  EXPECT_EQ(found->content, "other room");
  EXPECT_EQ(find("r3", "alice", "c1", 0), 0u);

  // The same id reused later (a new window): the newest one.
  put({msg("r", 5, "alice", "again", "c1", 90000)});
  EXPECT_EQ(find("r", "alice", "c1", 0), 5u);
  EXPECT_EQ(find("r", "alice", "c1", 90001), 0u);
}

TEST_P(StoreTest, RoomsNewestActivityFirst) {
  put({msg("a", 1, "u", "x", "", 100), msg("b", 1, "u", "x", "", 250)});
  put({msg("b", 2, "u", "x", "", 300), msg("c", 1, "u", "x", "", 200)});
  std::vector<RoomSummary> rooms;
  auto names = [&](std::size_t limit) {
    const StoreStatus st = store().rooms(limit, rooms);
    EXPECT_TRUE(st.ok) << st.error;
    std::vector<std::string> out;
    for (const auto& r : rooms) out.push_back(r.room);
    return out;
  };
  EXPECT_EQ(names(10), (std::vector<std::string>{"b", "c", "a"}));
  EXPECT_EQ(rooms[0].lastId, 2u);
  EXPECT_EQ(rooms[0].lastMillis, 300);
  EXPECT_EQ(rooms[2].lastId, 1u);
  EXPECT_EQ(rooms[2].lastMillis, 100);
  EXPECT_EQ(names(2), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(names(0), std::vector<std::string>{});

  put({msg("a", 2, "u", "x", "", 400)});
  EXPECT_EQ(names(10), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(rooms[0].lastId, 2u);
  EXPECT_EQ(rooms[0].lastMillis, 400);

  std::uint64_t deleted = 0;
  ASSERT_TRUE(store().pruneKeepLast(0, deleted).ok);
  EXPECT_EQ(names(10), (std::vector<std::string>{"a", "b", "c"}));
}

TEST_P(StoreTest, PruneKeepLastNeverDeletesARoomsNewest) {
  put(range("big", 1, 2500));  // more than one prune chunk
  put(range("small", 1, 3));
  put(range("single", 1, 1));

  std::uint64_t deleted = 7;  // added to, not overwritten
  StoreStatus st = store().pruneKeepLast(10, deleted);
  ASSERT_TRUE(st.ok) << st.error;
  EXPECT_EQ(deleted, 7u + 2490u);
  EXPECT_EQ(ids(all("big")), iota(2491, 2500));
  EXPECT_EQ(ids(all("small")), iota(1, 3));
  EXPECT_EQ(ids(all("single")), iota(1, 1));

  deleted = 0;
  st = store().pruneKeepLast(0, deleted);  // "keep none" still keeps the newest
  ASSERT_TRUE(st.ok) << st.error;
  EXPECT_EQ(deleted, 9u + 2u);
  EXPECT_EQ(ids(all("big")), iota(2500, 2500));
  EXPECT_EQ(ids(all("small")), iota(3, 3));
  EXPECT_EQ(ids(all("single")), iota(1, 1));
  deleted = 0;
  ASSERT_TRUE(store().pruneKeepLast(0, deleted).ok);
  ASSERT_TRUE(store().pruneKeepLast(std::numeric_limits<std::size_t>::max(), deleted).ok);
  EXPECT_EQ(deleted, 0u);

  EXPECT_EQ(last("big"), 2500u);
  put({msg("big", 2501)});
  EXPECT_EQ(ids(all("big")), iota(2500, 2501));
}

TEST_P(StoreTest, PruneOlderThanNeverDeletesARoomsNewest) {
  std::vector<StoredMessage> old;
  for (std::uint64_t id = 1; id <= 2500; ++id) old.push_back(msg("old", id, "u", "", "", 10 + id));
  put(old);
  put({msg("mixed", 1, "u", "", "", 1000), msg("mixed", 2, "u", "", "", 2000),
       msg("mixed", 3, "u", "", "", 3000), msg("mixed", 4, "u", "", "", 4000),
       msg("mixed", 5, "u", "", "", 5000)});
  put({msg("stale", 1, "u", "", "", 100), msg("stale", 2, "u", "", "", 200)});
  put({msg("fresh", 1, "u", "", "", 9000)});

  std::uint64_t deleted = 0;
  StoreStatus st = store().pruneOlderThan(3000, deleted);
  ASSERT_TRUE(st.ok) << st.error;
  EXPECT_EQ(deleted, 2499u + 2u + 1u);
  EXPECT_EQ(ids(all("old")), iota(2500, 2500));  // older than the cutoff, but the newest
  EXPECT_EQ(ids(all("mixed")), iota(3, 5));      // 3000 is not older than 3000
  EXPECT_EQ(ids(all("stale")), iota(2, 2));
  EXPECT_EQ(ids(all("fresh")), iota(1, 1));

  deleted = 0;
  ASSERT_TRUE(store().pruneOlderThan(3000, deleted).ok);
  EXPECT_EQ(deleted, 0u);
  ASSERT_TRUE(store().pruneOlderThan(std::numeric_limits<std::int64_t>::max(), deleted).ok);
  EXPECT_EQ(deleted, 2u);  // mixed 3 and 4
  EXPECT_EQ(last("old"), 2500u);
  EXPECT_EQ(last("mixed"), 5u);
  std::vector<RoomSummary> rooms;
  ASSERT_TRUE(store().rooms(10, rooms).ok);
  EXPECT_EQ(rooms.size(), 4u);
}

TEST_P(StoreTest, ReopeningKeepsEverythingAndIdsContinue) {
  const auto batch = range("general", 1, 5);
  put(batch);
  put({msg("side", 1, "bob", "hello", "cid", 1234)});
  reopen();
  EXPECT_EQ(last("general"), 5u);
  EXPECT_EQ(fields(all("general")), fields(batch));
  std::optional<StoredMessage> found;
  ASSERT_TRUE(store().findByClientId("side", "bob", "cid", 0, found).ok);
  EXPECT_TRUE(found);
  std::vector<RoomSummary> rooms;
  ASSERT_TRUE(store().rooms(10, rooms).ok);
  EXPECT_EQ(rooms.size(), 2u);

  put({msg("general", 6)});
  EXPECT_FALSE(appendTo(store(), {msg("general", 5, "x", "again")}).ok);
  reopen();
  EXPECT_EQ(last("general"), 6u);
  EXPECT_EQ(query("SELECT version FROM schema_version"), std::to_string(knownVersion()));
}

TEST_P(StoreTest, NewerSchemaIsRefusedAtOpen) {
  put(range("general", 1, 2));
  store_.reset();
  const int newer = knownVersion() + 1;
  query("UPDATE schema_version SET version = " + std::to_string(newer));
  try {
    openStore(url_);
    FAIL() << "opened a database with a newer schema";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "database schema version " + std::to_string(newer) +
                                         " is newer than this parley (knows up to " +
                                         std::to_string(knownVersion()) + "): upgrade parley");
  }
  EXPECT_EQ(query("SELECT version FROM schema_version"), std::to_string(newer));  // untouched
  query("UPDATE schema_version SET version = " + std::to_string(knownVersion()));
  EXPECT_EQ(last("general"), 2u);
}

TEST_P(StoreTest, ServersOpeningAFreshDatabaseTogetherAllSucceed) {
  constexpr int kOpeners = 4;
  ErrorLog log;
  std::vector<std::thread> threads;
  for (int i = 0; i < kOpeners; ++i)
    threads.emplace_back(
        [&, i] { openAndAppend(url_, range("room" + std::to_string(i), 1, 3), log); });
  for (auto& t : threads) t.join();
  EXPECT_TRUE(log.errors.empty()) << log.errors.front();
  EXPECT_EQ(query("SELECT count(*) FROM schema_version"), "1");
  std::vector<RoomSummary> rooms;
  ASSERT_TRUE(store().rooms(10, rooms).ok);
  EXPECT_EQ(rooms.size(), static_cast<std::size_t>(kOpeners));
}

Account account(std::string_view username, std::string hash = "$argon2id$v=19$test",
                std::int64_t createdMillis = 1'758'122'625'123) {
  return {accountKey(username), std::string(username), std::move(hash), createdMillis};
}

std::vector<std::string> usernames(const std::vector<Account>& accounts) {
  std::vector<std::string> out;
  for (const Account& a : accounts) out.push_back(a.username);
  return out;
}

TEST_P(StoreTest, AccountsAreCreatedOnceAndFoundByKey) {
  std::vector<Account> found{account("x")};
  ASSERT_TRUE(store().findAccounts(accountKey("alice"), found).ok);
  EXPECT_TRUE(found.empty());
  bool created = false;
  ASSERT_TRUE(store().createAccount(account("Alice", "hash-1"), created).ok);
  EXPECT_TRUE(created);
  // Another spelling of the same name, or a name that looks like it, is the same account:
  // refused, the first one untouched.
  for (std::string_view lookalike :
       {"ALICE", "\xd0\x90lice" /* Cyrillic A */, "A\xe2\x80\x8blice"}) {
    ASSERT_TRUE(store().createAccount(account(lookalike, "hash-2"), created).ok);
    EXPECT_FALSE(created) << lookalike;
  }
  ASSERT_TRUE(store().findAccounts(accountKey("aLiCe"), found).ok);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].username, "Alice");
  EXPECT_EQ(found[0].passwordHash, "hash-1");
  EXPECT_EQ(found[0].createdMillis, 1'758'122'625'123);
  // Case folds beyond ASCII too; an accent is not a lookalike.
  ASSERT_TRUE(store().createAccount(account("\xc3\x89mile"), created).ok);
  EXPECT_TRUE(created);
  ASSERT_TRUE(store().createAccount(account("\xc3\xa9mile"), created).ok);
  EXPECT_FALSE(created);
  ASSERT_TRUE(store().createAccount(account("Emile"), created).ok);
  EXPECT_TRUE(created);
  reopen();
  ASSERT_TRUE(store().findAccounts(accountKey("alice"), found).ok);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].passwordHash, "hash-1");
  EXPECT_EQ(query("SELECT count(*) FROM accounts"), "3");
  EXPECT_EQ(query("SELECT rule FROM account_key_rule"), accountKeyRule());
}

TEST_P(StoreTest, AccountKeysPageInByteOrder) {
  bool created = false;
  std::vector<std::string> keys;
  for (std::string_view name : {"zed", "Bob", "alice", "\xc3\xa9mile", "carol"}) {
    ASSERT_TRUE(store().createAccount(account(name), created).ok && created) << name;
    keys.push_back(accountKey(name));
  }
  std::sort(keys.begin(), keys.end());
  std::vector<std::string> page;
  ASSERT_TRUE(store().accountKeys("", 2, page).ok);
  EXPECT_EQ(page, (std::vector<std::string>{keys[0], keys[1]}));
  ASSERT_TRUE(store().accountKeys(page.back(), 2, page).ok);
  EXPECT_EQ(page, (std::vector<std::string>{keys[2], keys[3]}));
  ASSERT_TRUE(store().accountKeys(page.back(), 2, page).ok);
  EXPECT_EQ(page, (std::vector<std::string>{keys[4]}));
  ASSERT_TRUE(store().accountKeys(page.back(), 2, page).ok);
  EXPECT_TRUE(page.empty());
}

TEST_P(StoreTest, AccountTextWithNulIsRefusedAndNeverFound) {
  bool created = true;
  EXPECT_FALSE(store().createAccount(account(std::string_view("bob\0x", 5)), created).ok);
  EXPECT_FALSE(created);
  std::vector<Account> found;
  ASSERT_TRUE(store().createAccount(account("bob"), created).ok);
  ASSERT_TRUE(store().findAccounts(std::string_view("bob\0x", 5), found).ok);
  EXPECT_TRUE(found.empty());
}

// A database of the schema before names were unique by their look (keys: the name with ASCII
// letters lowered), holding accounts whose names now look alike: both keep working, the older
// holds the name, and nobody can register another lookalike.
TEST_P(StoreTest, AccountsOfTheOldRuleGetNewKeysAndLookalikesBothKeepTheirs) {
  store();  // the current schema, then taken back to the last one before skeleton keys
  store_.reset();
  const bool sqlite = GetParam() == Backend::Sqlite;
  rawExec(std::string("DROP TABLE room_bans; DROP TABLE room_members; DROP TABLE room_access; "
                      "DROP TABLE account_key_rule; DROP TABLE accounts;") +
          // (and the message columns of the later schema 5 / 4: edits and deletes; the room tables:
          // 6 / 5)
          (sqlite ? "ALTER TABLE messages DROP COLUMN signed_in; ALTER TABLE messages DROP COLUMN "
                    "deleted; ALTER TABLE messages DROP COLUMN edited_ms;"
                  : "ALTER TABLE messages DROP COLUMN signed_in, DROP COLUMN deleted, DROP COLUMN "
                    "edited_ms;") +
          (sqlite ? "CREATE TABLE accounts (name_key TEXT NOT NULL PRIMARY KEY, username TEXT NOT "
                    "NULL, password_hash TEXT NOT NULL, created_ms INTEGER NOT NULL) WITHOUT "
                    "ROWID; UPDATE schema_version SET version = 3;"
                  : "CREATE TABLE accounts (name_key TEXT COLLATE \"C\" NOT NULL PRIMARY KEY, "
                    "username TEXT NOT NULL, password_hash TEXT NOT NULL, created_ms BIGINT NOT "
                    "NULL); UPDATE schema_version SET version = 2;") +
          // Latin Carol, then Cyrillic Сarol (registered after it), Emma, bob, and Zoë spelled with
          // a combining diaeresis (not NFC): their keys as the old rule made them.
          "INSERT INTO accounts VALUES ('carol', 'Carol', 'h-latin', 1000), "
          "('\xd0\xa1"
          "arol', '\xd0\xa1"
          "arol', 'h-cyrillic', 2000), ('emma', 'Emma', 'h-emma', 1500), "
          "('bob', 'bob', 'h-bob', 500), ('zoe\xcc\x88', 'Zoe\xcc\x88', 'h-zoe', 3000);");
  std::vector<Account> found;
  ASSERT_TRUE(store().findAccounts(accountKey("CAROL"), found).ok);
  EXPECT_EQ(usernames(found), (std::vector<std::string>{"Carol",
                                                        "\xd0\xa1"
                                                        "arol"}));  // oldest first
  // A login picks by its spelling: each owner gets their own account, a third spelling none.
  auto named = [&](std::string_view typed) {
    std::vector<std::string> out;
    for (const Account* a : accountsNamed(found, typed)) out.push_back(a->username);
    return out;
  };
  EXPECT_EQ(named("Carol"), (std::vector<std::string>{"Carol"}));
  EXPECT_EQ(named("carol"), (std::vector<std::string>{"Carol"}));
  EXPECT_EQ(named("\xd0\xa1"
                  "arol"),
            (std::vector<std::string>{"\xd0\xa1"
                                      "arol"}));
  EXPECT_EQ(named("\xd1\x81"
                  "arol"),
            (std::vector<std::string>{"\xd0\xa1"
                                      "arol"}));  // its lower case
  EXPECT_TRUE(named("C\xd0\xb0rol").empty());     // Cyrillic a: neither
  bool created = true;
  ASSERT_TRUE(store().createAccount(account("C\xd0\xb0rol"), created).ok);
  EXPECT_FALSE(created);
  // Emma's key is now her name's look ("rn" for "m"); Zoë is stored in NFC.
  ASSERT_TRUE(store().findAccounts(accountKey("Ernrna"), found).ok);
  EXPECT_EQ(usernames(found), (std::vector<std::string>{"Emma"}));
  ASSERT_TRUE(store().findAccounts(accountKey("zo\xc3\xab"), found).ok);
  EXPECT_EQ(usernames(found), (std::vector<std::string>{"Zo\xc3\xab"}));
  std::vector<std::string> keys;
  ASSERT_TRUE(store().accountKeys("", 10, keys).ok);
  EXPECT_EQ(keys.size(), 4u);  // the two Carols' key once
  EXPECT_EQ(query("SELECT key_rank FROM accounts WHERE password_hash = 'h-cyrillic'"), "1");
  EXPECT_EQ(query("SELECT rule FROM account_key_rule"), accountKeyRule());
  EXPECT_EQ(query("SELECT version FROM schema_version"), std::to_string(knownVersion()));

  // Another rule (a new ICU) makes the keys again: a key it would not make is put right.
  store_.reset();
  rawExec(
      "UPDATE account_key_rule SET rule = 'uts39-skeleton-0'; "
      "UPDATE accounts SET name_key = 'not a key' WHERE username = 'bob'");
  ASSERT_TRUE(store().findAccounts(accountKey("BOB"), found).ok);
  EXPECT_EQ(usernames(found), (std::vector<std::string>{"bob"}));
  EXPECT_EQ(query("SELECT count(*) FROM accounts"), "5");
  EXPECT_EQ(query("SELECT rule FROM account_key_rule"), accountKeyRule());
  // The same rule: nothing is recomputed (a key tampered with now stays as it is).
  store_.reset();
  rawExec("UPDATE accounts SET name_key = 'not a key' WHERE username = 'bob'");
  ASSERT_TRUE(store().findAccounts(accountKey("bob"), found).ok);
  EXPECT_TRUE(found.empty());
}

MessageChange change(MessageChange::Kind kind, std::string room, std::uint64_t id,
                     std::string actor, bool signedIn, bool moderator = false,
                     std::string content = "", std::int64_t ms = 1'800'000'000'000) {
  MessageChange c;
  c.kind = kind;
  c.room = std::move(room);
  c.id = id;
  c.actor = std::move(actor);
  c.actorSignedIn = signedIn;
  c.moderator = moderator;
  c.content = std::move(content);
  c.unixMillis = ms;
  c.outcome = MessageChange::Outcome::Applied;  // must be set by the store, whatever it was
  return c;
}

using Outcomes = std::vector<MessageChange::Outcome>;
Outcomes outcomes(const std::vector<MessageChange>& changes) {
  Outcomes out;
  for (const auto& c : changes) out.push_back(c.outcome);
  return out;
}

TEST_P(StoreTest, EditsAndDeletesFollowTheAuthorRuleAndLeaveTombstones) {
  using K = MessageChange::Kind;
  using O = MessageChange::Outcome;
  auto signedIn = [](StoredMessage m) {
    m.signedIn = true;
    return m;
  };
  // 1-3 Alice signed in, 4 Bob signed in, 5 "Alice" without a token (--auth open), 6 elsewhere.
  put({signedIn(msg("r", 1, "Alice")), signedIn(msg("r", 2, "Alice")),
       signedIn(msg("r", 3, "Alice", "", "c-3")), signedIn(msg("r", 4, "Bob")),
       msg("r", 5, "Alice")});
  put({signedIn(msg("other", 1, "Alice"))});
  std::vector<MessageChange> changes = {
      change(K::Edit, "r", 1, "Alice", true, false, "fixed"),     // her own: applied
      change(K::Edit, "r", 4, "Alice", true, false, "mine now"),  // Bob's: not allowed
      change(K::Edit, "r", 2, "Alice", false, false, "x"),        // not signed in: not allowed
      change(K::Edit, "r", 5, "Alice", true, false, "x"),         // sent without a token: nobody's
      change(K::Delete, "r", 4, "Mod", true, true),               // a moderator deletes any
      change(K::Edit, "r", 3, "Mod", true, true, "x"),            // but edits none
      change(K::Delete, "r", 3, "Alice", true),                   // her own
      change(K::Edit, "r", 3, "Alice", true, false, "back"),      // a tombstone stays one
      change(K::Delete, "r", 3, "Alice", true),                   // gone already
      change(K::Delete, "r", 99, "Alice", true),                  // never was
      change(K::Delete, "nowhere", 1, "Alice", true, true),       // no such room
      change(K::Edit, "r", 1, "Alice", true, false, "fixed again", 1'800'000'000'500),
  };
  const StoreStatus st = store().applyChanges(changes);
  ASSERT_TRUE(st.ok) << st.error;
  EXPECT_EQ(outcomes(changes), (Outcomes{O::Applied, O::NotAllowed, O::NotAllowed, O::NotAllowed,
                                         O::Applied, O::NotAllowed, O::Applied, O::NotFound,
                                         O::NotFound, O::NotFound, O::NotFound, O::Applied}));
  auto check = [&] {
    const auto all = this->all("r");
    ASSERT_EQ(ids(all), iota(1, 5));  // no gaps: the deleted rows stay
    EXPECT_EQ(all[0].content, "fixed again");
    EXPECT_EQ(all[0].editedMillis, 1'800'000'000'500);
    EXPECT_FALSE(all[0].deleted);
    EXPECT_TRUE(all[0].signedIn);
    EXPECT_EQ(all[1].content, "message 2");
    EXPECT_EQ(all[1].editedMillis, 0);
    EXPECT_TRUE(all[2].deleted);
    EXPECT_EQ(all[2].content, "");
    EXPECT_EQ(all[2].username, "Alice");  // who and when stay; the words go
    EXPECT_EQ(all[2].clientId, "c-3");
    EXPECT_TRUE(all[3].deleted);
    EXPECT_FALSE(all[4].signedIn);
    EXPECT_EQ(all[4].content, "message 5");
    std::vector<StoredMessage> page;
    ASSERT_TRUE(store().before("r", 0, 2, page).ok);
    ASSERT_EQ(ids(page), (std::vector<std::uint64_t>{4, 5}));
    EXPECT_TRUE(page[0].deleted);
    EXPECT_EQ(this->all("other")[0].content, "message 1");
  };
  check();
  reopen();
  check();
  EXPECT_EQ(last("r"), 5u);
  put({msg("r", 6)});  // ids go on after tombstones
  EXPECT_EQ(last("r"), 6u);
}

TEST_P(StoreTest, AChangeSeesMessagesAppendedJustBefore) {
  // (SQLite: they still wait in the inbox; the change ingests them first.)
  StoredMessage m = msg("r", 1, "Alice");
  m.signedIn = true;
  put({m});
  std::vector<MessageChange> changes = {
      change(MessageChange::Kind::Edit, "r", 1, "Alice", true, false, "edited")};
  ASSERT_TRUE(store().applyChanges(changes).ok);
  EXPECT_EQ(changes[0].outcome, MessageChange::Outcome::Applied);
  EXPECT_EQ(all("r")[0].content, "edited");
  put({msg("r", 2, "Alice")});
  changes = {change(MessageChange::Kind::Delete, "r", 2, "Admin", false, true)};
  ASSERT_TRUE(store().applyChanges(changes).ok);
  EXPECT_EQ(changes[0].outcome, MessageChange::Outcome::Applied);
  EXPECT_TRUE(all("r")[1].deleted);
  std::vector<MessageChange> none;
  EXPECT_TRUE(store().applyChanges(none).ok);
  // Text a store cannot hold is refused whole, and nothing of it is applied.
  changes = {
      change(MessageChange::Kind::Edit, "r", 1, "Alice", true, false, "ok"),
      change(MessageChange::Kind::Edit, "r", 1, "Alice", true, false, std::string("a\0b", 3))};
  EXPECT_FALSE(store().applyChanges(changes).ok);
  EXPECT_EQ(all("r")[0].content, "edited");
}

TEST_P(StoreTest, MessagesStoredBeforeEditsExistedReadAsUnchangedAndNotSignedIn) {
  store();
  store_.reset();
  const bool sqlite = GetParam() == Backend::Sqlite;
  // The schema before edits (SQLite 4, PostgreSQL 3) with a message in it (and without the room
  // tables, which came after).
  rawExec("DROP TABLE room_bans; DROP TABLE room_members; DROP TABLE room_access;");
  rawExec(sqlite ? "ALTER TABLE messages DROP COLUMN signed_in; ALTER TABLE messages DROP COLUMN "
                   "deleted; ALTER TABLE messages DROP COLUMN edited_ms; UPDATE schema_version SET "
                   "version = 4; INSERT INTO messages (room, id, username, content, client_id, "
                   "created_ms) VALUES ('r', 1, 'Alice', 'old', NULL, 1000);"
                 : "ALTER TABLE messages DROP COLUMN signed_in, DROP COLUMN deleted, DROP COLUMN "
                   "edited_ms; UPDATE schema_version SET version = 3; INSERT INTO messages (room, "
                   "id, username, content, client_id, created_ms) VALUES ('r', 1, 'Alice', 'old', "
                   "NULL, 1000);");
  const auto all = this->all("r");
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].content, "old");
  EXPECT_FALSE(all[0].signedIn);
  EXPECT_FALSE(all[0].deleted);
  EXPECT_EQ(all[0].editedMillis, 0);
  EXPECT_EQ(query("SELECT version FROM schema_version"), std::to_string(knownVersion()));
  // Its author cannot prove it was she: only a moderator may remove it.
  std::vector<MessageChange> changes = {
      change(MessageChange::Kind::Delete, "r", 1, "Alice", true),
      change(MessageChange::Kind::Delete, "r", 1, "", false, true)};
  ASSERT_TRUE(store().applyChanges(changes).ok);
  EXPECT_EQ(outcomes(changes),
            (Outcomes{MessageChange::Outcome::NotAllowed, MessageChange::Outcome::Applied}));
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, ::testing::Values(Backend::Sqlite, Backend::Postgres),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return info.param == Backend::Sqlite ? "Sqlite" : "Postgres";
                         });

// ---- what only one backend has -------------------------------------------------------------

TEST(OpenStore, RefusesUnknownUrlsWithoutEchoingPasswords) {
  for (const char* url :
       {"", "none", "mysql://u:secret@host/db", "sqlite", "postgres:/x", "sqlite:"}) {
    try {
      openStore(url);
      ADD_FAILURE() << "opened " << url;
    } catch (const std::runtime_error& e) {
      const std::string what = e.what();
      EXPECT_FALSE(what.empty());
      EXPECT_EQ(what.find("secret"), std::string::npos) << what;
    }
  }
  try {
    openStore("mysql://u:secret@host/db");
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("unknown --db URL \"mysql://u:***@host/db\"", 0), 0u)
        << e.what();
  }
}

TEST(OpenStore, RedactsPostgresPasswords) {
  EXPECT_EQ(PostgresStore::redacted("postgres://u:pw@h:5/db"), "postgres://u:***@h:5/db");
  EXPECT_EQ(PostgresStore::redacted("postgresql://u:p@w@h/db"), "postgresql://u:***@h/db");
  EXPECT_EQ(PostgresStore::redacted("postgresql://u@h/db?password=pw&sslmode=require"),
            "postgresql://u@h/db?password=***&sslmode=require");
  EXPECT_EQ(PostgresStore::redacted("postgresql://u@h/db?x=1&password=pw"),
            "postgresql://u@h/db?x=1&password=***");
  EXPECT_EQ(PostgresStore::redacted("postgresql://h:5432/db"), "postgresql://h:5432/db");
  EXPECT_EQ(PostgresStore::redacted("postgresql:///db?host=/tmp"), "postgresql:///db?host=/tmp");
}

TEST(OpenStore, SqliteCreatesDirectoriesAndUsesWal) {
  const std::string dir = makeTempDir("parley-store-");
  const std::string path = dir + "/a/b/c/parley.db";
  {
    auto s = openStore("sqlite:" + path);
    EXPECT_TRUE(appendTo(*s, {msg("r", 1)}).ok);
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, nullptr), SQLITE_OK);
    ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
    EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);
  }
  // A directory where the file should be: a clear error at start-up, not a broken store.
  EXPECT_THROW(openStore("sqlite:" + dir + "/a"), std::runtime_error);
  // A file that is not a database.
  { std::ofstream(dir + "/junk.db") << "this is not an SQLite database, not even close......"; }
  EXPECT_THROW(openStore("sqlite:" + dir + "/junk.db"), std::runtime_error);
  fs::remove_all(dir);
}

// A database written by schema version 1 (messages keyed by (room, id), WITHOUT ROWID) opens
// with everything in it: history, client ids, room summaries, and ids that continue.
TEST(SqliteMigration, VersionOneDatabaseKeepsEverything) {
  const std::string dir = makeTempDir("parley-migrate-");
  const std::string path = dir + "/parley.db";
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    char* err = nullptr;
    const int rc = sqlite3_exec(db, R"sql(
CREATE TABLE schema_version (singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
                             version INTEGER NOT NULL);
INSERT INTO schema_version VALUES (1, 1);
CREATE TABLE messages (room TEXT NOT NULL, id INTEGER NOT NULL, username TEXT NOT NULL,
  content TEXT NOT NULL, client_id TEXT, created_ms INTEGER NOT NULL,
  PRIMARY KEY (room, id)) WITHOUT ROWID;
CREATE INDEX messages_client_id ON messages (room, username, client_id)
  WHERE client_id IS NOT NULL;
CREATE INDEX messages_created ON messages (created_ms);
CREATE TABLE rooms (room TEXT NOT NULL PRIMARY KEY, last_id INTEGER NOT NULL,
  last_ms INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO messages VALUES ('b', 1, 'bob', 'b one', NULL, 1000);
INSERT INTO messages VALUES ('a', 1, 'alice', 'a one', 'c-1', 1001);
INSERT INTO messages VALUES ('a', 2, 'bob', 'a two', NULL, 1002);
INSERT INTO messages VALUES ('b', 2, 'bob', 'b two', 'c-2', 1003);
INSERT INTO rooms VALUES ('a', 2, 1002), ('b', 2, 1003);
)sql",
                                nullptr, nullptr, &err);
    ASSERT_EQ(rc, SQLITE_OK) << (err ? err : "");
    sqlite3_close(db);
  }
  auto store = openStore("sqlite:" + path);
  std::vector<StoredMessage> a, b;
  ASSERT_TRUE(store->after("a", 0, 10, a).ok);
  ASSERT_TRUE(store->after("b", 0, 10, b).ok);
  using F = Fields;
  EXPECT_EQ(fields(a), (std::vector<F>{{"a", 1, "alice", "a one", "c-1", 1001},
                                       {"a", 2, "bob", "a two", "", 1002}}));
  EXPECT_EQ(fields(b), (std::vector<F>{{"b", 1, "bob", "b one", "", 1000},
                                       {"b", 2, "bob", "b two", "c-2", 1003}}));
  std::optional<StoredMessage> found;
  ASSERT_TRUE(store->findByClientId("b", "bob", "c-2", 0, found).ok);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->id, 2u);
  std::uint64_t last = 0;
  ASSERT_TRUE(store->lastId("a", last).ok);
  EXPECT_EQ(last, 2u);
  std::vector<RoomSummary> rooms;
  ASSERT_TRUE(store->rooms(10, rooms).ok);
  ASSERT_EQ(rooms.size(), 2u);
  EXPECT_EQ(rooms[0].room, "b");
  // The (room, id) key is still unique, and appends go on after the migrated rows.
  EXPECT_FALSE(appendTo(*store, {msg("a", 2, "eve", "a second two")}).ok);
  ASSERT_TRUE(appendTo(*store, {msg("a", 3, "eve", "a three")}).ok);
  a.clear();
  ASSERT_TRUE(store->after("a", 1, 10, a).ok);
  EXPECT_EQ(ids(a), (std::vector<std::uint64_t>{2, 3}));
  store.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT version FROM schema_version", -1, &st, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), kSqliteSchemaVersion);
  sqlite3_finalize(st);
  sqlite3_close(db);
  fs::remove_all(dir);
}

// The WAL-batching VFS: a commit's frames (two writes per page in plain SQLite) reach the log in
// as few writes as the unix VFS allows, and what a commit returned is readable at once by another
// connection (the server's reader) and by a plain SQLite connection that knows nothing of the VFS.
TEST(SqliteWal, ACommitIsOneWriteAndVisibleToOtherConnectionsAtOnce) {
  const std::string dir = makeTempDir("parley-wal-");
  const std::string path = dir + "/parley.db";
  {
    // A plain SqliteStore: transactions on the database itself, as the inbox's ingest makes them.
    auto writer = std::make_unique<SqliteStore>(path);
    auto reader = openStore("sqlite:" + path);
    sqlite3* plain = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &plain), SQLITE_OK);
    for (int commit = 0; commit < 50; ++commit) {
      // 40 rooms per commit: 40 dirty pages at least, so ~80 writes without the VFS.
      std::vector<StoredMessage> batch;
      for (int r = 0; r < 40; ++r)
        batch.push_back(msg("room" + std::to_string(r), static_cast<std::uint64_t>(commit) + 1, "u",
                            std::string(300, static_cast<char>('a' + commit % 26))));
      const WalBatchingStats before = walBatchingStats();
      ASSERT_TRUE(appendTo(*writer, batch).ok);
      const WalBatchingStats after = walBatchingStats();
      // Two appends per page; one write per ~30 pages (the unix VFS's 124 KiB per call).
      const auto appends = after.walAppends - before.walAppends;
      const auto writes = after.walWrites - before.walWrites;
      EXPECT_GE(appends, 8u) << "commit " << commit;
      EXPECT_GE(writes, 1u) << "commit " << commit;
      EXPECT_LE(writes, 1 + appends / 60) << "commit " << commit << ": " << appends << " appends";

      std::vector<StoredMessage> seen;
      ASSERT_TRUE(reader->before("room39", 0, 1, seen).ok);
      ASSERT_EQ(seen.size(), 1u);
      EXPECT_EQ(seen[0].id, static_cast<std::uint64_t>(commit) + 1);
      EXPECT_EQ(seen[0].content, batch.back().content);

      sqlite3_stmt* st = nullptr;
      ASSERT_EQ(sqlite3_prepare_v2(plain, "SELECT count(*) FROM messages", -1, &st, nullptr),
                SQLITE_OK);
      ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
      EXPECT_EQ(sqlite3_column_int64(st, 0), (commit + 1) * 40);
      sqlite3_finalize(st);
    }
    // A plain connection writes through the default VFS; the batching one reads it back.
    char* err = nullptr;
    ASSERT_EQ(sqlite3_exec(plain,
                           "INSERT INTO messages (room, id, username, content, created_ms) "
                           "VALUES ('plain', 1, 'p', 'from a plain connection', 1)",
                           nullptr, nullptr, &err),
              SQLITE_OK)
        << (err ? err : "");
    std::vector<StoredMessage> seen;
    ASSERT_TRUE(reader->after("plain", 0, 10, seen).ok);
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].content, "from a plain connection");
    sqlite3_close(plain);
  }
  // Reopened (recovery reads the log the batched writes made): everything is there.
  auto again = openStore("sqlite:" + path);
  std::vector<StoredMessage> all;
  ASSERT_TRUE(again->after("room0", 0, 100, all).ok);
  EXPECT_EQ(all.size(), 50u);
  fs::remove_all(dir);
}

std::int64_t countRows(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_stmt* st = nullptr;
  std::int64_t n = -1;
  if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
    n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n;
}

// openStore("sqlite:PATH") is an InboxStore: appends wait in the file's inbox log until an ingest;
// a plain SqliteStore on the same file commits to the database itself and keeps no log; and
// sqlite::memory: (no file to put a log beside) is a plain store.
TEST(SqliteInbox, TheServersStoreIsAPlainStoreBehindTheInbox) {
  const std::string dir = makeTempDir("parley-inbox-");
  const std::string path = dir + "/parley.db";
  {
    auto served = openStore("sqlite:" + path);
    EXPECT_NE(dynamic_cast<InboxStore*>(served.get()), nullptr);
    ASSERT_TRUE(appendTo(*served, range("r", 1, 2)).ok);
    EXPECT_EQ(countRows(path, "SELECT count(*) FROM messages"), 0);  // in the log only
    EXPECT_GT(fs::file_size(path + "-inbox-0"), 0u);
    served->maintain();
    EXPECT_EQ(countRows(path, "SELECT count(*) FROM messages"), 2);
  }
  EXPECT_FALSE(fs::exists(path + "-inbox-0"));
  {
    SqliteStore plain(path);
    ASSERT_TRUE(appendTo(plain, range("r", 3, 3)).ok);
    EXPECT_EQ(countRows(path, "SELECT count(*) FROM messages"), 3);  // in the file at once
    EXPECT_FALSE(fs::exists(path + "-inbox-0"));
  }
  auto memory = openStore("sqlite::memory:");
  EXPECT_NE(dynamic_cast<SqliteStore*>(memory.get()), nullptr);
  ASSERT_TRUE(appendTo(*memory, range("r", 1, 1)).ok);
  std::uint64_t last = 0;
  ASSERT_TRUE(memory->lastId("r", last).ok);
  EXPECT_EQ(last, 1u);
  fs::remove_all(dir);
}

TEST(SqliteInbox, RecordsRoundTripAndADamagedTailEndsTheLog) {
  const std::vector<StoredMessage> batch = {msg("général", 1, "zoë", "héllo 👋", "cid-1", 17),
                                            msg("r", 2, "u", std::string(70'000, 'x')),
                                            msg("r", 3, "u", "third", "", 0)};
  std::string log;
  std::vector<std::size_t> ends;
  for (const auto& m : batch) {
    SqliteInbox::encodeRecord(m, log);
    ends.push_back(log.size());
  }
  EXPECT_EQ(fields(SqliteInbox::decodeLog(log)), fields(batch));
  // A write cut anywhere (a crash in the middle of it): the whole records before the cut.
  for (std::size_t cut = 0; cut < log.size(); cut += 997) {
    const auto whole = static_cast<std::size_t>(
        std::count_if(ends.begin(), ends.end(), [&](std::size_t e) { return e <= cut; }));
    const auto got = SqliteInbox::decodeLog(std::string_view(log).substr(0, cut));
    ASSERT_EQ(got.size(), whole) << "cut at " << cut;
  }
  // A changed byte in the second record: its checksum ends the log there.
  std::string damaged = log;
  damaged[ends[0] + 20] ^= 0x40;
  const auto got = SqliteInbox::decodeLog(damaged);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].content, batch[0].content);
}

TEST(SqliteInbox, TheSignedInFlagRidesInTheRoomLengthAndOldRecordsReadAsNotSignedIn) {
  StoredMessage a;
  a.room = "general";
  a.id = 7;
  a.username = "Alice";
  a.content = "hi";
  a.unixMillis = 1234;
  a.signedIn = true;
  StoredMessage b = a;
  b.id = 8;
  b.signedIn = false;
  std::string log;
  SqliteInbox::encodeRecord(a, log);
  SqliteInbox::encodeRecord(b, log);
  const auto back = SqliteInbox::decodeLog(log);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0], a);
  EXPECT_EQ(back[1], b);
  // A record of the layout before the flag (b's bytes) is byte for byte what it was: room
  // length 7 in the first length field.
  std::uint32_t roomLength = 0;
  std::memcpy(&roomLength, log.data() + log.size() / 2 + 8 + 16, 4);
  EXPECT_EQ(roomLength, 7u);
}

TEST(SqliteInbox, ReadersSeeWaitingMessagesMergedWithTheDatabase) {
  const std::string dir = makeTempDir("parley-inbox-");
  const std::string path = dir + "/parley.db";
  {
    auto writer = openStore("sqlite:" + path);
    auto reader = openStore("sqlite:" + path);
    ASSERT_TRUE(appendTo(*writer, range("general", 1, 5)).ok);
    writer->maintain();  // ingested: in the file now
    ASSERT_TRUE(appendTo(*writer, range("general", 6, 8)).ok);
    ASSERT_TRUE(appendTo(*writer, {msg("side", 1, "bob", "hi", "c1", 1'800'000'000'000)}).ok);
    EXPECT_EQ(countRows(path, "SELECT count(*) FROM messages"), 5);  // 6..8 wait in the inbox

    std::vector<StoredMessage> got;
    ASSERT_TRUE(reader->before("general", 0, 4, got).ok);
    EXPECT_EQ(fields(got), fields(range("general", 5, 8)));
    ASSERT_TRUE(reader->before("general", 7, 3, got).ok);
    EXPECT_EQ(fields(got), fields(range("general", 4, 6)));
    ASSERT_TRUE(reader->after("general", 3, 10, got).ok);
    EXPECT_EQ(fields(got), fields(range("general", 4, 8)));
    ASSERT_TRUE(reader->after("general", 4, 2, got).ok);
    EXPECT_EQ(fields(got), fields(range("general", 5, 6)));
    std::uint64_t last = 0;
    ASSERT_TRUE(reader->lastId("general", last).ok);
    EXPECT_EQ(last, 8u);
    std::optional<StoredMessage> found;
    ASSERT_TRUE(reader->findByClientId("side", "bob", "c1", 0, found).ok);
    ASSERT_TRUE(found);
    EXPECT_EQ(found->content, "hi");
    std::vector<RoomSummary> rooms;
    ASSERT_TRUE(reader->rooms(10, rooms).ok);
    ASSERT_EQ(rooms.size(), 2u);
    EXPECT_EQ(rooms[0].room, "side");  // the most recent activity first
    EXPECT_EQ(rooms[1].lastId, 8u);
    // Waiting ids are taken as much as stored ones.
    EXPECT_FALSE(appendTo(*writer, {msg("general", 7, "eve", "clash")}).ok);
    EXPECT_TRUE(appendTo(*writer, range("general", 6, 8)).ok);  // an exact retry: a no-op

    writer->maintain();
    EXPECT_EQ(countRows(path, "SELECT count(*) FROM messages"), 9);
    ASSERT_TRUE(reader->after("general", 0, 100, got).ok);
    EXPECT_EQ(fields(got), fields(range("general", 1, 8)));
  }
  // Closed cleanly: everything is in the file, and the logs are gone.
  EXPECT_EQ(countRows(path, "SELECT count(*) FROM messages"), 9);
  EXPECT_FALSE(fs::exists(path + "-inbox-0"));
  EXPECT_FALSE(fs::exists(path + "-inbox-1"));
  fs::remove_all(dir);
}

TEST(SqliteInbox, WhatACrashLeftInTheLogsIsIngestedAtOpen) {
  const std::string dir = makeTempDir("parley-inbox-");
  const std::string path = dir + "/parley.db";
  {
    auto store = openStore("sqlite:" + path);
    ASSERT_TRUE(appendTo(*store, range("general", 1, 3)).ok);
  }
  // The logs as a kill -9 leaves them: records the file lacks (4..6 and a room of its own), one
  // it already has (a crash between an ingest's commit and its truncation), and a torn write.
  std::string log0, log1;
  SqliteInbox::encodeRecord(msg("general", 3), log0);
  for (const auto& m : range("general", 4, 5)) SqliteInbox::encodeRecord(m, log0);
  SqliteInbox::encodeRecord(msg("general", 6), log1);
  StoredMessage other = msg("other", 1);
  other.signedIn = true;  // survives the log: its author may still edit it
  SqliteInbox::encodeRecord(other, log1);
  std::string torn;
  SqliteInbox::encodeRecord(msg("general", 7), torn);
  log1 += torn.substr(0, torn.size() - 3);
  std::ofstream(path + "-inbox-0", std::ios::binary) << log0;
  std::ofstream(path + "-inbox-1", std::ios::binary) << log1;

  auto store = openStore("sqlite:" + path);
  EXPECT_EQ(countRows(path, "SELECT count(*) FROM messages"), 7);  // in the file at once
  EXPECT_EQ(fs::file_size(path + "-inbox-0"), 0u);
  EXPECT_EQ(fs::file_size(path + "-inbox-1"), 0u);
  std::vector<StoredMessage> got;
  ASSERT_TRUE(store->after("general", 0, 100, got).ok);
  EXPECT_EQ(fields(got), fields(range("general", 1, 6)));
  ASSERT_TRUE(store->after("other", 0, 100, got).ok);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].signedIn);
  // The torn message was never acknowledged: its id is free, and the sequence goes on.
  EXPECT_TRUE(appendTo(*store, {msg("general", 7)}).ok);
  EXPECT_FALSE(appendTo(*store, {msg("other", 1, "x", "again")}).ok);
  store.reset();
  fs::remove_all(dir);
}

// /healthz and /metrics report what waits in the inbox, and why an ingest failed; appends go
// on meanwhile (they are durable in the log), and the next successful ingest clears it.
TEST(SqliteInbox, TheBacklogAndAFailedIngestAreReported) {
  const std::string dir = makeTempDir("parley-inbox-");
  const std::string path = dir + "/parley.db";
  auto execRaw = [&](const char* sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    sqlite3_close(db);
  };
  {
    auto writer = openStore("sqlite:" + path);
    EXPECT_EQ(writer->backlog().waiting, 0u);
    ASSERT_TRUE(appendTo(*writer, range("general", 1, 3)).ok);
    EXPECT_EQ(writer->backlog().waiting, 3u);
    EXPECT_EQ(writer->backlog().error, "");

    execRaw(
        "CREATE TRIGGER refuse BEFORE INSERT ON messages "
        "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END");
    writer->maintain();
    StoreBacklog b = writer->backlog();
    EXPECT_EQ(b.waiting, 3u);
    EXPECT_NE(b.error.find("refused by the test"), std::string::npos) << b.error;
    ASSERT_TRUE(appendTo(*writer, range("general", 4, 4)).ok);
    EXPECT_EQ(writer->backlog().waiting, 4u);

    execRaw("DROP TRIGGER refuse");
    writer->maintain();
    b = writer->backlog();
    EXPECT_EQ(b.waiting, 0u);
    EXPECT_EQ(b.error, "");
    EXPECT_EQ(countRows(path, "SELECT count(*) FROM messages"), 4);
  }
  std::filesystem::remove_all(dir);
}

TEST(SqliteInbox, ASecondProcessOnTheSameDatabaseIsRefused) {
  const std::string dir = makeTempDir("parley-inbox-");
  const std::string path = dir + "/parley.db";
  openStore("sqlite:" + path).reset();
  // Another process's lock, as flock sees it: a different open file description.
  const int fd = ::open((path + "-inbox-0").c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);
  try {
    openStore("sqlite:" + path);
    ADD_FAILURE() << "opened a database another process holds";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("in use by another parley"), std::string::npos)
        << e.what();
  }
  ::close(fd);
  EXPECT_NO_THROW(openStore("sqlite:" + path));
  fs::remove_all(dir);
}

// Within one process the stores share one inbox. One closing (its destructor still ingests and
// holds the logs' lock) while another opens must hand over, not report the file "in use".
TEST(SqliteInbox, StoresOpenedAndClosedTogetherInOneProcessShareTheInbox) {
  const std::string dir = makeTempDir("parley-inbox-");
  const std::string path = dir + "/parley.db";
  constexpr int kThreads = 4;
  constexpr int kRounds = 40;
  ErrorLog log;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRounds; ++r)
        openAndAppend("sqlite:" + path,
                      {msg("room" + std::to_string(t), static_cast<std::uint64_t>(r) + 1)}, log);
    });
  for (auto& t : threads) t.join();
  EXPECT_TRUE(log.errors.empty()) << log.errors.size() << " failed, first: " << log.errors.front();
  EXPECT_EQ(countRows(path, "SELECT count(*) FROM messages"), kThreads * kRounds);
  fs::remove_all(dir);
}

// The directory deleted under a running server: the next append is refused (nothing is
// acknowledged into the deleted log), probes fail, every connection refuses writes, and the
// maintainer's tick puts a copy of everything back at the database's path, the messages still
// waiting in the inbox included: reopened, the file has all of it, and ids continue.
TEST(SqliteFiles, ADeletedDirectoryIsNoticedWritesAreRefusedAndEverythingIsSaved) {
  const std::string dir = makeTempDir("parley-lost-");
  const std::string path = dir + "/data/parley.db";
  {
    auto writer = openStore("sqlite:" + path);
    auto maintainer = openStore("sqlite:" + path);
    auto accounts = openStore("sqlite:" + path);
    bool created = false;
    ASSERT_TRUE(accounts->createAccount({"ann", "Ann", "hash", 1}, created).ok && created);
    ASSERT_TRUE(appendTo(*writer, range("r", 1, 5)).ok);
    maintainer->maintain();  // 1..5 in the database file
    ASSERT_TRUE(appendTo(*writer, range("r", 6, 8)).ok);
    ASSERT_TRUE(appendTo(*writer, {msg("side", 1, "bob", "hi", "c1")}).ok);  // waiting
    EXPECT_EQ(writer->refusal(), "");
    EXPECT_TRUE(writer->probeWrite().ok);

    fs::remove_all(dir + "/data");
    const StoreStatus refused = appendTo(*writer, range("r", 9, 9));
    EXPECT_FALSE(refused.ok);
    EXPECT_NE(refused.error.find(path + " was deleted"), std::string::npos) << refused.error;
    EXPECT_NE(writer->refusal().find("was deleted"), std::string::npos) << writer->refusal();
    EXPECT_FALSE(writer->probeWrite().ok);
    EXPECT_FALSE(accounts->createAccount({"bob", "Bob", "hash", 1}, created).ok);
    std::uint64_t deleted = 0;
    EXPECT_FALSE(writer->pruneKeepLast(1, deleted).ok);
    // Reads go on from what this process still has open.
    std::vector<StoredMessage> got;
    ASSERT_TRUE(writer->after("r", 0, 100, got).ok);
    EXPECT_EQ(ids(got), iota(1, 8));

    EXPECT_FALSE(fs::exists(path));
    maintainer->maintain();  // the tick that saves it
    EXPECT_TRUE(fs::exists(path));
    EXPECT_FALSE(appendTo(*writer, range("r", 9, 9)).ok);  // still refused: until a restart
  }
  auto again = openStore("sqlite:" + path);
  std::vector<StoredMessage> got;
  ASSERT_TRUE(again->after("r", 0, 100, got).ok);
  EXPECT_EQ(fields(got), fields(range("r", 1, 8)));
  ASSERT_TRUE(again->after("side", 0, 100, got).ok);
  EXPECT_EQ(fields(got), fields({msg("side", 1, "bob", "hi", "c1")}));
  std::vector<Account> ann;
  ASSERT_TRUE(again->findAccounts("ann", ann).ok);
  EXPECT_EQ(ann.size(), 1u);
  EXPECT_TRUE(appendTo(*again, range("r", 9, 9)).ok);
  again.reset();
  fs::remove_all(dir);
}

// A log deleted alone (the database is still there): the very next append notices, without
// waiting for the maintainer.
TEST(SqliteFiles, ADeletedLogIsNoticedAtTheNextAppend) {
  const std::string dir = makeTempDir("parley-lost-");
  const std::string path = dir + "/parley.db";
  {
    auto writer = openStore("sqlite:" + path);
    ASSERT_TRUE(appendTo(*writer, range("r", 1, 2)).ok);
    fs::remove(path + "-inbox-0");
    const StoreStatus refused = appendTo(*writer, range("r", 3, 3));
    EXPECT_FALSE(refused.ok);
    EXPECT_NE(refused.error.find(path + "-inbox-0 was deleted"), std::string::npos)
        << refused.error;
  }  // closing moves what waits into the database, which is still the one at its path
  EXPECT_EQ(countRows(path, "SELECT count(*) FROM messages"), 2);
  for (const auto& e : fs::directory_iterator(dir))
    EXPECT_FALSE(e.path().filename().string().starts_with("parley.db.rescued-")) << e.path();
  auto again = openStore("sqlite:" + path);
  std::uint64_t last = 0;
  ASSERT_TRUE(again->lastId("r", last).ok);
  EXPECT_EQ(last, 2u);
  EXPECT_TRUE(appendTo(*again, range("r", 3, 3)).ok);
  again.reset();
  fs::remove_all(dir);
}

// Another file moved to the database's path: left as it is; the copy goes beside it. A server
// stopped before the maintainer's tick saves it on the way out.
TEST(SqliteFiles, AReplacedDatabaseIsLeftAloneAndTheCopyGoesBesideIt) {
  const std::string dir = makeTempDir("parley-lost-");
  const std::string path = dir + "/parley.db";
  {
    SqliteStore other(dir + "/other.db");
    ASSERT_TRUE(appendTo(other, range("other", 1, 1)).ok);
  }
  {
    auto writer = openStore("sqlite:" + path);
    ASSERT_TRUE(appendTo(*writer, range("r", 1, 3)).ok);
    fs::rename(dir + "/other.db", path);
    const StoreStatus refused = appendTo(*writer, range("r", 4, 4));
    EXPECT_FALSE(refused.ok);
    EXPECT_NE(refused.error.find("is another file now"), std::string::npos) << refused.error;
  }  // closed: no maintainer ran, so the inbox saves what it holds as it closes
  EXPECT_EQ(countRows(path, "SELECT count(*) FROM messages WHERE room = 'other'"), 1);
  EXPECT_EQ(countRows(path, "SELECT count(*) FROM messages WHERE room = 'r'"), 0);
  std::vector<std::string> rescued;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().starts_with("parley.db.rescued-"))
      rescued.push_back(e.path().string());
  ASSERT_EQ(rescued.size(), 1u);
  EXPECT_EQ(countRows(rescued[0], "SELECT count(*) FROM messages WHERE room = 'r'"), 3);
  // The lost database's WAL and logs went aside with it: the next start opens the other file
  // as it is, and recovers nothing of ours into it.
  EXPECT_FALSE(fs::exists(path + "-inbox-0"));
  auto next = openStore("sqlite:" + path);
  std::vector<StoredMessage> got;
  ASSERT_TRUE(next->after("r", 0, 10, got).ok);
  EXPECT_TRUE(got.empty());
  ASSERT_TRUE(next->after("other", 0, 10, got).ok);
  EXPECT_EQ(ids(got), iota(1, 1));
  next.reset();
  fs::remove_all(dir);
}

// The probe writes where appends go and takes it back: the log is as long as before, and a
// probe record that a crash left behind (id 0) is skipped by recovery.
TEST(SqliteFiles, AProbeLeavesNothingARecoveryWouldKeep) {
  const std::string dir = makeTempDir("parley-probe-");
  const std::string path = dir + "/parley.db";
  {
    auto store = openStore("sqlite:" + path);
    ASSERT_TRUE(appendTo(*store, range("r", 1, 2)).ok);
    const auto size = fs::file_size(path + "-inbox-0");
    ASSERT_TRUE(store->probeWrite().ok);
    EXPECT_EQ(fs::file_size(path + "-inbox-0"), size);
  }
  std::string log;
  SqliteInbox::encodeRecord(StoredMessage{}, log);
  SqliteInbox::encodeRecord(msg("r", 3), log);
  std::ofstream(path + "-inbox-0", std::ios::binary) << log;
  auto store = openStore("sqlite:" + path);
  std::vector<StoredMessage> got;
  ASSERT_TRUE(store->after("r", 0, 10, got).ok);
  EXPECT_EQ(ids(got), iota(1, 3));
  std::vector<RoomSummary> rooms;
  ASSERT_TRUE(store->rooms(10, rooms).ok);
  EXPECT_EQ(rooms.size(), 1u);
  store.reset();
  fs::remove_all(dir);
}

// --fsync: none never syncs the log; batch and always sync it once per append (one per group
// commit), and once per probe.
TEST(SqliteFiles, TheLogIsSyncedAsThePolicySays) {
  for (FsyncPolicy policy : {FsyncPolicy::None, FsyncPolicy::Batch, FsyncPolicy::Always}) {
    const std::string dir = makeTempDir("parley-fsync-");
    const std::string path = dir + "/parley.db";
    {
      StoreOptions options;
      options.fsync = policy;
      auto store = openStore("sqlite:" + path, options);
      auto inbox = SqliteInbox::forPath(path);  // the store's own: one per file and process
      ASSERT_TRUE(appendTo(*store, range("r", 1, 10)).ok);
      ASSERT_TRUE(appendTo(*store, range("r", 11, 11)).ok);
      ASSERT_TRUE(store->probeWrite().ok);
      EXPECT_EQ(inbox->syncs(), policy == FsyncPolicy::None ? 0u : 3u) << fsyncPolicyName(policy);
    }
    fs::remove_all(dir);
  }
}

// Checkpoints happen off the write path: the maintainer's connection copies the WAL into the
// database file by itself, and stops promptly.
TEST(SqliteWal, TheMaintainerCheckpointsInTheBackground) {
  const std::string dir = makeTempDir("parley-ckpt-");
  const std::string path = dir + "/parley.db";
  {
    auto writer = openStore("sqlite:" + path);
    std::vector<StoredMessage> batch;
    for (std::uint64_t id = 1; id <= 500; ++id)
      batch.push_back(msg("r", id, "u", std::string(500, 'x')));
    ASSERT_TRUE(appendTo(*writer, batch).ok);
    const auto before = fs::file_size(path);
    auto own = openStore("sqlite:" + path);
    ASSERT_TRUE(own->wantsMaintenance());
    StoreMaintainer maintainer(std::move(own), std::chrono::milliseconds(20));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    // Both: the file grows while a checkpoint is still copying, before its run is counted.
    while ((fs::file_size(path) < before + 200 * 1024 || maintainer.runs() < 1) &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_GE(fs::file_size(path), before + 200 * 1024) << "the WAL was not copied back";
    EXPECT_GE(maintainer.runs(), 1u);
  }
  fs::remove_all(dir);
}

TEST(OpenStore, UnreachablePostgresThrowsQuickly) {
  const auto started = Clock::now();
  try {
    openStore("postgresql://parley:pw@127.0.0.1:" + std::to_string(freeLoopbackPort()) +
              "/x?connect_timeout=2");
    ADD_FAILURE() << "connected to nothing";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("cannot connect"), std::string::npos) << what;
    EXPECT_EQ(what.find(":pw@"), std::string::npos) << what;
  }
  EXPECT_LT(Clock::now() - started, std::chrono::seconds(5));
}

// The server going away under a running store, and coming back.
class PostgresRecovery : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(pg().ensureRunning()) << pg().error();
    url_ = pg().createDatabase();
    ASSERT_FALSE(url_.empty()) << pg().error();
    store_ = openStore(url_);
    ASSERT_TRUE(appendTo(*store_, {msg("r", 1)}).ok);
  }
  void TearDown() override {
    store_.reset();
    if (pg().booted() && !pg().isUp()) {
      EXPECT_TRUE(pg().start()) << pg().error();  // leave it up for the rest
    }
  }
  static PostgresServer& pg() { return PostgresServer::instance(); }

  std::string url_;
  std::unique_ptr<StoreConnection> store_;
};

TEST_F(PostgresRecovery, NextCallAfterARestartSucceeds) {
  ASSERT_TRUE(pg().restart()) << pg().error();
  std::uint64_t id = 0;
  const StoreStatus st = store_->lastId("r", id);
  EXPECT_TRUE(st.ok) << st.error;
  EXPECT_EQ(id, 1u);
  ASSERT_TRUE(pg().restart()) << pg().error();
  EXPECT_TRUE(appendTo(*store_, {msg("r", 2)}).ok);  // an append is the first call this time
  EXPECT_TRUE(store_->lastId("r", id).ok);
  EXPECT_EQ(id, 2u);
}

TEST_F(PostgresRecovery, CallsFailFastWhileDownThenWorkAgain) {
  ASSERT_TRUE(pg().stop()) << pg().error();
  const auto started = Clock::now();
  const StoreStatus down = appendTo(*store_, {msg("r", 2)});
  EXPECT_FALSE(down.ok);
  EXPECT_FALSE(down.error.empty());
  EXPECT_EQ(down.error.find('\n'), std::string::npos) << down.error;
  std::uint64_t id = 0;
  EXPECT_FALSE(store_->lastId("r", id).ok);
  EXPECT_FALSE(store_->probeWrite().ok);
  std::vector<StoredMessage> page;
  EXPECT_FALSE(store_->after("r", 0, 10, page).ok);
  EXPECT_LT(Clock::now() - started, std::chrono::seconds(4));

  ASSERT_TRUE(pg().start()) << pg().error();
  const StoreStatus up = appendTo(*store_, {msg("r", 2)});
  EXPECT_TRUE(up.ok) << up.error;
  EXPECT_TRUE(store_->lastId("r", id).ok);
  EXPECT_EQ(id, 2u);
}

// The writer's health follows writes. With the database read-only (a session default), every
// append fails while SELECT 1 succeeds: the writer stays unhealthy (its probe is a write) until
// writes work again, then recovers with no traffic.
TEST_F(PostgresRecovery, TheWriterStaysUnhealthyWhileWritesFailThoughReadsSucceed) {
  const std::string name = url_.substr(url_.rfind('/') + 1, url_.find('?') - url_.rfind('/') - 1);
  auto admin = [&](const std::string& sql) {
    PGconn* c = PQconnectdb(pg().url("postgres").c_str());
    PGresult* r = PQexec(c, sql.c_str());
    const auto st = PQresultStatus(r);
    EXPECT_TRUE(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        << sql << ": " << PQerrorMessage(c);
    PQclear(r);
    PQfinish(c);
  };
  auto newSessions = [&] {  // the writer reconnects, and its new session takes the default
    admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" + name +
          "' AND application_name = 'parley'");
  };
  store_.reset();
  StoreWriter writer(openStore(url_), Retention{});
  auto send = [&](const char* content) {
    std::promise<std::pair<StoreStatus, std::uint64_t>> done;
    auto answer = done.get_future();
    std::vector<StoredMessage> one{msg("r", 0, "u", content)};
    writer.submit(std::move(one), [&done](const StoreStatus& s, std::vector<StoredMessage>&& m) {
      done.set_value({s, m.empty() ? 0 : m[0].id});
    });
    EXPECT_EQ(answer.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    return answer.get();
  };
  auto healthyWithin = [&](std::chrono::milliseconds wait) {
    const auto deadline = Clock::now() + wait;
    while (!writer.healthy() && Clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return writer.healthy();
  };
  EXPECT_EQ(send("two").second, 2u);
  EXPECT_TRUE(writer.healthy());

  admin("ALTER DATABASE " + name + " SET default_transaction_read_only = on");
  newSessions();
  EXPECT_FALSE(send("refused").first.ok);
  EXPECT_FALSE(writer.healthy());
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // two probes
  EXPECT_FALSE(writer.healthy());
  EXPECT_NE(writer.lastError().find("read-only"), std::string::npos) << writer.lastError();

  admin("ALTER DATABASE " + name + " RESET default_transaction_read_only");
  newSessions();
  EXPECT_TRUE(healthyWithin(std::chrono::seconds(5))) << writer.lastError();
  EXPECT_EQ(send("three").second, 3u);
}

TEST_F(PostgresRecovery, SurvivesItsSessionBeingKilled) {
  // The server ends our session (admin action, idle timeout, failover proxy) between calls.
  PGconn* c = PQconnectdb(url_.c_str());
  PGresult* r = PQexec(c,
                       "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                       "WHERE application_name = 'parley' AND datname = current_database()");
  ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << PQerrorMessage(c);
  EXPECT_STREQ(PQgetvalue(r, 0, 0), "1");
  PQclear(r);
  PQfinish(c);
  const StoreStatus st = appendTo(*store_, {msg("r", 2)});  // its prepared statements are gone too
  EXPECT_TRUE(st.ok) << st.error;
  std::vector<StoredMessage> page;
  EXPECT_TRUE(store_->after("r", 0, 10, page).ok);
  EXPECT_EQ(ids(page), iota(1, 2));
}

}  // namespace
}  // namespace parley::store

namespace parley::store {
namespace {

// Submits `messages` to `writer` and waits for the outcome.
std::pair<StoreStatus, std::vector<StoredMessage>> submitAndWait(
    StoreWriter& writer, std::vector<StoredMessage> messages) {
  std::promise<std::pair<StoreStatus, std::vector<StoredMessage>>> done;
  auto answer = done.get_future();
  writer.submit(std::move(messages), [&done](const StoreStatus& s, std::vector<StoredMessage>&& m) {
    done.set_value({s, std::move(m)});
  });
  return answer.get();
}

StoredMessage sent(std::string clientId, std::string content, std::int64_t at,
                   std::int64_t checkSince = 0) {
  StoredMessage m;
  m.room = "idem";
  m.username = "Ann";
  m.clientId = std::move(clientId);
  m.content = std::move(content);
  m.unixMillis = at;
  m.checkClientIdSince = checkSince;
  return m;
}

// A send the owner cannot vouch for (after a restart) is looked up in the store: a retry of one
// stored before gets the stored original back and uses no id; a new one is stored as usual.
TEST(StoreWriterIdempotency, ARetryAfterARestartIsAnsweredFromTheStoreAndStoredOnce) {
  const std::string dir = makeTempDir("parley-idem-");
  const std::string url = "sqlite:" + dir + "/parley.db";
  {
    StoreWriter before(openStore(url), Retention{});
    auto [status, stored] = submitAndWait(before, {sent("c-1", "hello", 1'000)});
    ASSERT_TRUE(status.ok) << status.error;
    ASSERT_EQ(stored[0].id, 1u);
    EXPECT_FALSE(stored[0].duplicate);
  }
  StoreWriter after(openStore(url), Retention{});
  auto [status, answered] =
      submitAndWait(after, {sent("c-1", "hello", 5'000, 500), sent("c-2", "new", 5'001, 500),
                            sent("c-1", "too old to match", 9'000, 2'000)});
  ASSERT_TRUE(status.ok) << status.error;
  ASSERT_EQ(answered.size(), 3u);
  EXPECT_TRUE(answered[0].duplicate);
  EXPECT_EQ(answered[0].id, 1u);
  EXPECT_EQ(answered[0].unixMillis, 1'000);  // the original's, not the retry's
  EXPECT_FALSE(answered[1].duplicate);
  EXPECT_EQ(answered[1].id, 2u);        // no id used up by the duplicate
  EXPECT_FALSE(answered[2].duplicate);  // the original is older than this one's window
  EXPECT_EQ(answered[2].id, 3u);
  std::vector<StoredMessage> all;
  auto reader = openStore(url);
  ASSERT_TRUE(reader->after("idem", 0, 10, all).ok);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].content, "hello");
  EXPECT_EQ(all[1].content, "new");
  fs::remove_all(dir);
}

// Registered rooms (private rooms, direct messages, bans) round-trip through the store: created
// once, members added, re-roled and removed, a ban taking the member out in the same transaction,
// a lifted ban; everything there again after a reopen.
TEST_P(StoreTest, RegisteredRoomsKeepMembersRolesAndBans) {
  RegisteredRoom team;
  team.room = "team";
  team.isPrivate = true;
  team.createdMillis = 1'000;
  team.members = {{"alice", "Alice", RoomRole::Owner}};
  bool created = false;
  ASSERT_TRUE(store().createRoom(team, created).ok);
  EXPECT_TRUE(created);
  RegisteredRoom again = team;
  again.isPrivate = false;
  again.members = {{"mallory", "Mallory", RoomRole::Owner}};
  ASSERT_TRUE(store().createRoom(again, created).ok);
  EXPECT_FALSE(created);  // taken: nothing of the second is kept
  ASSERT_TRUE(store().putMember("team", {"bob", "Bob", RoomRole::Member}).ok);
  ASSERT_TRUE(store().putMember("team", {"bob", "Bob", RoomRole::Admin}).ok);  // a new role
  ASSERT_TRUE(store().putMember("team", {"eve", "Eve", RoomRole::Member}).ok);
  ASSERT_TRUE(store().putMember("team", {"carol", "Carol", RoomRole::Member}).ok);
  ASSERT_TRUE(store().removeMember("team", "carol").ok);
  ASSERT_TRUE(store().putBan("team", {"eve", "Eve", 2'000}).ok);      // and out of the members
  ASSERT_TRUE(store().putBan("team", {"trent", "Trent", 3'000}).ok);  // never a member
  ASSERT_TRUE(store().removeBan("team", "trent").ok);
  RegisteredRoom dm;
  dm.room = "dm.0123456789abcdef0123456789abcdef";
  dm.isPrivate = dm.direct = true;
  dm.createdMillis = 4'000;
  dm.members = {{"alice", "Alice", RoomRole::Member}, {"bob", "Bob", RoomRole::Member}};
  ASSERT_TRUE(store().createRoom(dm, created).ok);
  EXPECT_TRUE(created);

  RegisteredRoom expectTeam = team;
  expectTeam.members = {{"alice", "Alice", RoomRole::Owner}, {"bob", "Bob", RoomRole::Admin}};
  expectTeam.bans = {{"eve", "Eve", 2'000}};
  const std::vector<RegisteredRoom> expected{dm, expectTeam};  // by name
  std::vector<RegisteredRoom> loaded;
  ASSERT_TRUE(store().loadRooms(loaded).ok);
  EXPECT_EQ(loaded, expected);
  reopen();
  ASSERT_TRUE(store().loadRooms(loaded).ok);
  EXPECT_EQ(loaded, expected);
}

// A database of the schema before registered rooms (SQLite 5, PostgreSQL 4) gets their tables on
// open, its messages and accounts untouched.
TEST_P(StoreTest, SchemaBeforeRegisteredRoomsGetsTheirTables) {
  const StoredMessage m{1, "general", "Alice", "hi", "", 1'000};
  ASSERT_TRUE(store().append(std::span(&m, 1)).ok);
  bool created = false;
  ASSERT_TRUE(store().createAccount(account("alice"), created).ok);
  store_.reset();
  const bool sqlite = GetParam() == Backend::Sqlite;
  rawExec(std::string("DROP TABLE room_bans; DROP TABLE room_members; DROP TABLE room_access; ") +
          (sqlite ? "UPDATE schema_version SET version = 5;"
                  : "UPDATE schema_version SET version = 4;"));
  std::vector<RegisteredRoom> loaded;
  ASSERT_TRUE(store().loadRooms(loaded).ok);
  EXPECT_TRUE(loaded.empty());
  EXPECT_EQ(query("SELECT version FROM schema_version"), std::to_string(knownVersion()));
  std::vector<StoredMessage> page;
  ASSERT_TRUE(store().after("general", 0, 10, page).ok);
  EXPECT_EQ(page.size(), 1u);
  std::vector<Account> found;
  ASSERT_TRUE(store().findAccounts(accountKey("alice"), found).ok);
  EXPECT_EQ(found.size(), 1u);
  RegisteredRoom r;
  r.room = "x";
  r.members = {{"alice", "alice", RoomRole::Owner}};
  ASSERT_TRUE(store().createRoom(r, created).ok);
  EXPECT_TRUE(created);
}

}  // namespace
}  // namespace parley::store

namespace parley::store {
namespace {

std::vector<StoredMessage> wave(std::size_t n, const std::string& tag) {
  std::vector<StoredMessage> messages;
  for (std::size_t i = 0; i < n; ++i) messages.push_back(sent("", tag + std::to_string(i), 1'000));
  return messages;
}

// Submits `messages`; the future is ready once they are committed.
std::future<StoreStatus> submitAsync(StoreWriter& writer, std::vector<StoredMessage> messages) {
  auto done = std::make_shared<std::promise<StoreStatus>>();
  auto answer = done->get_future();
  writer.submit(std::move(messages),
                [done](const StoreStatus& s, std::vector<StoredMessage>&&) { done->set_value(s); });
  return answer;
}

// The linger is long here (seconds) so that what the test sees is the rule, not the timing: a
// wait cut short by the wave, or the whole linger.
constexpr auto kLongLinger = std::chrono::milliseconds(5000);
constexpr auto kWellBeforeTheLinger = std::chrono::milliseconds(4000);
constexpr auto kAMoment = std::chrono::milliseconds(150);

// After a large commit, a share of the next wave waits for the rest of it (up to the linger):
// the two shares commit together, as soon as the wave is whole.
TEST(StoreWriterLinger, AShareOfAWaveWaitsForTheRestAndCommitsWithIt) {
  const std::string dir = makeTempDir("parley-linger-");
  {
    StoreWriter writer(openStore("sqlite:" + dir + "/parley.db"), Retention{}, kLongLinger);
    ASSERT_TRUE(submitAndWait(writer, wave(40, "first ")).first.ok);  // no history: at once
    auto share = submitAsync(writer, wave(16, "a "));
    EXPECT_EQ(share.wait_for(kAMoment), std::future_status::timeout) << "committed before the wave";
    auto rest = submitAsync(writer, wave(24, "b "));
    ASSERT_EQ(share.wait_for(kWellBeforeTheLinger), std::future_status::ready);
    ASSERT_EQ(rest.wait_for(kWellBeforeTheLinger), std::future_status::ready);
    EXPECT_TRUE(share.get().ok);
    EXPECT_TRUE(rest.get().ok);
    EXPECT_EQ(writer.committed(), 80u);
  }  // the writers stop before their files go
  fs::remove_all(dir);
}

// Light traffic (commits under the threshold) never lingers, and a wave that comes whole (one
// instance, a single server) does not wait either.
TEST(StoreWriterLinger, LightTrafficAndWholeWavesNeverWait) {
  const std::string dir = makeTempDir("parley-linger-");
  {
    StoreWriter writer(openStore("sqlite:" + dir + "/parley.db"), Retention{}, kLongLinger);
    for (int i = 0; i < 5; ++i)
      EXPECT_EQ(submitAsync(writer, wave(3, "light ")).wait_for(kWellBeforeTheLinger),
                std::future_status::ready);
    for (int i = 0; i < 3; ++i)
      EXPECT_EQ(submitAsync(writer, wave(60, "whole ")).wait_for(kWellBeforeTheLinger),
                std::future_status::ready);
    EXPECT_EQ(writer.committed(), 195u);
  }  // the writers stop before their files go
  fs::remove_all(dir);
}

// A wave that never fills (fewer senders now) is waited out once: the wait that ran out forgets
// the large commits, and the next ones commit at once; zero linger (a single server's default)
// never waits.
TEST(StoreWriterLinger, AShrunkenWaveWaitsOutTheLingerThenStopsWaiting) {
  const std::string dir = makeTempDir("parley-linger-");
  {
    const auto linger = std::chrono::milliseconds(1000);
    StoreWriter writer(openStore("sqlite:" + dir + "/parley.db"), Retention{}, linger);
    ASSERT_TRUE(submitAndWait(writer, wave(40, "big ")).first.ok);
    int waitedOut = 0;
    for (int i = 0; i < 8; ++i) {
      auto small = submitAsync(writer, wave(5, "small "));
      if (small.wait_for(linger / 2) == std::future_status::timeout) ++waitedOut;
      ASSERT_EQ(small.wait_for(kWellBeforeTheLinger), std::future_status::ready);
    }
    EXPECT_EQ(waitedOut, 1);

    StoreWriter never(openStore("sqlite:" + dir + "/other.db"), Retention{});
    ASSERT_TRUE(submitAndWait(never, wave(40, "big ")).first.ok);
    EXPECT_EQ(submitAsync(never, wave(5, "small ")).wait_for(kWellBeforeTheLinger),
              std::future_status::ready);
  }  // the writers stop before their files go
  fs::remove_all(dir);
}

}  // namespace
}  // namespace parley::store
