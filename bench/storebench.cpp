// storebench — how fast Parley's message store makes chat messages durable (see bench/README.md).
//
//   storebench --db sqlite:/tmp/x.db            (a fresh file: created, measured, deleted)
//   storebench --db postgres://user@127.0.0.1:5432/scratch
//   storebench                                   (a fresh SQLite file in a temp dir)
//   storebench --fsync none|batch|always         (SQLite: when the inbox log is synced)
//
// Two kinds of case, each measured for --seconds (3) of wall time after --warmup (0.5) s of the
// same load, unmeasured:
//   append batch=B   one thread, one connection, MessageStore::append() of B messages at a time as
//                    fast as it returns: the raw cost of a transaction and of a message in it.
//   writer P=N W=W   StoreWriter (the server's one writer thread, group commit) fed by N producer
//                    threads, each submitting single-message batches and keeping at most W of them
//                    unacknowledged: messages/s, submit -> done latency, and how many messages
//                    each commit carried (read from StoreWriter::committed() in the callbacks:
//                    every callback of one commit sees the same value, the next commit a larger
//                    one).
// Messages: --size (140) bytes of content, rooms picked pseudo-randomly (fixed seed) among --rooms
// (100) names "<prefix><k>", ids continuing each room's sequence (read from the store first, so
// an existing database is fine). Prints a table and one JSON line on stdout.
//
// Always bounded: every case stops at its deadline, in-flight messages get at most --drain s, and a
// watchdog ends the process (after deleting its temp files) at --timeout. Exit status: 0 ok, 1 a
// store error / timeout / interrupt, 2 bad usage.
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "flags.h"
#include "histogram.h"
#include "store/StoreConnection.h"
#include "store/StoreWriter.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define STOREBENCH_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define STOREBENCH_SANITIZED 1
#endif
#endif
#ifndef STOREBENCH_SANITIZED
#define STOREBENCH_SANITIZED 0
#endif

namespace {

using parley::store::MessageStore;
using parley::store::StoredMessage;
using parley::store::StoreStatus;
using parley::store::StoreWriter;

using ns_t = std::int64_t;
constexpr ns_t kSec = 1'000'000'000;

ns_t mono_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<ns_t>(ts.tv_sec) * kSec + ts.tv_nsec;
}

std::int64_t unix_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

volatile sig_atomic_t g_signal = 0;
void on_signal(int sig) { g_signal = sig; }
bool interrupted() { return g_signal != 0; }

// ---------------------------------------------------------------------------------------------
// Temp files: what this process created and must delete, set once before any case runs (the
// watchdog reads it from its own thread, so it is never modified afterwards).

struct Cleanup {
  std::vector<std::string> files;  // unlinked if present
  std::vector<std::string> dirs;   // rmdir'ed (only if empty), deepest first
};
Cleanup g_cleanup;

void cleanup_files() {
  for (const auto& f : g_cleanup.files) ::unlink(f.c_str());
  for (const auto& d : g_cleanup.dirs) ::rmdir(d.c_str());
}

[[noreturn]] void die(int code, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::fprintf(stderr, "storebench: ");
  std::vfprintf(stderr, fmt, ap);
  std::fprintf(stderr, "\n");
  va_end(ap);
  cleanup_files();
  std::fflush(nullptr);
  std::_Exit(code);
}

// ---------------------------------------------------------------------------------------------
// Options

struct Options {
  std::string db;  // empty: a fresh SQLite file in a temp dir
  double seconds = 3;
  double warmup = 0.5;
  int window = 64;
  std::vector<int> batches{1, 10, 100};
  std::vector<int> producers{1, 4};
  int rooms = 100;
  int size = 140;
  bool client_ids = false;
  bool keep = false;
  double drain = 30;
  double timeout = 0;  // 0: derived from the cases
  std::string room_prefix;
  std::string label;
  std::string fsync = "batch";  // SQLite: the server's --fsync
};

Options parse_args(int argc, char** argv) {
  Options o;
  CLI::App app{
      "storebench: how fast Parley's message store makes chat messages durable "
      "(bench/README.md).",
      "storebench"};
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);  // as it always was
  app.get_formatter()->column_width(34);
  app.footer(
      "PostgreSQL rows are not deleted: point it at a scratch database (bench/store-run.sh does).");
  using flags::integer, flags::real;
  app.add_option("--db", o.db,
                 "sqlite:PATH or postgres://user[:pass]@host:port/db (default: a fresh\n"
                 "SQLite file in a temp dir). A sqlite PATH must not exist (it is\n"
                 "created, measured and deleted) unless --keep is given.")
      ->type_name("URL");
  app.add_option("--seconds", o.seconds, "measured wall time of each case (3)")
      ->type_name("S")
      ->check(real(0.1, 3600));
  app.add_option("--warmup", o.warmup,
                 "before each case's measured time, the same load unmeasured (0.5)")
      ->type_name("S")
      ->check(real(0, 3600));
  flags::add_list(app, "--batches", o.batches, 1, 100'000,
                  "append() batch sizes, comma-separated (1,10,100); empty: none");
  flags::add_list(app, "--producers", o.producers, 1, 256,
                  "StoreWriter producer thread counts (1,4); empty: none");
  app.add_option("--window", o.window, "unacknowledged messages per producer (64)")
      ->type_name("W")
      ->transform(integer(1, 1'000'000));
  app.add_option("--rooms", o.rooms, "room names messages are spread over (100)")
      ->type_name("N")
      ->transform(integer(1, 1'000'000));
  app.add_option("--size", o.size, "content size (140)")
      ->type_name("BYTES")
      ->transform(integer(1, 1 << 20));
  app.add_flag("--client-ids", o.client_ids,
               "give every message a client id (exercises that index)");
  app.add_option("--room-prefix", o.room_prefix, "room names are STR<k> (sb<pid>.)")
      ->type_name("STR");
  app.add_flag("--keep", o.keep, "use an existing SQLite file and keep it (and keep a new one)");
  app.add_option("--drain", o.drain,
                 "after a writer case, wait at most S for in-flight messages (30)")
      ->type_name("S")
      ->check(real(1, 3600));
  app.add_option("--timeout", o.timeout,
                 "hard limit for the whole run\n"
                 "(default: cases x (warmup + seconds + 10) + 60)")
      ->type_name("S")
      ->check(real(1, 86400));
  app.add_option("--label", o.label, "copied into the output")->type_name("TEXT");
  app.add_option("--fsync", o.fsync,
                 "SQLite: when the inbox log is synced, as the server's --fsync: none, batch\n"
                 "(one fdatasync per append call, i.e. per group commit) or always (batch,\n"
                 "and every SQLite transaction synced) (batch)")
      ->type_name("POLICY")
      ->check(CLI::IsMember({"none", "batch", "always"}));
  if (const std::string err = flags::parse(app, argc, argv); !err.empty())
    die(2, "%s", err.c_str());
  if (o.batches.empty() && o.producers.empty()) die(2, "nothing to measure");
  if (o.room_prefix.empty()) o.room_prefix = "sb" + std::to_string(getpid()) + ".";
  return o;
}

// postgres://user:secret@host/db -> postgres://user:***@host/db (never print a password).
std::string redact(const std::string& url) {
  const auto scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  const auto at = url.find('@', scheme + 3);
  if (at == std::string::npos) return url;
  const auto colon = url.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// Decides the store URL and what to delete afterwards. Runs before anything is created.
std::string prepare_db(Options& o) {
  if (o.db.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/storebench-XXXXXX";
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    if (!::mkdtemp(buf.data())) die(1, "mkdtemp %s: %s", templ.c_str(), std::strerror(errno));
    const std::string dir = buf.data();
    const std::string path = dir + "/store.db";
    g_cleanup.files = {path,
                       path + "-wal",
                       path + "-shm",
                       path + "-journal",
                       path + "-inbox-0",
                       path + "-inbox-1"};
    g_cleanup.dirs = {dir};
    return "sqlite:" + path;
  }
  if (o.db.rfind("sqlite:", 0) == 0) {
    const std::string path = o.db.substr(7);
    if (path.empty()) die(2, "--db sqlite: needs a path");
    if (path == ":memory:") return o.db;
    if (exists(path)) {
      if (!o.keep)
        die(2,
            "%s exists: storebench measures a fresh file and deletes it afterwards (--keep to "
            "use an existing file and keep it)",
            path.c_str());
      return o.db;
    }
    if (exists(path + "-wal") && !o.keep) die(2, "%s-wal exists: not a fresh store", path.c_str());
    if (!o.keep) {
      g_cleanup.files = {path,
                         path + "-wal",
                         path + "-shm",
                         path + "-journal",
                         path + "-inbox-0",
                         path + "-inbox-1"};
      // Parent directories openStore() is about to create: removed too (when left empty).
      std::string dir = path;
      while (true) {
        const auto slash = dir.find_last_of('/');
        if (slash == std::string::npos || slash == 0) break;
        dir.resize(slash);
        if (exists(dir)) break;
        g_cleanup.dirs.push_back(dir);
      }
    }
    return o.db;
  }
  if (o.db.rfind("postgres://", 0) == 0 || o.db.rfind("postgresql://", 0) == 0) return o.db;
  die(2, "--db must be sqlite:PATH or postgres://...: %s", o.db.c_str());
}

// ---------------------------------------------------------------------------------------------
// Measurement helpers

double self_cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// Whole machine, all CPUs: busy and total jiffies (busy = everything but idle and iowait).
struct MachineTimes {
  unsigned long long busy = 0, total = 0, iowait = 0;
};
MachineTimes read_machine() {
  MachineTimes t;
  std::ifstream f("/proc/stat");
  std::string cpu;
  unsigned long long v[10] = {};
  if (!(f >> cpu) || cpu != "cpu") return t;
  for (auto& x : v) f >> x;
  // user nice system idle iowait irq softirq steal guest guest_nice (guest is inside user)
  for (int k = 0; k < 8; ++k) t.total += v[k];
  t.iowait = v[4];
  t.busy = t.total - v[3] - v[4];
  return t;
}
double pct(unsigned long long part, unsigned long long whole) {
  return whole ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0.0;
}

std::string loadavg() {
  std::ifstream f("/proc/loadavg");
  double a = 0, b = 0, c = 0;
  if (!(f >> a >> b >> c)) return "?";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f %.2f %.2f", a, b, c);
  return buf;
}

// Deterministic, cheap, thread-local: xorshift64*.
struct Rng {
  std::uint64_t s;
  explicit Rng(std::uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull | 1) {}
  std::uint64_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545F4914F6CDD1Dull;
  }
  int below(int n) { return static_cast<int>(next() % static_cast<std::uint64_t>(n)); }
};

struct Workload {
  std::vector<std::string> rooms;
  std::vector<std::string> users;
  int size = 140;
  bool client_ids = false;
};

// Fills `m` (not its id) with room `room`; `seq` makes content and client id unique.
void fill(StoredMessage& m, const Workload& w, int room, std::uint64_t seq) {
  m.room = w.rooms[static_cast<size_t>(room)];
  m.username = w.users[seq % w.users.size()];
  char head[48];
  const int n =
      std::snprintf(head, sizeof head, "storebench %llu ", static_cast<unsigned long long>(seq));
  m.content.assign(head, static_cast<size_t>(std::min(n, w.size)));
  m.content.resize(static_cast<size_t>(w.size), 'x');
  if (w.client_ids) m.clientId = "sb-" + std::to_string(seq);
  m.unixMillis = unix_ms();
}

struct CaseResult {
  std::string name;  // "append batch=10", "writer P=4 W=64"
  std::string kind;  // "append" / "writer"
  int batch = 0, producers = 0, window = 0;
  double seconds = 0;                   // measured wall time
  std::uint64_t msgs = 0;               // persisted (acknowledged) in the measured time
  std::uint64_t txns = 0;               // transactions (append calls / writer commits)
  std::uint64_t txn_max = 0;            // writer: largest commit, messages
  LogLinearHistogram lat;               // ns: per append() call / per message submit -> done
  double cpu_s = 0;                     // this process, all threads
  double busy_pct = 0, iowait_pct = 0;  // the whole machine, all CPUs
};

// ---------------------------------------------------------------------------------------------
// Case 1: MessageStore::append() directly.

CaseResult run_append(MessageStore& store, const Workload& w, std::vector<std::uint64_t>& last,
                      int batch, double warmup, double seconds, std::uint64_t& seq) {
  CaseResult r;
  r.kind = "append";
  r.batch = batch;
  r.name = "append batch=" + std::to_string(batch);
  Rng rng(static_cast<std::uint64_t>(batch) + 1);
  std::vector<StoredMessage> buf(static_cast<size_t>(batch));
  auto one = [&]() -> ns_t {  // one append() call; returns its duration
    for (auto& m : buf) {
      const int room = rng.below(static_cast<int>(w.rooms.size()));
      fill(m, w, room, ++seq);
      m.id = ++last[static_cast<size_t>(room)];
    }
    const ns_t t0 = mono_ns();
    const StoreStatus s = store.append(buf);
    const ns_t t1 = mono_ns();
    if (!s.ok) die(1, "%s: append failed: %s", r.name.c_str(), s.error.c_str());
    return t1 - t0;
  };
  for (const ns_t until = mono_ns() + static_cast<ns_t>(warmup * kSec);
       mono_ns() < until && !interrupted();)
    one();
  const double cpu0 = self_cpu_seconds();
  const MachineTimes m0 = read_machine();
  const ns_t start = mono_ns();
  const ns_t deadline = start + static_cast<ns_t>(seconds * kSec);
  ns_t now = start;
  while (now < deadline && !interrupted()) {
    r.lat.record(static_cast<std::uint64_t>(one()));
    now = mono_ns();
    r.msgs += static_cast<std::uint64_t>(batch);
    ++r.txns;
  }
  r.seconds = static_cast<double>(now - start) / kSec;
  r.cpu_s = self_cpu_seconds() - cpu0;
  const MachineTimes m1 = read_machine();
  r.busy_pct = pct(m1.busy - m0.busy, m1.total - m0.total);
  r.iowait_pct = pct(m1.iowait - m0.iowait, m1.total - m0.total);
  r.txn_max = static_cast<std::uint64_t>(batch);
  return r;
}

// ---------------------------------------------------------------------------------------------
// Case 2: StoreWriter with P producers, window W each.

struct Producer {
  std::mutex m;
  std::condition_variable cv;
  int outstanding = 0;
};

CaseResult run_writer(const std::string& url, const parley::store::StoreOptions& options,
                      const Workload& w, int producers, int window, double warmup, double seconds,
                      double drain) {
  CaseResult r;
  r.kind = "writer";
  r.producers = producers;
  r.window = window;
  r.name = "writer P=" + std::to_string(producers) + " W=" + std::to_string(window);

  std::vector<std::unique_ptr<Producer>> prods;
  for (int p = 0; p < producers; ++p) prods.push_back(std::make_unique<Producer>());
  std::atomic<bool> failed{false};
  std::mutex error_mutex;
  std::string error;

  // Touched by the writer thread only (in callbacks) until the writer is destroyed.
  // Measured: commits whose first callback comes in [measure_from, deadline]. Set before the
  // producers start (thread creation orders it before every submit, hence every callback).
  ns_t measure_from = 0, deadline = 0;
  std::uint64_t last_committed = 0, group = 0;
  bool group_measured = false;

  std::unique_ptr<StoreWriter> writer;
  try {
    writer = std::make_unique<StoreWriter>(parley::store::openStore(url, options),
                                           parley::store::Retention{});
  } catch (const std::exception& e) {
    die(1, "%s: cannot open the store: %s", r.name.c_str(), e.what());
  }
  StoreWriter* wr = writer.get();

  // Priming: one message per room, so the writer has read every room's last id (one query per
  // room, in its first commit) before the clock starts. Not measured.
  {
    std::vector<StoredMessage> prime(w.rooms.size());
    for (size_t k = 0; k < prime.size(); ++k) fill(prime[k], w, static_cast<int>(k), k);
    std::mutex pm;
    std::condition_variable pcv;
    bool done = false;
    StoreStatus status;
    wr->submit(std::move(prime), [&](const StoreStatus& s, std::vector<StoredMessage>&&) {
      std::lock_guard l(pm);
      status = s;
      done = true;
      pcv.notify_one();
    });
    std::unique_lock l(pm);
    if (!pcv.wait_for(l, std::chrono::duration<double>(drain), [&] { return done; }))
      die(1, "%s: the priming commit did not finish within %g s", r.name.c_str(), drain);
    if (!status.ok) die(1, "%s: store error: %s", r.name.c_str(), status.error.c_str());
  }
  last_committed = wr->committed();

  auto on_done = [&, wr](Producer* p, ns_t t0, const StoreStatus& s) {
    const ns_t t = mono_ns();
    if (!s.ok) {
      std::lock_guard l(error_mutex);
      if (error.empty()) error = s.error;
      failed = true;
    } else {
      // Every callback of one commit sees the same committed(); the next commit a larger one.
      const std::uint64_t c = wr->committed();
      if (c != last_committed) {
        if (group_measured) {
          ++r.txns;
          r.txn_max = std::max(r.txn_max, group);
        }
        last_committed = c;
        group = 0;
        group_measured = t >= measure_from && t <= deadline;  // by its first callback
      }
      ++group;
      if (group_measured) {
        r.lat.record(static_cast<std::uint64_t>(t - t0));
        ++r.msgs;
      }
    }
    std::lock_guard l(p->m);
    --p->outstanding;
    p->cv.notify_one();
  };

  const ns_t t_begin = mono_ns();
  const ns_t t_start = t_begin + static_cast<ns_t>(warmup * kSec);  // end of the warmup
  const ns_t t_deadline = t_start + static_cast<ns_t>(seconds * kSec);
  measure_from = t_start;
  deadline = t_deadline;
  const auto deadline_tp =
      std::chrono::steady_clock::now() + std::chrono::nanoseconds(t_deadline - t_begin);

  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      Producer* me = prods[static_cast<size_t>(p)].get();
      Rng rng(1000 + static_cast<std::uint64_t>(p));
      std::uint64_t seq = (static_cast<std::uint64_t>(p) + 1) << 40;
      while (!interrupted() && !failed) {
        {
          std::unique_lock l(me->m);
          if (!me->cv.wait_until(l, deadline_tp,
                                 [&] { return me->outstanding < window || failed; }))
            break;
          if (failed) break;
          ++me->outstanding;
        }
        if (mono_ns() >= t_deadline) {
          std::lock_guard l(me->m);
          --me->outstanding;
          break;
        }
        std::vector<StoredMessage> one(1);
        fill(one[0], w, rng.below(static_cast<int>(w.rooms.size())), ++seq);
        const ns_t t0 = mono_ns();
        wr->submit(std::move(one),
                   [&on_done, me, t0](const StoreStatus& s, std::vector<StoredMessage>&&) {
                     on_done(me, t0, s);
                   });
      }
    });
  }
  // CPU and machine figures from the end of the warmup (the callbacks use the same boundary).
  while (mono_ns() < t_start && !interrupted() && !failed)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const double cpu0 = self_cpu_seconds();
  const MachineTimes m0 = read_machine();
  for (auto& t : threads) t.join();
  const ns_t t_end = mono_ns();  // the deadline, or earlier when interrupted or failed

  // Drain: everything submitted gets its callback (committed or refused) before the writer goes.
  const auto drain_tp =
      std::chrono::steady_clock::now() +
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(drain));
  for (auto& p : prods) {
    std::unique_lock l(p->m);
    if (!p->cv.wait_until(l, drain_tp, [&] { return p->outstanding == 0; }))
      die(1, "%s: %d messages still unacknowledged %g s after the deadline (store stuck?)",
          r.name.c_str(), p->outstanding, drain);
  }
  writer.reset();  // joins the writer thread: its writes to r are visible from here on
  if (group_measured) {
    ++r.txns;
    r.txn_max = std::max(r.txn_max, group);
  }
  r.seconds = static_cast<double>(std::max<ns_t>(0, std::min(t_end, t_deadline) - t_start)) / kSec;
  r.cpu_s = self_cpu_seconds() - cpu0;
  const MachineTimes m1 = read_machine();
  r.busy_pct = pct(m1.busy - m0.busy, m1.total - m0.total);
  r.iowait_pct = pct(m1.iowait - m0.iowait, m1.total - m0.total);
  if (failed) die(1, "%s: store error: %s", r.name.c_str(), error.c_str());
  return r;
}

// ---------------------------------------------------------------------------------------------
// Output

std::string json_str(std::string_view s) {
  std::string o = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      o += '\\';
      o += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", c);
      o += b;
    } else {
      o += c;
    }
  }
  return o + "\"";
}
std::string num(double v, int decimals = 3) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", decimals, v);
  return b;
}
double ms(std::uint64_t ns) { return static_cast<double>(ns) / 1e6; }
double per_s(std::uint64_t n, double s) { return s > 0 ? static_cast<double>(n) / s : 0; }

void print_table(const std::vector<CaseResult>& cases) {
  std::printf("%-18s %9s %8s %9s %8s %8s %8s %10s %6s %6s %7s\n", "case", "msgs/s", "txn/s",
              "msgs/txn", "p50 ms", "p99 ms", "max ms", "CPU µs/msg", "CPU %", "busy %", "iowait%");
  for (const auto& c : cases) {
    std::printf("%-18s %9.0f %8.0f %9.1f %8.3f %8.3f %8.2f %10.1f %6.0f %6.0f %7.0f\n",
                c.name.c_str(), per_s(c.msgs, c.seconds), per_s(c.txns, c.seconds),
                c.txns ? static_cast<double>(c.msgs) / static_cast<double>(c.txns) : 0.0,
                ms(c.lat.quantile(0.5)), ms(c.lat.quantile(0.99)), ms(c.lat.max()),
                c.msgs ? c.cpu_s * 1e6 / static_cast<double>(c.msgs) : 0.0,
                c.seconds > 0 ? 100.0 * c.cpu_s / c.seconds : 0.0, c.busy_pct, c.iowait_pct);
  }
}

std::string case_json(const CaseResult& c) {
  std::string j = "{\"case\":" + json_str(c.name) + ",\"kind\":" + json_str(c.kind);
  if (c.kind == "append") j += ",\"batch\":" + std::to_string(c.batch);
  if (c.kind == "writer")
    j +=
        ",\"producers\":" + std::to_string(c.producers) + ",\"window\":" + std::to_string(c.window);
  j += ",\"seconds\":" + num(c.seconds) + ",\"msgs\":" + std::to_string(c.msgs) +
       ",\"txns\":" + std::to_string(c.txns) +
       ",\"msgs_per_s\":" + num(per_s(c.msgs, c.seconds), 1) +
       ",\"txns_per_s\":" + num(per_s(c.txns, c.seconds), 1) + ",\"msgs_per_txn\":" +
       num(c.txns ? static_cast<double>(c.msgs) / static_cast<double>(c.txns) : 0.0, 2) +
       ",\"txn_max_msgs\":" + std::to_string(c.txn_max) +
       ",\"lat_what\":" + json_str(c.kind == "append" ? "append() call" : "submit to done") +
       ",\"lat_p50_us\":" + num(static_cast<double>(c.lat.quantile(0.5)) / 1e3, 1) +
       ",\"lat_p99_us\":" + num(static_cast<double>(c.lat.quantile(0.99)) / 1e3, 1) +
       ",\"lat_max_us\":" + num(static_cast<double>(c.lat.max()) / 1e3, 1) +
       ",\"lat_mean_us\":" + num(c.lat.mean() / 1e3, 1) + ",\"cpu_s\":" + num(c.cpu_s) +
       ",\"cpu_us_per_msg\":" + num(c.msgs ? c.cpu_s * 1e6 / static_cast<double>(c.msgs) : 0.0, 2) +
       ",\"machine_busy_pct\":" + num(c.busy_pct, 1) +
       ",\"machine_iowait_pct\":" + num(c.iowait_pct, 1) + "}";
  return j;
}

// ---------------------------------------------------------------------------------------------

struct Watchdog {
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  std::thread t;
  explicit Watchdog(double seconds) {
    t = std::thread([this, seconds] {
      std::unique_lock l(m);
      if (!cv.wait_for(l, std::chrono::duration<double>(seconds), [this] { return done; }))
        die(1, "timed out after %g s (--timeout): giving up", seconds);
    });
  }
  ~Watchdog() {
    {
      std::lock_guard l(m);
      done = true;
    }
    cv.notify_one();
    t.join();
  }
};

}  // namespace

int main(int argc, char** argv) {
  Options o = parse_args(argc, argv);
  const std::string url = prepare_db(o);
  parley::store::StoreOptions options;
  options.fsync = parley::store::parseFsyncPolicy(o.fsync).value_or(options.fsync);
  const std::string shown = redact(url);

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);

  const size_t ncases = o.batches.size() + o.producers.size();
  const double budget =
      o.timeout > 0 ? o.timeout : static_cast<double>(ncases) * (o.warmup + o.seconds + 10) + 60;
  Watchdog watchdog(budget);

  Workload w;
  w.size = o.size;
  w.client_ids = o.client_ids;
  for (int k = 0; k < o.rooms; ++k) w.rooms.push_back(o.room_prefix + std::to_string(k));
  for (int k = 0; k < 1000; ++k) w.users.push_back("user" + std::to_string(k));

  const std::string load_start = loadavg();
  const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  std::vector<CaseResult> cases;
  std::string kind;
  {
    std::unique_ptr<parley::store::StoreConnection> store;
    try {
      store = parley::store::openStore(url, options);
    } catch (const std::exception& e) {
      die(1, "cannot open the store %s: %s", shown.c_str(), e.what());
    }
    kind = std::string(store->kind());
    std::printf("storebench  %s  %s%s%s\n", kind.c_str(), shown.c_str(),
                kind == "sqlite" ? "  fsync " : "", kind == "sqlite" ? o.fsync.c_str() : "");
    std::printf(
        "  %g s per case (after %g s warmup), content %d B, %d rooms (%s0..), %s, window %d per "
        "producer%s%s\n",
        o.seconds, o.warmup, o.size, o.rooms, o.room_prefix.c_str(),
        o.client_ids ? "client ids" : "no client ids", o.window, o.label.empty() ? "" : ", label ",
        o.label.c_str());
    std::printf("  machine: %ld CPUs, load average %s at start%s\n", cpus, load_start.c_str(),
                STOREBENCH_SANITIZED ? "  ** SANITIZED BUILD: figures not representative **" : "");
    std::fflush(stdout);

    if (!o.batches.empty()) {
      std::vector<std::uint64_t> last(w.rooms.size(), 0);
      for (size_t k = 0; k < w.rooms.size(); ++k) {
        const StoreStatus s = store->lastId(w.rooms[k], last[k]);
        if (!s.ok) die(1, "lastId(%s): %s", w.rooms[k].c_str(), s.error.c_str());
      }
      std::uint64_t seq = 0;
      for (int b : o.batches) {
        if (interrupted()) break;
        cases.push_back(run_append(*store, w, last, b, o.warmup, o.seconds, seq));
      }
    }
  }  // the writer cases open their own connection (one per StoreWriter, as the server does)
  for (int p : o.producers) {
    if (interrupted()) break;
    cases.push_back(run_writer(url, options, w, p, o.window, o.warmup, o.seconds, o.drain));
  }

  std::printf("\n");
  print_table(cases);
  std::printf(
      "  append: one thread calls append() with B messages (one transaction) back to back; p50/p99/"
      "max = one append() call.\n"
      "  writer: P threads submit 1-message batches to StoreWriter, <= W unacknowledged each; "
      "p50/p99/max = submit -> done callback;\n"
      "          txn/s, msgs/txn = the writer's commits (group commit). CPU = this process (all "
      "threads); busy/iowait = whole machine, all CPUs.\n");
  const std::string load_end = loadavg();
  std::printf("  load average %s at end\n", load_end.c_str());

  std::string j = "{\"tool\":\"storebench\",\"store\":" + json_str(kind) +
                  ",\"db\":" + json_str(shown) + ",\"label\":" + json_str(o.label) +
                  ",\"fsync\":" + json_str(kind == "sqlite" ? o.fsync : "") +
                  ",\"seconds_per_case\":" + num(o.seconds, 2) + ",\"warmup\":" + num(o.warmup, 2) +
                  ",\"window\":" + std::to_string(o.window) +
                  ",\"size\":" + std::to_string(o.size) + ",\"rooms\":" + std::to_string(o.rooms) +
                  ",\"client_ids\":" + (o.client_ids ? "true" : "false") +
                  ",\"cpus\":" + std::to_string(cpus) + ",\"load_start\":" + json_str(load_start) +
                  ",\"load_end\":" + json_str(load_end) +
                  ",\"sanitized\":" + (STOREBENCH_SANITIZED ? "true" : "false") +
                  ",\"interrupted\":" + (interrupted() ? "true" : "false") + ",\"cases\":[";
  for (size_t k = 0; k < cases.size(); ++k) j += (k ? "," : "") + case_json(cases[k]);
  j += "]}";
  std::printf("%s\n", j.c_str());
  std::fflush(stdout);

  cleanup_files();
  if (interrupted()) {
    std::fprintf(stderr, "storebench: interrupted (signal %d)\n", static_cast<int>(g_signal));
    return 1;
  }
  return 0;
}
