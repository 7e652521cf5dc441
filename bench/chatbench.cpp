// chatbench — load generator for Parley and the peer chat servers (see bench/README.md).
//
// One thread, one epoll loop, non-blocking sockets, its own minimal RFC 6455 client. Every client
// joins GET /ws/<room>?username=<name>; the first --senders clients also send {"content":"..."}.
// The content carries "<sender>:<seq>:<send-time-ns>:" so every receiver can compute the one-way
// latency (CLOCK_MONOTONIC; client and server share the machine) and check per (receiver, sender)
// that sequence numbers arrive complete and in order. Incoming frames are never JSON-parsed: the
// "content" key is found (at the offset it had last time on this connection, else by memmem) and
// three integers are read after it.
//
// Phases: connect (bounded by --connect-limit) -> settle (no traffic, lets every server register
// its members) -> warmup (sending, not measured) -> measured (--duration) -> drain (no sending, up
// to --drain s for in-flight deliveries) -> report. Hard stop at warmup + duration + 10 s after
// sending starts, whatever happens.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cinttypes>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "flags.h"
#include "histogram.h"
#include "ws_handshake.h"

namespace {

using ns_t = int64_t;
constexpr ns_t kSec = 1'000'000'000;

inline ns_t mono_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<ns_t>(ts.tv_sec) * kSec + ts.tv_nsec;
}

volatile sig_atomic_t g_interrupted = 0;
void on_signal(int) { g_interrupted = 1; }

[[noreturn]] void die(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::fprintf(stderr, "chatbench: ");
  std::vfprintf(stderr, fmt, ap);
  std::fprintf(stderr, "\n");
  va_end(ap);
  std::exit(2);
}

// ---------------------------------------------------------------------------------------------
// Options

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  std::vector<int> ports;  // --ports: client i connects to ports[i % n] (default: {port})
  int clients = 100;
  int rooms = 1;
  int senders = -1;  // default: 1 (0 with --idle)
  int window = 8;
  double rate = 0;  // total messages/s over all senders; 0 = window mode
  int size = 140;
  double duration = 10;
  double warmup = 2;
  double settle = 0.5;
  double drain = 2;
  int sources = 1;
  int connect_concurrency = 100;
  double connect_timeout = 10;  // per connection
  double connect_limit = 120;   // whole connect phase
  double stall_timeout =
      5;  // window mode: forgive in-flight messages after this long without an echo
  bool idle = false;
  int server_pid = 0;            // the first of server_pids (0: none)
  std::vector<int> server_pids;  // their CPU and RSS are summed
  std::vector<int> infra_pids;   // process trees whose CPU counts in the total (Redis, PostgreSQL)
  bool json = false;
  int cpu = -1;
  bool progress = false;
  std::string label;
  std::string scenario;
  std::string note;
  std::string room_prefix;
};

Options parse_args(int argc, char** argv, bool& self_test) {
  Options o;
  self_test = false;
  CLI::App app{"chatbench: load generator for Parley and the peer chat servers (bench/README.md).",
               "chatbench"};
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);  // as it always was
  app.get_formatter()->column_width(36);
  using flags::integer, flags::real;
  app.add_option("--host", o.host, "server address, 127.0.0.0/8 only (127.0.0.1)")
      ->type_name("ADDR");
  app.add_option("--port", o.port, "server port (required unless --ports)")
      ->type_name("P")
      ->transform(integer(1, 65535));
  flags::add_list(app, "--ports", o.ports, 1, 65535,
                  "several servers (instances of one cluster): each room's members\n"
                  "(and senders) go round-robin over them: client i connects to the\n"
                  "((i / rooms) % n)-th");
  app.add_option("--clients", o.clients, "connections (100)")
      ->type_name("N")
      ->transform(integer(1, 1'000'000));
  app.add_option("--rooms", o.rooms, "rooms; client i joins room i % R (1)")
      ->type_name("R")
      ->transform(integer(1, 1'000'000));
  app.add_option("--senders", o.senders, "the first S clients send (1; 0 with --idle)")
      ->type_name("S")
      ->transform(integer(0, 1'000'000));
  app.add_option("--window", o.window,
                 "window mode: max in-flight messages per sender, a message being in\n"
                 "flight until its sender gets it back (8)")
      ->type_name("W")
      ->transform(integer(1, 1'000'000));
  app.add_option("--rate", o.rate,
                 "rate mode instead: X messages/s in total, spread evenly over senders")
      ->type_name("X")
      ->check(real(0, 1e9));
  app.add_option("--size", o.size, "content size (140)")
      ->type_name("BYTES")
      ->transform(integer(1, 1 << 20));
  app.add_option("--duration", o.duration,
                 "measured phase, seconds (10); with --idle: how long to hold")
      ->type_name("S")
      ->check(real(0, 86400));
  app.add_option("--warmup", o.warmup, "sending before the measured phase (2)")
      ->type_name("S")
      ->check(real(0, 3600));
  app.add_option("--settle", o.settle,
                 "quiet time between the last connect and the first send (0.5)")
      ->type_name("S")
      ->check(real(0, 60));
  app.add_option("--drain", o.drain,
                 "after the measured phase, wait up to S for in-flight deliveries (2)")
      ->type_name("S")
      ->check(real(0, 60));
  app.add_option("--sources", o.sources,
                 "bind client sockets to 127.0.0.1 .. 127.0.0.K round-robin (1)")
      ->type_name("K")
      ->transform(integer(1, 254));
  app.add_option("--connect-concurrency", o.connect_concurrency,
                 "connects/handshakes in progress at once (100)")
      ->type_name("C")
      ->transform(integer(1, 1'000'000));
  app.add_option("--connect-timeout", o.connect_timeout,
                 "per connection, TCP connect + upgrade (10)")
      ->type_name("S")
      ->check(real(0.01, 3600));
  app.add_option("--connect-limit", o.connect_limit, "the whole connect phase (120)")
      ->type_name("S")
      ->check(real(0.01, 86400));
  app.add_option("--stall-timeout", o.stall_timeout,
                 "window mode: a message not back after S counts as a stall and is\n"
                 "no longer waited for (5)")
      ->type_name("S")
      ->check(real(0.01, 3600));
  app.add_flag("--idle", o.idle, "only connect and hold: connects/s, server RSS per connection");
  flags::add_list(app, "--server-pid", o.server_pids, 1, 1 << 30,
                  "report the server's CPU time (and RSS) from /proc/PID; several\n"
                  "(PID,PID,...): their sum (the instances of a cluster)")
      ->type_name("PID[,PID...]");
  flags::add_list(app, "--infra-pid", o.infra_pids, 1, 1 << 30,
                  "processes the servers rely on (redis-server, PostgreSQL's postmaster):\n"
                  "each with its descendants; their CPU is added to the servers' in a\n"
                  "total per delivery")
      ->type_name("PID[,PID...]");
  app.add_option("--cpu", o.cpu, "pin this process to CPU N")
      ->type_name("N")
      ->transform(integer(0, CPU_SETSIZE - 1));
  app.add_flag("--json", o.json, "also print one JSON line with every figure");
  app.add_option("--label", o.label, "copied into the output")->type_name("NAME");
  app.add_option("--scenario", o.scenario, "copied into the output")->type_name("NAME");
  app.add_option("--note", o.note, "copied into the output")->type_name("TEXT");
  app.add_option("--room-prefix", o.room_prefix, "room names are STR<k> (default bench-<pid>-)")
      ->type_name("STR");
  app.add_flag("--progress", o.progress, "one status line per second on stderr");
  app.add_flag("--self-test", self_test, "check SHA-1/base64 and the histogram, then exit");
  if (const std::string err = flags::parse(app, argc, argv); !err.empty()) die("%s", err.c_str());
  if (self_test) return o;
  if (o.ports.empty() && o.port != 0) o.ports.push_back(o.port);
  if (o.ports.empty()) die("--port (or --ports) is required");
  if (o.port == 0) o.port = o.ports[0];
  if (!o.server_pids.empty()) o.server_pid = o.server_pids[0];
  if (o.senders < 0) o.senders = o.idle ? 0 : 1;
  if (o.idle) o.senders = 0;
  if (o.senders > o.clients) die("--senders (%d) > --clients (%d)", o.senders, o.clients);
  if (!o.idle && o.senders == 0) die("nothing to measure: --senders 0 without --idle");
  in_addr a{};
  if (inet_pton(AF_INET, o.host.c_str(), &a) != 1) die("--host must be an IPv4 address");
  if ((ntohl(a.s_addr) >> 24) != 127) die("--host must be in 127.0.0.0/8 (loopback only)");
  for (char c : o.room_prefix)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '~' ||
          c == '-'))
      die("--room-prefix: only A-Z a-z 0-9 . _ ~ -");
  if (o.room_prefix.empty()) o.room_prefix = "bench-" + std::to_string(getpid()) + "-";
  return o;
}

// ---------------------------------------------------------------------------------------------
// /proc readers

// utime + stime of a whole process (all threads), seconds; -1 if unreadable.
double proc_cpu_seconds(int pid) {
  if (pid <= 0) return -1;
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s;
  if (!std::getline(f, s)) return -1;
  const size_t rp = s.rfind(')');
  if (rp == std::string::npos) return -1;
  // fields after ")": state(3) ppid(4) ... utime(14) stime(15)
  const char* p = s.c_str() + rp + 1;
  unsigned long long ut = 0, st = 0;
  int field = 2;
  while (*p && field < 15) {
    while (*p == ' ') ++p;
    ++field;
    const char* start = p;
    while (*p && *p != ' ') ++p;
    if (field == 14) ut = std::strtoull(start, nullptr, 10);
    if (field == 15) st = std::strtoull(start, nullptr, 10);
  }
  if (field < 15) return -1;
  return static_cast<double>(ut + st) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// CPU seconds of a process and all its descendants, including the children they have already
// reaped (cutime + cstime): a PostgreSQL backend that ends during the measured phase still
// counts (its time moves into the postmaster's cutime). -1 if the root is unreadable.
double proc_tree_cpu_seconds(int root) {
  if (root <= 0) return -1;
  std::map<int, std::vector<int>> children;
  std::map<int, unsigned long long> ticks;  // utime + stime + cutime + cstime
  if (DIR* d = opendir("/proc")) {
    while (dirent* e = readdir(d)) {
      if (!std::isdigit(static_cast<unsigned char>(e->d_name[0]))) continue;
      std::ifstream f(std::string("/proc/") + e->d_name + "/stat");
      std::string st;
      if (!std::getline(f, st)) continue;
      const size_t rp = st.rfind(')');
      if (rp == std::string::npos) continue;
      // after ")": state(3) ppid(4) ... utime(14) stime(15) cutime(16) cstime(17)
      std::istringstream in(st.substr(rp + 2));
      std::string field;
      unsigned long long v[18] = {};
      for (int k = 3; k <= 17 && in >> field; ++k)
        if (k != 3) v[k] = std::strtoull(field.c_str(), nullptr, 10);
      const int pid = std::atoi(e->d_name);
      children[static_cast<int>(v[4])].push_back(pid);
      ticks[pid] = v[14] + v[15] + v[16] + v[17];
    }
    closedir(d);
  }
  if (!ticks.count(root)) return -1;
  unsigned long long sum = 0;
  std::vector<int> todo{root};
  while (!todo.empty()) {
    const int pid = todo.back();
    todo.pop_back();
    sum += ticks[pid];
    for (int c : children[pid]) todo.push_back(c);
  }
  return static_cast<double>(sum) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// VmRSS of a process, KiB; -1 if unreadable.
long proc_rss_kib(int pid) {
  if (pid <= 0) return -1;
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  return -1;
}

double self_cpu_seconds(double* sys = nullptr) {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  if (sys)
    *sys = static_cast<double>(ru.ru_stime.tv_sec) + static_cast<double>(ru.ru_stime.tv_usec) / 1e6;
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// Busy and total jiffies of each CPU from /proc/stat (busy includes irq/softirq/steal work that is
// charged to no process, e.g. loopback TCP receive processing).
struct CpuTimes {
  std::vector<unsigned long long> busy, total, irq;  // irq: hardirq + softirq
};
CpuTimes read_cpu_times() {
  CpuTimes t;
  std::ifstream f("/proc/stat");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("cpu", 0) != 0 || line.size() < 4 ||
        !std::isdigit(static_cast<unsigned char>(line[3])))
      continue;
    unsigned long long v[10] = {};
    std::sscanf(line.c_str(), "%*s %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                &v[3], &v[4], &v[5], &v[6], &v[7]);
    const unsigned long long idle = v[3] + v[4];
    unsigned long long all = 0;
    for (int k = 0; k < 8; ++k) all += v[k];
    t.busy.push_back(all - idle);
    t.total.push_back(all);
    t.irq.push_back(v[5] + v[6]);
  }
  return t;
}

// ---------------------------------------------------------------------------------------------
// State

enum class St : uint8_t { Pending, Connecting, Handshake, Open, Closed, Failed };
enum class Phase : uint8_t { Connect, Settle, Warmup, Measure, Drain, Done };

const char* phase_name(Phase p) {
  switch (p) {
    case Phase::Connect:
      return "connect";
    case Phase::Settle:
      return "settle";
    case Phase::Warmup:
      return "warmup";
    case Phase::Measure:
      return "measure";
    case Phase::Drain:
      return "drain";
    case Phase::Done:
      return "done";
  }
  return "?";
}

struct Conn {
  int fd = -1;
  St st = St::Pending;
  bool dirty = false;  // in the flush list
  bool close_sent = false;
  bool frag_active = false;
  bool reread = false;  // the last read filled the buffer: read again without waiting for an edge
  uint32_t room = 0;
  int32_t sender = -1;   // sender index, or -1
  uint32_t exp_off = 0;  // first slot in Bench::expect
  uint32_t content_hint = 0;
  ns_t t_start = 0;
  size_t woff = 0;
  std::string wbuf;
  std::string rbuf;    // handshake bytes, or the remainder of a partial frame
  std::string accept;  // expected Sec-WebSocket-Accept while handshaking
  std::string frag;    // a fragmented text message being assembled
};

struct Sender {
  uint32_t conn = 0;
  uint32_t slot = 0;      // index among the senders of its room
  uint64_t next_seq = 0;  // seq of the next message to send
  uint64_t acked = 0;     // own messages seen back: highest seq + 1
  ns_t last_ack = 0;
};

struct Stats {
  // connections
  uint64_t opened = 0, failed = 0, unexpected_closes = 0;
  std::map<std::string, uint64_t> fail_reasons;
  std::map<int, uint64_t>
      close_codes;  // closes the server initiated (code 1005: none given, 1006: no frame)
  LogLinearHistogram connect_lat;
  ns_t first_connect = 0, last_open = 0;
  // traffic
  uint64_t sent_total = 0, sent_measured = 0, expected_total = 0;
  uint64_t received_unique = 0;  // in order or after a gap, whole run
  uint64_t deliveries = 0;       // unique, received during the measured phase
  uint64_t lost = 0, duplicates = 0, reordered = 0, misrouted = 0, unparsed = 0, server_errors = 0;
  uint64_t reads = 0, read_bytes = 0, epoll_waits = 0;  // during the measured phase
  uint64_t binary = 0, pings = 0, protocol_errors = 0, stalls = 0, send_skipped = 0,
           rate_dropped = 0;
  LogLinearHistogram lat;
  LogLinearHistogram loop_busy;  // measured phase: time from epoll_wait's return to the next call
  std::string sample_unparsed, sample_error;
  std::map<std::string, uint64_t>
      other_types;  // frames of other types (history, presence, join, ...): not errors
};

class Bench {
 public:
  explicit Bench(const Options& o) : o_(o), rng_(static_cast<uint32_t>(mono_ns() ^ getpid())) {}
  int run();

 private:
  // setup
  void setup();
  // connect
  void launch_connects(ns_t now);
  void start_connect(uint32_t i, ns_t now);
  void on_connected(uint32_t i, uint32_t events);
  void on_handshake_data(uint32_t i, ns_t now);
  void fail(uint32_t i, const std::string& reason);
  void check_connect_timeouts(ns_t now);
  // traffic
  void on_readable(uint32_t i);
  size_t parse_frames(uint32_t i, char* p, size_t n, ns_t now, size_t& need);
  void on_text(Conn& c, const char* p, size_t n, ns_t now);
  void send_message(Sender& s, ns_t now);
  void queue_frame(Conn& c, uint8_t opcode, const char* payload, size_t n);
  void mark_dirty(uint32_t i);
  void flush(uint32_t i);
  void flush_dirty();
  void close_conn(uint32_t i, int code, bool unexpected);
  void window_refill(Sender& s, ns_t now);
  void rate_tick(ns_t now);
  void stall_check(ns_t now);
  // phases
  void advance(ns_t now);
  void begin_sending(ns_t now);
  void shutdown_all();
  void progress(ns_t now);
  // report
  uint64_t undelivered() const;
  void report();

  // Which --ports entry client i connects to: its room's members round-robin over the servers
  // (client i is member i / rooms of room i % rooms), so every room spans every server whatever
  // the counts (i % n would put each room on one server when n divides the rooms).
  size_t server_of(uint32_t i) const {
    return (i / static_cast<uint32_t>(o_.rooms)) % servers_.size();
  }
  // Sums over --server-pid (one or several); -1 if none is given or one is unreadable (gone).
  double srv_cpu_now() const;
  long srv_rss_now() const;
  // Sum over the --infra-pid trees; -1 if none is given or one is gone.
  double infra_cpu_now() const;

  bool sending() const { return phase_ == Phase::Warmup || phase_ == Phase::Measure; }
  bool window_mode() const { return o_.rate <= 0; }

  Options o_;
  std::minstd_rand rng_;
  uint32_t mask_state_ = 0x9e3779b9u;
  int ep_ = -1;
  std::vector<sockaddr_in> servers_;  // one per --ports entry (server_of)
  std::vector<Conn> conns_;
  std::vector<Sender> senders_;
  std::vector<uint32_t> room_senders_;  // senders per room
  std::vector<uint32_t> room_open_;     // open members per room
  std::vector<uint32_t> expect_;        // next expected seq, per (receiver, sender of its room)
  std::vector<uint32_t> dirty_;
  std::vector<uint32_t> reread_, reread_now_;
  std::vector<uint32_t> inprogress_;  // connects/handshakes under way
  std::vector<uint32_t> active_senders_;
  std::vector<char> rd_;                    // shared read buffer
  std::string pad_;                         // 'x' * size
  std::vector<std::string> request_tails_;  // the same, with its Host header
  uint32_t next_launch_ = 0;
  bool shutting_down_ = false;

  Phase phase_ = Phase::Connect;
  ns_t t0_ = 0, connect_deadline_ = 0, phase_end_ = 0, send_start_ = 0, hard_stop_ = 0;
  ns_t meas_start_ = 0, meas_end_ = 0, connect_end_ = 0;
  ns_t last_timeout_scan_ = 0, last_stall_scan_ = 0, last_progress_ = 0;
  uint64_t rate_k_ = 0;
  uint64_t progress_deliveries_ = 0;
  uint64_t undelivered_ = 0;
  ns_t last_wake_ = 0;

  // server and self figures
  long rss_before_ = -1, rss_connected_ = -1, rss_end_ = -1;
  double srv_cpu_t0_ = -1, srv_cpu_connected_ = -1, srv_cpu_meas0_ = -1, srv_cpu_meas1_ = -1;
  double infra_cpu_meas0_ = -1, infra_cpu_meas1_ = -1;
  double self_cpu_t0_ = 0, self_cpu_connected_ = 0;
  double self_cpu_meas0_ = 0, self_cpu_meas1_ = 0, self_cpu_total_ = 0, self_sys_meas0_ = 0,
         self_sys_meas1_ = 0;
  CpuTimes cpu_meas0_, cpu_meas1_;
  bool hard_stopped_ = false, interrupted_ = false;

  Stats s_;
};

// ---------------------------------------------------------------------------------------------
// Setup

void Bench::setup() {
  const uint32_t n = static_cast<uint32_t>(o_.clients);
  const uint32_t r = static_cast<uint32_t>(o_.rooms);
  conns_.resize(n);
  room_senders_.assign(r, 0);
  room_open_.assign(r, 0);
  senders_.resize(static_cast<size_t>(o_.senders));
  for (uint32_t i = 0; i < static_cast<uint32_t>(o_.senders); ++i) {
    const uint32_t room = i % r;
    senders_[i].conn = i;
    senders_[i].slot = i / r;
    conns_[i].sender = static_cast<int32_t>(i);
    ++room_senders_[room];
  }
  uint64_t slots = 0;
  for (uint32_t i = 0; i < n; ++i) {
    conns_[i].room = i % r;
    slots += room_senders_[i % r];
  }
  if (slots > 100'000'000ull)
    die("%llu (receiver, sender) pairs to track: too many (max 1e8); fewer senders per room",
        static_cast<unsigned long long>(slots));
  expect_.assign(slots, 0);
  uint64_t off = 0;
  for (uint32_t i = 0; i < n; ++i) {
    conns_[i].exp_off = static_cast<uint32_t>(off);
    off += room_senders_[conns_[i].room];
  }
  rd_.resize(256 * 1024);
  pad_.assign(static_cast<size_t>(o_.size), 'x');
  for (int port : o_.ports) {
    request_tails_.push_back(
        " HTTP/1.1\r\nHost: " + o_.host + ":" + std::to_string(port) +
        "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        "User-Agent: chatbench\r\nSec-WebSocket-Key: ");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, o_.host.c_str(), &a.sin_addr);
    servers_.push_back(a);
  }
  ep_ = epoll_create1(EPOLL_CLOEXEC);
  if (ep_ < 0) die("epoll_create1: %s", std::strerror(errno));
}

double Bench::srv_cpu_now() const {
  double sum = o_.server_pids.empty() ? -1 : 0;
  for (int pid : o_.server_pids) {
    const double c = proc_cpu_seconds(pid);
    if (c < 0) return -1;
    sum += c;
  }
  return sum;
}

long Bench::srv_rss_now() const {
  long sum = o_.server_pids.empty() ? -1 : 0;
  for (int pid : o_.server_pids) {
    const long r = proc_rss_kib(pid);
    if (r < 0) return -1;
    sum += r;
  }
  return sum;
}

double Bench::infra_cpu_now() const {
  double sum = o_.infra_pids.empty() ? -1 : 0;
  for (int pid : o_.infra_pids) {
    const double c = proc_tree_cpu_seconds(pid);
    if (c < 0) return -1;
    sum += c;
  }
  return sum;
}

// ---------------------------------------------------------------------------------------------
// Connecting

void Bench::launch_connects(ns_t now) {
  while (next_launch_ < conns_.size() &&
         inprogress_.size() < static_cast<size_t>(o_.connect_concurrency))
    start_connect(next_launch_++, now);
}

void Bench::start_connect(uint32_t i, ns_t now) {
  Conn& c = conns_[i];
  c.t_start = now;
  if (s_.first_connect == 0) s_.first_connect = now;
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    fail(i, errno == EMFILE || errno == ENFILE ? "fd_limit" : "socket_error");
    return;
  }
  c.fd = fd;
  const int one = 1;
  // Only senders need it: a receiver writes nothing but the request, pongs and a close, each
  // on an idle connection, which Nagle sends at once. (One syscall less per connection.)
  if (c.sender >= 0) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (o_.sources > 1) {
    // Let connect() pick the port, so each source address has its own ~28k ephemeral ports.
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl((127u << 24) | (i % static_cast<uint32_t>(o_.sources) + 1));
    if (bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
      fail(i, "bind_error");
      return;
    }
  }
  const sockaddr_in& server = servers_[server_of(i)];
  if (connect(fd, reinterpret_cast<const sockaddr*>(&server), sizeof server) != 0 &&
      errno != EINPROGRESS) {
    fail(i, errno == ECONNREFUSED    ? "refused"
            : errno == EADDRNOTAVAIL ? "no_ephemeral_port"
                                     : "connect_error");
    return;
  }
  // Registered once, edge-triggered for reading and writing: no epoll_ctl MOD ever, and no
  // re-poll of every ready socket on each epoll_wait. EPOLLOUT reports the connect, then only
  // the end of a full send buffer (the kernel signals write space only after a write hit EAGAIN).
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.u32 = i;
  if (epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    fail(i, "epoll_error");
    return;
  }
  c.st = St::Connecting;
  inprogress_.push_back(i);
}

void Bench::on_connected(uint32_t i, uint32_t events) {
  Conn& c = conns_[i];
  if (events & (EPOLLERR | EPOLLHUP)) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    fail(i, err == ECONNREFUSED ? "refused" : err == ETIMEDOUT ? "timeout" : "connect_error");
    return;
  }
  if (!(events & EPOLLOUT)) return;
  uint8_t key[16];
  for (auto& b : key) b = static_cast<uint8_t>(rng_());
  const std::string k = wsh::base64(key, sizeof key);
  c.accept = wsh::accept_for(k);
  char user[16];
  std::snprintf(user, sizeof user, "u%06u",
                i % 1'000'000u);  // fixed width: "content" sits at a fixed offset
  std::string req = "GET /ws/" + o_.room_prefix + std::to_string(c.room) + "?username=" + user +
                    request_tails_[server_of(i)] + k + "\r\n\r\n";
  c.wbuf = std::move(req);
  c.woff = 0;
  c.st = St::Handshake;
  flush(i);  // an empty socket takes the whole request; if not, EPOLLOUT will say when to go on
}

bool header_value(std::string_view head, std::string_view name, std::string_view& value) {
  size_t pos = 0;
  while ((pos = head.find("\r\n", pos)) != std::string_view::npos) {
    pos += 2;
    if (head.size() - pos < name.size() + 1) return false;
    bool match = true;
    for (size_t k = 0; k < name.size() && match; ++k)
      match = std::tolower(static_cast<unsigned char>(head[pos + k])) ==
              std::tolower(static_cast<unsigned char>(name[k]));
    if (match && head[pos + name.size()] == ':') {
      size_t b = pos + name.size() + 1, e = head.find("\r\n", b);
      if (e == std::string_view::npos) e = head.size();
      while (b < e && (head[b] == ' ' || head[b] == '\t')) ++b;
      while (e > b && (head[e - 1] == ' ' || head[e - 1] == '\t')) --e;
      value = head.substr(b, e - b);
      return true;
    }
  }
  return false;
}

void Bench::on_handshake_data(uint32_t i, ns_t now) {
  Conn& c = conns_[i];
  char buf[4096];
  size_t end = std::string::npos;
  bool maybe_more = false;
  // Edge-triggered: read until the header is complete or the socket is empty.
  while (end == std::string::npos) {
    const ssize_t r = read(c.fd, buf, sizeof buf);
    if (r == 0) {
      fail(i, "closed_in_handshake");
      return;
    }
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        fail(i, errno == ECONNRESET ? "reset" : "read_error");
      return;
    }
    c.rbuf.append(buf, static_cast<size_t>(r));
    end = c.rbuf.find("\r\n\r\n");
    if (end == std::string::npos && c.rbuf.size() > 16384) {
      fail(i, "bad_handshake");
      return;
    }
    maybe_more = static_cast<size_t>(r) == sizeof buf;
  }
  std::string_view head(c.rbuf.data(), end + 2);
  if (head.size() < 12 || head.substr(0, 5) != "HTTP/" || head.substr(8, 4) != " 101") {
    const std::string code =
        head.size() >= 12 ? std::string(head.substr(9, 3)) : std::string("???");
    fail(i, "http_" + code);
    return;
  }
  std::string_view acc;
  if (!header_value(head, "sec-websocket-accept", acc) || acc != c.accept) {
    fail(i, "bad_accept");
    return;
  }
  c.rbuf.erase(0, end + 4);
  c.accept.clear();
  c.accept.shrink_to_fit();
  c.st = St::Open;
  ++s_.opened;
  ++room_open_[c.room];
  s_.connect_lat.record(static_cast<uint64_t>(now - c.t_start));
  s_.last_open = now;
  std::erase(inprogress_, i);
  if (!c.rbuf.empty()) {
    // frames that came with the 101
    std::string early;
    early.swap(c.rbuf);
    if (rd_.size() < early.size()) rd_.resize(early.size());
    std::memcpy(rd_.data(), early.data(), early.size());
    size_t need = 0;
    const size_t used = parse_frames(i, rd_.data(), early.size(), now, need);
    if (conns_[i].st == St::Open) conns_[i].rbuf.assign(rd_.data() + used, early.size() - used);
  }
  if (maybe_more && conns_[i].st == St::Open &&
      !conns_[i].reread) {  // no new edge will come for what is queued
    conns_[i].reread = true;
    reread_.push_back(i);
  }
}

void Bench::fail(uint32_t i, const std::string& reason) {
  Conn& c = conns_[i];
  if (c.fd >= 0) close(c.fd);
  c.fd = -1;
  c.st = St::Failed;
  c.wbuf.clear();
  c.rbuf.clear();
  c.accept.clear();
  ++s_.failed;
  ++s_.fail_reasons[reason];
  std::erase(inprogress_, i);
}

void Bench::check_connect_timeouts(ns_t now) {
  const ns_t limit = static_cast<ns_t>(o_.connect_timeout * 1e9);
  std::vector<uint32_t> expired;
  for (uint32_t i : inprogress_)
    if (now - conns_[i].t_start > limit) expired.push_back(i);
  for (uint32_t i : expired)
    fail(i, conns_[i].st == St::Connecting ? "connect_timeout" : "handshake_timeout");
}

// ---------------------------------------------------------------------------------------------
// Frames

void Bench::mark_dirty(uint32_t i) {
  Conn& c = conns_[i];
  if (!c.dirty) {
    c.dirty = true;
    dirty_.push_back(i);
  }
}

void Bench::queue_frame(Conn& c, uint8_t opcode, const char* payload, size_t n) {
  uint8_t hdr[14];
  size_t h = 0;
  hdr[h++] = static_cast<uint8_t>(0x80 | opcode);
  if (n < 126) {
    hdr[h++] = static_cast<uint8_t>(0x80 | n);
  } else if (n < 65536) {
    hdr[h++] = 0x80 | 126;
    hdr[h++] = static_cast<uint8_t>(n >> 8);
    hdr[h++] = static_cast<uint8_t>(n);
  } else {
    hdr[h++] = 0x80 | 127;
    for (int k = 7; k >= 0; --k)
      hdr[h++] = static_cast<uint8_t>(static_cast<uint64_t>(n) >> (8 * k));
  }
  // xorshift32: masking keys need not be secret for a load test, only present
  uint32_t x = mask_state_;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  mask_state_ = x;
  uint8_t key[4] = {static_cast<uint8_t>(x), static_cast<uint8_t>(x >> 8),
                    static_cast<uint8_t>(x >> 16), static_cast<uint8_t>(x >> 24)};
  std::memcpy(hdr + h, key, 4);
  h += 4;
  const size_t at = c.wbuf.size();
  c.wbuf.resize(at + h + n);
  char* out = c.wbuf.data() + at;
  std::memcpy(out, hdr, h);
  out += h;
  for (size_t k = 0; k < n; ++k)
    out[k] = static_cast<char>(static_cast<uint8_t>(payload[k]) ^ key[k & 3]);
}

void Bench::send_message(Sender& s, ns_t now) {
  Conn& c = conns_[s.conn];
  if (c.st != St::Open || c.close_sent) {
    ++s_.send_skipped;
    return;
  }
  if (c.wbuf.size() - c.woff > (1u << 20)) {  // the server is not reading: do not pile up
    ++s_.send_skipped;
    return;
  }
  char prefix[64];
  const int plen =
      std::snprintf(prefix, sizeof prefix, "%u:%" PRIu64 ":%" PRId64 ":",
                    static_cast<unsigned>(c.sender), s.next_seq, static_cast<int64_t>(now));
  const size_t clen = std::max(static_cast<size_t>(plen), pad_.size());
  // {"content":"<content>"}
  thread_local std::string payload;
  payload.clear();
  payload.reserve(clen + 16);
  payload.append("{\"content\":\"");
  payload.append(prefix, static_cast<size_t>(plen));
  payload.append(pad_.data(), clen - static_cast<size_t>(plen));
  payload.append("\"}");
  queue_frame(c, 0x1, payload.data(), payload.size());
  ++s.next_seq;
  ++s_.sent_total;
  if (phase_ == Phase::Measure) ++s_.sent_measured;
  s_.expected_total += room_open_[c.room];
  mark_dirty(s.conn);
}

void Bench::flush(uint32_t i) {
  Conn& c = conns_[i];
  if (c.fd < 0) return;
  while (c.woff < c.wbuf.size()) {
    const ssize_t w = send(c.fd, c.wbuf.data() + c.woff, c.wbuf.size() - c.woff, MSG_NOSIGNAL);
    if (w > 0) {
      c.woff += static_cast<size_t>(w);
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (c.woff > 65536) {
        c.wbuf.erase(0, c.woff);
        c.woff = 0;
      }
      return;  // EPOLLOUT (edge) comes when the server has read some
    }
    if (c.st == St::Handshake || c.st == St::Connecting)
      fail(i, "write_error");
    else
      close_conn(i, 1006, true);
    return;
  }
  c.wbuf.clear();
  c.woff = 0;
}

void Bench::flush_dirty() {
  // flush() never marks anything dirty, so the list is stable while we walk it
  for (uint32_t i : dirty_) {
    conns_[i].dirty = false;
    flush(i);
  }
  dirty_.clear();
}

void Bench::close_conn(uint32_t i, int code, bool unexpected) {
  Conn& c = conns_[i];
  if (c.st != St::Open) return;
  if (unexpected && !shutting_down_) {
    ++s_.unexpected_closes;
    ++s_.close_codes[code];
  }
  close(c.fd);
  c.fd = -1;
  c.st = St::Closed;
  --room_open_[c.room];
  std::string().swap(c.wbuf);
  std::string().swap(c.rbuf);
  c.woff = 0;
}

void Bench::on_readable(uint32_t i) {
  Conn& c = conns_[i];
  const size_t have = c.rbuf.size();
  if (rd_.size() < have + 65536) rd_.resize(have + 65536);
  if (have) std::memcpy(rd_.data(), c.rbuf.data(), have);
  const ssize_t r = read(c.fd, rd_.data() + have, rd_.size() - have);
  if (r == 0) {
    close_conn(i, 1006, true);
    return;
  }
  if (r < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) close_conn(i, 1006, true);
    return;
  }
  const ns_t now = mono_ns();
  const size_t n = have + static_cast<size_t>(r);
  if (static_cast<size_t>(r) == rd_.size() - have &&
      !c.reread) {  // maybe more queued: no new edge will say so
    c.reread = true;
    reread_.push_back(i);
  }
  if (phase_ == Phase::Measure) {
    ++s_.reads;
    s_.read_bytes += static_cast<uint64_t>(r);
  }
  size_t need = 0;
  const size_t used = parse_frames(i, rd_.data(), n, now, need);
  Conn& c2 = conns_[i];
  if (c2.st != St::Open) return;
  c2.rbuf.assign(rd_.data() + used, n - used);
  if (need > rd_.size()) rd_.resize(need + 4096);  // one frame larger than the shared buffer
}

size_t Bench::parse_frames(uint32_t i, char* buf, size_t n, ns_t now, size_t& need) {
  Conn& c = conns_[i];
  size_t off = 0;
  while (n - off >= 2) {
    auto* f = reinterpret_cast<uint8_t*>(buf + off);
    const uint8_t b0 = f[0], b1 = f[1];
    uint64_t len = b1 & 0x7f;
    size_t hdr = 2;
    if (len == 126) {
      if (n - off < 4) break;
      len = (uint64_t{f[2]} << 8) | f[3];
      hdr = 4;
    } else if (len == 127) {
      if (n - off < 10) break;
      len = 0;
      for (int k = 0; k < 8; ++k) len = (len << 8) | f[2 + k];
      hdr = 10;
    }
    const bool masked = (b1 & 0x80) != 0;
    if (masked) hdr += 4;
    if (len > (64u << 20)) {
      ++s_.protocol_errors;
      close_conn(i, 1009, true);
      return n;
    }
    if (n - off < hdr + len) {
      need = hdr + static_cast<size_t>(len);
      break;
    }
    char* payload = buf + off + hdr;
    if (masked) {  // a server must not mask; count it and read on
      ++s_.protocol_errors;
      const uint8_t* key = f + hdr - 4;
      for (size_t k = 0; k < len; ++k)
        payload[k] = static_cast<char>(static_cast<uint8_t>(payload[k]) ^ key[k & 3]);
    }
    const uint8_t op = b0 & 0x0f;
    const bool fin = (b0 & 0x80) != 0;
    switch (op) {
      case 0x1:
        if (fin) {
          on_text(c, payload, len, now);
        } else {
          c.frag.assign(payload, len);
          c.frag_active = true;
        }
        break;
      case 0x0:
        if (!c.frag_active) {
          ++s_.protocol_errors;
          break;
        }
        c.frag.append(payload, len);
        if (fin) {
          c.frag_active = false;
          std::string m;
          m.swap(c.frag);
          on_text(c, m.data(), m.size(), now);
        }
        break;
      case 0x2:
        ++s_.binary;
        break;
      case 0x8: {
        const int code =
            len >= 2 ? ((static_cast<uint8_t>(payload[0]) << 8) | static_cast<uint8_t>(payload[1]))
                     : 1005;
        if (!c.close_sent) {
          queue_frame(c, 0x8, payload, len >= 2 ? 2 : 0);
          c.close_sent = true;
          flush(i);
        }
        close_conn(i, code, true);
        return n;
      }
      case 0x9:
        ++s_.pings;
        queue_frame(c, 0xA, payload, len);
        mark_dirty(i);
        break;
      case 0xA:
        break;
      default:
        ++s_.protocol_errors;
        break;
    }
    off += hdr + static_cast<size_t>(len);
  }
  return off;
}

inline bool read_uint(const char*& p, const char* end, uint64_t& v) {
  const char* s = p;
  v = 0;
  while (p < end && static_cast<unsigned>(*p - '0') < 10)
    v = v * 10 + static_cast<uint64_t>(*p++ - '0');
  return p != s && p < end && *p++ == ':';
}

// The value of the top-level "type" member if the object starts with it (every server here puts it
// first), else of the first "type" key found; empty if none.
std::string_view frame_type(const char* p, size_t n) {
  const char* end = p + n;
  const char* q = static_cast<const char*>(memmem(p, n, "\"type\"", 6));
  if (!q) return {};
  q += 6;
  while (q < end && (*q == ' ' || *q == ':')) ++q;
  if (q >= end || *q != '"') return {};
  const char* v = ++q;
  while (q < end && *q != '"' && q - v < 64) ++q;
  if (q >= end || *q != '"') return {};
  return {v, static_cast<size_t>(q - v)};
}

void Bench::on_text(Conn& c, const char* p, size_t n, ns_t now) {
  // Fast path: {"type":"message" as the peers and Parley write it; anything else (pydantic's
  // {"type": "message", history, presence, join/leave, errors) is classified by its type first,
  // so a history frame's embedded messages are never taken for deliveries.
  static constexpr char kMsg[] = "{\"type\":\"message\"";
  if (n < sizeof kMsg - 1 || std::memcmp(p, kMsg, sizeof kMsg - 1) != 0) {
    const std::string_view type = frame_type(p, n);
    if (type != "message") {
      if (type == "error") {
        ++s_.server_errors;
        if (s_.sample_error.empty()) s_.sample_error.assign(p, std::min<size_t>(n, 200));
      } else if (type.empty()) {
        ++s_.unparsed;
        if (s_.sample_unparsed.empty()) s_.sample_unparsed.assign(p, std::min<size_t>(n, 200));
      } else {
        auto it = s_.other_types.find(std::string(type));
        if (it != s_.other_types.end())
          ++it->second;
        else if (s_.other_types.size() < 32)
          s_.other_types.emplace(std::string(type), 1);
        else
          ++s_.other_types["(more types)"];
      }
      return;
    }
  }
  static constexpr char kKey[] = "\"content\"";
  constexpr size_t kKeyLen = sizeof kKey - 1;
  const char* q = nullptr;
  const size_t h = c.content_hint;
  if (h && h + kKeyLen + 4 < n && std::memcmp(p + h, kKey, kKeyLen) == 0) {
    q = p + h;
  } else {
    q = static_cast<const char*>(memmem(p, n, kKey, kKeyLen));
    if (q) c.content_hint = static_cast<uint32_t>(q - p);
  }
  const char* end = p + n;
  auto bad = [&] {  // a "message" whose content is not ours
    ++s_.unparsed;
    if (s_.sample_unparsed.empty()) s_.sample_unparsed.assign(p, std::min<size_t>(n, 200));
  };
  if (!q) return bad();
  q += kKeyLen;
  while (q < end && (*q == ' ' || *q == ':')) ++q;
  if (q >= end || *q != '"') return bad();
  ++q;
  uint64_t sid = 0, seq = 0, t = 0;
  if (!read_uint(q, end, sid) || !read_uint(q, end, seq) || !read_uint(q, end, t)) return bad();
  if (sid >= senders_.size()) return bad();
  Sender& s = senders_[sid];
  if (conns_[s.conn].room != c.room) {
    ++s_.misrouted;
    return;
  }
  uint32_t& e = expect_[c.exp_off + s.slot];
  if (seq == e) {
    ++e;
  } else if (seq > e) {
    s_.lost += seq - e;
    e = static_cast<uint32_t>(seq + 1);
  } else if (seq + 1 == e) {
    ++s_.duplicates;
    return;
  } else {
    ++s_.reordered;
    return;
  }
  ++s_.received_unique;
  if (phase_ == Phase::Measure) {
    ++s_.deliveries;
    s_.lat.record(now > static_cast<ns_t>(t) ? static_cast<uint64_t>(now - static_cast<ns_t>(t))
                                             : 0);
  }
  if (c.sender == static_cast<int32_t>(sid)) {
    if (seq + 1 > s.acked) s.acked = seq + 1;
    s.last_ack = now;
    if (window_mode() && sending()) window_refill(s, now);
  }
}

// ---------------------------------------------------------------------------------------------
// Load

void Bench::window_refill(Sender& s, ns_t now) {
  for (int k = 0; k < o_.window && s.next_seq - s.acked < static_cast<uint64_t>(o_.window); ++k) {
    const uint64_t before = s.next_seq;
    send_message(s, now);
    if (s.next_seq == before) break;  // could not send
  }
}

void Bench::stall_check(ns_t now) {
  const ns_t limit = static_cast<ns_t>(o_.stall_timeout * 1e9);
  for (uint32_t id : active_senders_) {
    Sender& s = senders_[id];
    if (s.next_seq > s.acked && now - s.last_ack > limit) {  // an own message never came back
      ++s_.stalls;
      s.acked = s.next_seq;
      s.last_ack = now;
      window_refill(s, now);
    }
  }
}

void Bench::rate_tick(ns_t now) {
  if (active_senders_.empty()) return;
  const double elapsed = static_cast<double>(now - send_start_) / 1e9;
  const uint64_t due = static_cast<uint64_t>(elapsed * o_.rate) + 1;
  if (due <= rate_k_) return;
  // never more than 50 ms worth in one go; further behind than that and the schedule is dropped
  const uint64_t cap = std::max<uint64_t>(64, static_cast<uint64_t>(o_.rate * 0.05));
  if (due - rate_k_ > 4 * cap) {
    s_.rate_dropped += due - rate_k_ - cap;
    rate_k_ = due - cap;
  }
  const uint64_t n = std::min(due - rate_k_, cap);
  for (uint64_t k = 0; k < n; ++k, ++rate_k_)
    send_message(senders_[active_senders_[rate_k_ % active_senders_.size()]], now);
}

// ---------------------------------------------------------------------------------------------
// Phases

void Bench::begin_sending(ns_t now) {
  send_start_ = now;
  hard_stop_ = now + static_cast<ns_t>((o_.warmup + o_.duration + 10) * 1e9);
  for (uint32_t id = 0; id < senders_.size(); ++id)
    if (conns_[senders_[id].conn].st == St::Open) active_senders_.push_back(id);
  for (uint32_t id : active_senders_) senders_[id].last_ack = now;
  phase_ = Phase::Warmup;
  phase_end_ = now + static_cast<ns_t>(o_.warmup * 1e9);
  if (window_mode())
    for (uint32_t id : active_senders_) window_refill(senders_[id], now);
}

void Bench::advance(ns_t now) {
  if (g_interrupted && !interrupted_) {
    interrupted_ = true;
    phase_ = Phase::Done;
    return;
  }
  if (phase_ != Phase::Connect && phase_ != Phase::Settle && phase_ != Phase::Done && hard_stop_ &&
      now > hard_stop_) {
    hard_stopped_ = true;
    phase_ = Phase::Done;
    return;
  }
  switch (phase_) {
    case Phase::Connect:
      if ((next_launch_ == conns_.size() && inprogress_.empty()) || now > connect_deadline_) {
        while (!inprogress_.empty()) fail(inprogress_.back(), "connect_phase_limit");
        for (; next_launch_ < conns_.size(); ++next_launch_) {
          ++s_.failed;
          ++s_.fail_reasons["connect_phase_limit"];
          conns_[next_launch_].st = St::Failed;
        }
        connect_end_ = now;
        srv_cpu_connected_ = srv_cpu_now();
        self_cpu_connected_ = self_cpu_seconds();
        phase_ = Phase::Settle;
        phase_end_ = now + static_cast<ns_t>(o_.settle * 1e9);
        if (s_.opened == 0) phase_ = Phase::Done;
      }
      break;
    case Phase::Settle:
      if (now >= phase_end_) {
        if (o_.idle) {
          rss_connected_ = srv_rss_now();
          phase_ = Phase::Measure;
          meas_start_ = now;
          hard_stop_ = now + static_cast<ns_t>((o_.duration + 10) * 1e9);
          phase_end_ = now + static_cast<ns_t>(o_.duration * 1e9);
          srv_cpu_meas0_ = srv_cpu_now();
          infra_cpu_meas0_ = infra_cpu_now();
          self_cpu_meas0_ = self_cpu_seconds(&self_sys_meas0_);
          cpu_meas0_ = read_cpu_times();
        } else {
          begin_sending(now);
        }
      }
      break;
    case Phase::Warmup:
      if (now >= phase_end_) {
        phase_ = Phase::Measure;
        meas_start_ = now;
        phase_end_ = now + static_cast<ns_t>(o_.duration * 1e9);
        srv_cpu_meas0_ = srv_cpu_now();
        infra_cpu_meas0_ = infra_cpu_now();
        self_cpu_meas0_ = self_cpu_seconds(&self_sys_meas0_);
        cpu_meas0_ = read_cpu_times();
      }
      break;
    case Phase::Measure:
      if (now >= phase_end_) {
        meas_end_ = now;
        srv_cpu_meas1_ = srv_cpu_now();
        infra_cpu_meas1_ = infra_cpu_now();
        self_cpu_meas1_ = self_cpu_seconds(&self_sys_meas1_);
        cpu_meas1_ = read_cpu_times();
        if (o_.idle) {
          rss_end_ = srv_rss_now();
          phase_ = Phase::Done;
        } else {
          phase_ = Phase::Drain;
          phase_end_ = now + static_cast<ns_t>(o_.drain * 1e9);
        }
      }
      break;
    case Phase::Drain:
      if (now >= phase_end_ || s_.received_unique + s_.lost >= s_.expected_total)
        phase_ = Phase::Done;
      break;
    case Phase::Done:
      break;
  }
}

void Bench::progress(ns_t now) {
  if (!o_.progress || now - last_progress_ < kSec) return;
  const double dt = static_cast<double>(now - last_progress_) / 1e9;
  std::fprintf(stderr,
               "chatbench: t=%.1fs %-7s open=%" PRIu64 " failed=%" PRIu64 " sent=%" PRIu64
               " recv=%" PRIu64 " (%.0f/s) lost=%" PRIu64 " closes=%" PRIu64 "\n",
               static_cast<double>(now - t0_) / 1e9, phase_name(phase_), s_.opened, s_.failed,
               s_.sent_total, s_.received_unique,
               static_cast<double>(s_.received_unique - progress_deliveries_) / dt, s_.lost,
               s_.unexpected_closes);
  progress_deliveries_ = s_.received_unique;
  last_progress_ = now;
}

void Bench::shutdown_all() {
  shutting_down_ = true;
  for (uint32_t i = 0; i < conns_.size(); ++i) {
    Conn& c = conns_[i];
    if (c.st == St::Open) {
      if (!c.close_sent) {
        c.wbuf.erase(0, c.woff);
        c.woff = 0;
        const char code[2] = {static_cast<char>(1000 >> 8), static_cast<char>(1000 & 0xff)};
        queue_frame(c, 0x8, code, 2);
        c.close_sent = true;
        send(c.fd, c.wbuf.data(), c.wbuf.size(), MSG_NOSIGNAL | MSG_DONTWAIT);  // best effort
      }
      close_conn(i, 1000, false);
    } else if (c.fd >= 0) {
      close(c.fd);
      c.fd = -1;
    }
  }
}

int Bench::run() {
  setup();
  t0_ = mono_ns();
  last_progress_ = t0_;
  connect_deadline_ = t0_ + static_cast<ns_t>(o_.connect_limit * 1e9);
  rss_before_ = srv_rss_now();
  srv_cpu_t0_ = srv_cpu_now();
  self_cpu_t0_ = self_cpu_seconds();
  std::vector<epoll_event> evs(4096);
  // Every iteration blocks at most ~20 ms and every phase has a deadline, so this ends.
  while (true) {
    ns_t now = mono_ns();
    advance(now);
    if (phase_ == Phase::Done) break;
    if (phase_ == Phase::Connect) {
      launch_connects(now);
      if (now - last_timeout_scan_ > 50'000'000) {
        check_connect_timeouts(now);
        last_timeout_scan_ = now;
      }
    }
    if (sending()) {
      if (window_mode()) {
        if (now - last_stall_scan_ > 100'000'000) {
          stall_check(now);
          last_stall_scan_ = now;
        }
      } else {
        rate_tick(now);
      }
    }
    flush_dirty();
    progress(now);
    if (phase_ == Phase::Measure && last_wake_)
      s_.loop_busy.record(static_cast<uint64_t>(mono_ns() - last_wake_));
    int timeout_ms = 20;
    if (phase_ == Phase::Connect) timeout_ms = 5;
    if (sending() && !window_mode()) timeout_ms = 1;
    if (!reread_.empty()) timeout_ms = 0;
    if (phase_ != Phase::Connect) {
      const ns_t left = phase_end_ - now;
      if (left < static_cast<ns_t>(timeout_ms) * 1'000'000)
        timeout_ms = static_cast<int>(std::max<ns_t>(0, left / 1'000'000));
    }
    const int n = epoll_wait(ep_, evs.data(), static_cast<int>(evs.size()), timeout_ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait: %s", std::strerror(errno));
    }
    const ns_t t_ev = mono_ns();
    last_wake_ = t_ev;
    if (phase_ == Phase::Measure) ++s_.epoll_waits;
    for (int k = 0; k < n; ++k) {
      const uint32_t i = evs[static_cast<size_t>(k)].data.u32;
      const uint32_t e = evs[static_cast<size_t>(k)].events;
      Conn& c = conns_[i];
      switch (c.st) {
        case St::Connecting:
          on_connected(i, e);
          if (conns_[i].st == St::Handshake && (e & EPOLLIN)) on_handshake_data(i, t_ev);
          break;
        case St::Handshake:
          if (e & EPOLLOUT) flush(i);
          if (conns_[i].st == St::Handshake && (e & (EPOLLIN | EPOLLERR | EPOLLHUP)))
            on_handshake_data(i, t_ev);
          break;
        case St::Open:
          if (e & EPOLLIN)
            on_readable(i);
          else if (e & (EPOLLERR | EPOLLHUP))
            close_conn(i, 1006, true);
          if (conns_[i].st == St::Open && (e & (EPOLLRDHUP | EPOLLHUP)) && !conns_[i].reread) {
            // the peer has shut down: read on to the end even if the last read was short
            conns_[i].reread = true;
            reread_.push_back(i);
          }
          if (conns_[i].st == St::Open && (e & EPOLLOUT)) flush(i);
          break;
        default:
          break;
      }
    }
    reread_now_.swap(reread_);
    for (uint32_t i : reread_now_) {
      conns_[i].reread = false;
      if (conns_[i].st == St::Open) on_readable(i);
    }
    reread_now_.clear();
    flush_dirty();
  }
  if (meas_end_ == 0 && meas_start_ != 0) {  // stopped early (interrupt or hard stop)
    meas_end_ = mono_ns();
    srv_cpu_meas1_ = srv_cpu_now();
    infra_cpu_meas1_ = infra_cpu_now();
    self_cpu_meas1_ = self_cpu_seconds(&self_sys_meas1_);
    cpu_meas1_ = read_cpu_times();
  }
  if (o_.idle && rss_end_ < 0) rss_end_ = srv_rss_now();
  undelivered_ = undelivered();
  shutdown_all();
  self_cpu_total_ = self_cpu_seconds() - self_cpu_t0_;
  report();
  close(ep_);
  return s_.opened == 0 ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------
// Report

uint64_t Bench::undelivered() const {
  uint64_t u = 0;
  for (const Conn& c : conns_) {
    if (c.st != St::Open)
      continue;  // receivers that failed or were closed by the server are reported as such
    for (uint32_t id : active_senders_) {
      const Sender& s = senders_[id];
      if (conns_[s.conn].room != c.room) continue;
      const uint32_t e = expect_[c.exp_off + s.slot];
      if (s.next_seq > e) u += s.next_seq - e;
    }
  }
  return u;
}

std::string fmt_us(uint64_t ns) {
  char b[32];
  const double us = static_cast<double>(ns) / 1000.0;
  if (us < 1000)
    std::snprintf(b, sizeof b, "%.0f µs", us);
  else if (us < 1e6)
    std::snprintf(b, sizeof b, "%.2f ms", us / 1000);
  else
    std::snprintf(b, sizeof b, "%.2f s", us / 1e6);
  return b;
}

std::string json_escape(const std::string& s) {
  std::string o;
  for (const char c : s) {
    const auto ch = static_cast<unsigned char>(c);
    if (ch == '"' || ch == '\\') {
      o += '\\';
      o += static_cast<char>(ch);
    } else if (ch < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", ch);
      o += b;
    } else {
      o += static_cast<char>(ch);
    }
  }
  return o;
}

class JsonLine {
 public:
  void str(const char* k, const std::string& v) { key(k), s_ += '"' + json_escape(v) + '"'; }
  void num(const char* k, double v) {
    key(k);
    if (!std::isfinite(v)) {
      s_ += "null";
      return;
    }
    char b[48];
    if (v == static_cast<double>(static_cast<long long>(v)) && std::fabs(v) < 1e15)
      std::snprintf(b, sizeof b, "%lld", static_cast<long long>(v));
    else
      std::snprintf(b, sizeof b, "%.6g", v);
    s_ += b;
  }
  void null(const char* k) { key(k), s_ += "null"; }
  void boolean(const char* k, bool v) { key(k), s_ += v ? "true" : "false"; }
  void raw(const char* k, const std::string& v) { key(k), s_ += v; }
  std::string done() { return s_ + "}"; }

 private:
  void key(const char* k) {
    s_ += first_ ? "{" : ",";
    first_ = false;
    s_ += '"';
    s_ += k;
    s_ += "\":";
  }
  std::string s_;
  bool first_ = true;
};

void Bench::report() {
  const double meas_s = meas_end_ > meas_start_ && meas_start_
                            ? static_cast<double>(meas_end_ - meas_start_) / 1e9
                            : 0;
  const double connect_span = s_.last_open > s_.first_connect
                                  ? static_cast<double>(s_.last_open - s_.first_connect) / 1e9
                                  : 0;
  const double connects_per_s =
      connect_span > 0 ? static_cast<double>(s_.opened) / connect_span : 0;
  const double connect_phase_s =
      connect_end_ > t0_ ? static_cast<double>(connect_end_ - t0_) / 1e9 : 0;
  const double gen_connect_pct =
      connect_phase_s > 0 ? 100.0 * (self_cpu_connected_ - self_cpu_t0_) / connect_phase_s : NAN;
  const double dps = meas_s > 0 ? static_cast<double>(s_.deliveries) / meas_s : 0;
  const double mps = meas_s > 0 ? static_cast<double>(s_.sent_measured) / meas_s : 0;
  const bool have_srv = o_.server_pid > 0 && srv_cpu_meas0_ >= 0 && srv_cpu_meas1_ >= 0;
  const double srv_cpu = have_srv ? srv_cpu_meas1_ - srv_cpu_meas0_ : NAN;
  const double srv_pct = have_srv && meas_s > 0 ? 100.0 * srv_cpu / meas_s : NAN;
  const double srv_us_per_delivery =
      have_srv && s_.deliveries ? srv_cpu * 1e6 / static_cast<double>(s_.deliveries) : NAN;
  // Servers + infrastructure (--infra-pid): what a delivery costs the whole deployment.
  const bool have_infra = have_srv && infra_cpu_meas0_ >= 0 && infra_cpu_meas1_ >= 0;
  const double infra_cpu = have_infra ? infra_cpu_meas1_ - infra_cpu_meas0_ : NAN;
  const double total_us_per_delivery =
      have_infra && s_.deliveries ? (srv_cpu + infra_cpu) * 1e6 / static_cast<double>(s_.deliveries)
                                  : NAN;
  const double srv_connect_cpu = o_.server_pid > 0 && srv_cpu_t0_ >= 0 && srv_cpu_connected_ >= 0
                                     ? srv_cpu_connected_ - srv_cpu_t0_
                                     : NAN;
  const double srv_us_per_connect =
      s_.opened ? srv_connect_cpu * 1e6 / static_cast<double>(s_.opened) : NAN;
  const double self_cpu = self_cpu_meas1_ - self_cpu_meas0_;
  const double self_pct = meas_s > 0 ? 100.0 * self_cpu / meas_s : NAN;
  // The larger of just after the connects and the end of the hold: work a server leaves for
  // later (batches, timers) must not flatter it.
  const long rss_after = o_.idle ? std::max(rss_connected_, rss_end_) : -1;
  const double rss_per_conn =
      o_.idle && rss_before_ >= 0 && rss_after >= 0 && s_.opened
          ? (static_cast<double>(rss_after - rss_before_) * 1024.0) / static_cast<double>(s_.opened)
          : NAN;
  const uint64_t undel = undelivered_;
  const char* mode = o_.idle ? "idle" : window_mode() ? "window" : "rate";

  std::string fails;
  for (auto& [k, v] : s_.fail_reasons)
    fails += (fails.empty() ? "" : ", ") + k + "=" + std::to_string(v);
  std::string closes;
  for (auto& [k, v] : s_.close_codes)
    closes += (closes.empty() ? "" : ", ") + std::to_string(k) + "=" + std::to_string(v);

  std::printf("chatbench %s%s%s  mode=%s", o_.label.c_str(), o_.scenario.empty() ? "" : "/",
              o_.scenario.c_str(), mode);
  if (!o_.idle) {
    if (window_mode())
      std::printf(" window=%d", o_.window);
    else
      std::printf(" rate=%g msg/s", o_.rate);
  }
  std::printf("  clients=%d rooms=%d senders=%d size=%d%s%s\n", o_.clients, o_.rooms, o_.senders,
              o_.size, hard_stopped_ ? "  [HARD STOP]" : "", interrupted_ ? "  [INTERRUPTED]" : "");
  if (!o_.note.empty()) std::printf("  note        %s\n", o_.note.c_str());
  std::printf("  connect     %" PRIu64 "/%d open, %" PRIu64
              " failed%s%s%s   %.0f connects/s (%d at a time)   handshake p50 %s p99 %s"
              "   generator %.0f %% busy\n",
              s_.opened, o_.clients, s_.failed, fails.empty() ? "" : " (", fails.c_str(),
              fails.empty() ? "" : ")", connects_per_s, o_.connect_concurrency,
              fmt_us(s_.connect_lat.quantile(0.5)).c_str(),
              fmt_us(s_.connect_lat.quantile(0.99)).c_str(), gen_connect_pct);
  if (!o_.idle) {
    std::printf("  measured    %.2f s   sent %" PRIu64 " msgs (%.0f/s)   deliveries %" PRIu64
                " (%.0f/s)\n",
                meas_s, s_.sent_measured, mps, s_.deliveries, dps);
    std::printf("  latency     p50 %s   p99 %s   p99.9 %s   max %s   mean %s\n",
                fmt_us(s_.lat.quantile(0.5)).c_str(), fmt_us(s_.lat.quantile(0.99)).c_str(),
                fmt_us(s_.lat.quantile(0.999)).c_str(), fmt_us(s_.lat.max()).c_str(),
                fmt_us(static_cast<uint64_t>(s_.lat.mean())).c_str());
    std::printf("  integrity   lost %" PRIu64 "   undelivered-at-end %" PRIu64
                "   duplicates %" PRIu64 "   reordered %" PRIu64 "   misrouted %" PRIu64
                "   unparsed %" PRIu64 "   server-errors %" PRIu64 "\n",
                s_.lost, undel, s_.duplicates, s_.reordered, s_.misrouted, s_.unparsed,
                s_.server_errors);
    if (s_.stalls || s_.send_skipped || s_.rate_dropped)
      std::printf("  sender      stalls %" PRIu64 "   skipped (backpressure/closed) %" PRIu64
                  "   rate-dropped %" PRIu64 "\n",
                  s_.stalls, s_.send_skipped, s_.rate_dropped);
  } else {
    std::printf("  held        %.2f s\n", meas_s);
  }
  std::printf("  closes      unexpected %" PRIu64 "%s%s%s   pings answered %" PRIu64
              "   protocol errors %" PRIu64 "\n",
              s_.unexpected_closes, closes.empty() ? "" : " (codes ", closes.c_str(),
              closes.empty() ? "" : ")", s_.pings, s_.protocol_errors);
  if (!s_.other_types.empty()) {
    std::string ot;
    for (auto& [k, v] : s_.other_types)
      ot += (ot.empty() ? "" : ", ") + k + "=" + std::to_string(v);
    std::printf("  other       frames of other types (not errors): %s\n", ot.c_str());
  }
  if (!s_.sample_unparsed.empty()) std::printf("  unparsed    %s\n", s_.sample_unparsed.c_str());
  if (!s_.sample_error.empty()) std::printf("  error frame %s\n", s_.sample_error.c_str());
  if (o_.server_pid > 0) {
    if (o_.server_pids.size() == 1) {
      std::printf("  server      pid %d", o_.server_pid);
    } else {
      std::printf("  servers     pids");
      for (size_t k = 0; k < o_.server_pids.size(); ++k)
        std::printf("%s%d", k ? "," : " ", o_.server_pids[k]);
      std::printf(" (summed)");
    }
    if (have_srv) std::printf("   CPU %.2f s (%.1f %% of one core)", srv_cpu, srv_pct);
    if (!o_.idle && std::isfinite(srv_us_per_delivery))
      std::printf("   %.3f µs/delivery", srv_us_per_delivery);
    if (o_.idle) {
      if (std::isfinite(srv_us_per_connect))
        std::printf("   %.1f µs CPU/connect", srv_us_per_connect);
      std::printf("\n              RSS %.1f MiB before, %.1f MiB connected, %.1f MiB after hold",
                  static_cast<double>(rss_before_) / 1024.0,
                  static_cast<double>(o_.idle ? rss_connected_ : rss_after) / 1024.0,
                  static_cast<double>(rss_end_) / 1024.0);
      if (std::isfinite(rss_per_conn)) std::printf("   %.0f bytes/connection", rss_per_conn);
    }
    std::printf("\n");
  }
  if (!o_.infra_pids.empty()) {
    std::printf("  infra       pids");
    for (size_t k = 0; k < o_.infra_pids.size(); ++k)
      std::printf("%s%d", k ? "," : " ", o_.infra_pids[k]);
    std::printf(" with descendants");
    if (have_infra)
      std::printf("   CPU %.2f s (%.1f %% of one core)", infra_cpu, 100.0 * infra_cpu / meas_s);
    if (std::isfinite(total_us_per_delivery))
      std::printf("   total with servers %.3f µs/delivery", total_us_per_delivery);
    std::printf("\n");
  }
  const double self_sys = self_sys_meas1_ - self_sys_meas0_;
  std::printf(
      "  generator   CPU %.2f s (user %.2f + sys %.2f) = %.1f %% of one core in the measured "
      "phase%s; %.2f s in all\n",
      self_cpu, self_cpu - self_sys, self_sys, self_pct,
      std::isfinite(self_pct) && self_pct > 85
          ? "  [NEAR SATURATION: figures may be the generator's limit]"
          : "",
      self_cpu_total_);
  if (s_.reads && s_.deliveries)
    std::printf("              %" PRIu64
                " reads (%.0f B, %.1f deliveries each), %.3f µs CPU/delivery; %" PRIu64
                " loop turns, busy p50 %s p99 %s max %s\n",
                s_.reads, static_cast<double>(s_.read_bytes) / static_cast<double>(s_.reads),
                static_cast<double>(s_.deliveries) / static_cast<double>(s_.reads),
                s_.deliveries ? self_cpu * 1e6 / static_cast<double>(s_.deliveries) : 0.0,
                s_.epoll_waits, fmt_us(s_.loop_busy.quantile(0.5)).c_str(),
                fmt_us(s_.loop_busy.quantile(0.99)).c_str(), fmt_us(s_.loop_busy.max()).c_str());
  std::string cpu_busy_json = "[", cpu_irq_json = "[";
  if (!cpu_meas0_.busy.empty() && cpu_meas0_.busy.size() == cpu_meas1_.busy.size()) {
    std::printf(
        "  machine     CPU busy in the measured phase, all processes and interrupts (of which "
        "softirq):");
    for (size_t k = 0; k < cpu_meas0_.busy.size(); ++k) {
      const double tot = static_cast<double>(cpu_meas1_.total[k] - cpu_meas0_.total[k]);
      const double pct =
          tot > 0 ? 100.0 * static_cast<double>(cpu_meas1_.busy[k] - cpu_meas0_.busy[k]) / tot : 0;
      const double irq =
          tot > 0 ? 100.0 * static_cast<double>(cpu_meas1_.irq[k] - cpu_meas0_.irq[k]) / tot : 0;
      std::printf("  cpu%zu %.0f %% (%.0f %%)", k, pct, irq);
      char b[32];
      std::snprintf(b, sizeof b, "%s%.1f", k ? "," : "", pct);
      cpu_busy_json += b;
      std::snprintf(b, sizeof b, "%s%.1f", k ? "," : "", irq);
      cpu_irq_json += b;
    }
    std::printf("\n");
  }
  cpu_busy_json += "]";
  cpu_irq_json += "]";

  if (!o_.json) return;
  JsonLine j;
  j.str("tool", "chatbench");
  j.str("label", o_.label);
  j.str("scenario", o_.scenario);
  j.str("note", o_.note);
  j.str("mode", mode);
  j.num("clients", o_.clients);
  j.num("rooms", o_.rooms);
  j.num("senders", o_.senders);
  if (window_mode())
    j.num("window", o_.window);
  else
    j.null("window");
  j.num("rate", o_.rate);
  j.num("size", o_.size);
  j.num("sources", o_.sources);
  j.num("measured_s", meas_s);
  j.num("connected", static_cast<double>(s_.opened));
  j.num("connect_failed", static_cast<double>(s_.failed));
  std::string fr = "{";
  for (auto& [k, v] : s_.fail_reasons)
    fr += (fr.size() > 1 ? ",\"" : "\"") + json_escape(k) + "\":" + std::to_string(v);
  j.raw("connect_fail_reasons", fr + "}");
  j.num("connects_per_s", connects_per_s);
  j.num("connect_concurrency", o_.connect_concurrency);
  j.num("gen_connect_cpu_pct", gen_connect_pct);
  j.num("connect_p50_us", static_cast<double>(s_.connect_lat.quantile(0.5)) / 1e3);
  j.num("connect_p99_us", static_cast<double>(s_.connect_lat.quantile(0.99)) / 1e3);
  j.num("sent", static_cast<double>(s_.sent_measured));
  j.num("msgs_per_s", mps);
  j.num("deliveries", static_cast<double>(s_.deliveries));
  j.num("deliveries_per_s", dps);
  if (s_.lat.count()) {
    j.num("lat_p50_us", static_cast<double>(s_.lat.quantile(0.5)) / 1e3);
    j.num("lat_p99_us", static_cast<double>(s_.lat.quantile(0.99)) / 1e3);
    j.num("lat_p999_us", static_cast<double>(s_.lat.quantile(0.999)) / 1e3);
    j.num("lat_max_us", static_cast<double>(s_.lat.max()) / 1e3);
    j.num("lat_mean_us", s_.lat.mean() / 1e3);
  } else {
    for (const char* k : {"lat_p50_us", "lat_p99_us", "lat_p999_us", "lat_max_us", "lat_mean_us"})
      j.null(k);
  }
  j.num("sent_total", static_cast<double>(s_.sent_total));
  j.num("expected_total", static_cast<double>(s_.expected_total));
  j.num("received_total", static_cast<double>(s_.received_unique));
  j.num("lost", static_cast<double>(s_.lost));
  j.num("undelivered", static_cast<double>(undel));
  j.num("duplicates", static_cast<double>(s_.duplicates));
  j.num("reordered", static_cast<double>(s_.reordered));
  j.num("misrouted", static_cast<double>(s_.misrouted));
  j.num("unparsed", static_cast<double>(s_.unparsed));
  j.num("server_errors", static_cast<double>(s_.server_errors));
  std::string ot = "{";
  for (auto& [k, v] : s_.other_types)
    ot += (ot.size() > 1 ? ",\"" : "\"") + json_escape(k) + "\":" + std::to_string(v);
  j.raw("other_frames", ot + "}");
  j.num("unexpected_closes", static_cast<double>(s_.unexpected_closes));
  std::string cc = "{";
  for (auto& [k, v] : s_.close_codes)
    cc += (cc.size() > 1 ? ",\"" : "\"") + std::to_string(k) + "\":" + std::to_string(v);
  j.raw("close_codes", cc + "}");
  j.num("protocol_errors", static_cast<double>(s_.protocol_errors));
  j.num("pings", static_cast<double>(s_.pings));
  j.num("stalls", static_cast<double>(s_.stalls));
  j.num("send_skipped", static_cast<double>(s_.send_skipped));
  j.num("rate_dropped", static_cast<double>(s_.rate_dropped));
  if (o_.server_pid > 0)
    j.num("server_pid", o_.server_pid);
  else
    j.null("server_pid");
  if (o_.server_pids.size() > 1 || o_.ports.size() > 1) {  // absent from a one-server run
    j.num("servers", static_cast<double>(std::max(o_.server_pids.size(), o_.ports.size())));
  }
  if (!o_.infra_pids.empty()) {
    j.num("infra_cpu_s", infra_cpu);
    j.num("infra_cpu_pct", have_infra && meas_s > 0 ? 100.0 * infra_cpu / meas_s : NAN);
    j.num("total_cpu_us_per_delivery", total_us_per_delivery);
  }
  j.num("server_cpu_s", srv_cpu);
  j.num("server_cpu_pct", srv_pct);
  j.num("server_cpu_us_per_delivery", srv_us_per_delivery);
  j.num("server_cpu_us_per_connect", srv_us_per_connect);
  j.num("server_rss_kib_before",
        o_.server_pid > 0 && rss_before_ >= 0 ? static_cast<double>(rss_before_) : NAN);
  j.num("server_rss_kib_connected", rss_after >= 0 ? static_cast<double>(rss_after) : NAN);
  j.num("server_rss_kib_end", rss_end_ >= 0 ? static_cast<double>(rss_end_) : NAN);
  j.num("server_rss_bytes_per_conn", rss_per_conn);
  j.num("gen_cpu_s", self_cpu);
  j.num("gen_cpu_pct", self_pct);
  j.num("gen_cpu_total_s", self_cpu_total_);
  j.num("gen_cpu_sys_s", self_sys);
  j.num("gen_reads", static_cast<double>(s_.reads));
  j.num("gen_read_bytes", static_cast<double>(s_.read_bytes));
  j.num("gen_cpu_us_per_delivery",
        s_.deliveries ? self_cpu * 1e6 / static_cast<double>(s_.deliveries) : NAN);
  j.raw("cpu_busy_pct", cpu_busy_json);
  j.raw("cpu_irq_pct", cpu_irq_json);
  j.num("gen_loop_busy_p99_us", static_cast<double>(s_.loop_busy.quantile(0.99)) / 1e3);
  j.num("gen_loop_busy_max_us", static_cast<double>(s_.loop_busy.max()) / 1e3);
  j.boolean("hard_stop", hard_stopped_);
  j.boolean("interrupted", interrupted_);
  std::printf("%s\n", j.done().c_str());
}

bool self_test() {
  bool ok = wsh::self_test();
  LogLinearHistogram h;
  for (uint64_t v = 1; v <= 100000; ++v) h.record(v * 1000);  // 1 µs .. 100 ms uniform
  auto near = [](double got, double want) { return std::fabs(got - want) <= want * 0.01 + 1; };
  ok = ok && near(static_cast<double>(h.quantile(0.5)), 50e6) &&
       near(static_cast<double>(h.quantile(0.99)), 99e6) && h.max() == 100'000'000 &&
       h.count() == 100000;
  for (uint64_t v :
       {0ull, 1ull, 127ull, 128ull, 129ull, 255ull, 256ull, 1000ull, 123456789ull, 1ull << 40})
    ok = ok && LogLinearHistogram::lowest(LogLinearHistogram::index(v)) <= v &&
         LogLinearHistogram::highest(LogLinearHistogram::index(v)) >= v;
  std::printf("self-test %s\n", ok ? "passed" : "FAILED");
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  bool st = false;
  const Options o = parse_args(argc, argv, st);
  if (st) return self_test() ? 0 : 1;

  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  getrlimit(RLIMIT_NOFILE, &rl);
  if (static_cast<rlim_t>(o.clients) + 32 > rl.rlim_cur)
    die("--clients %d needs more file descriptors than RLIMIT_NOFILE allows (%llu)", o.clients,
        static_cast<unsigned long long>(rl.rlim_cur));
  if (o.cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(static_cast<size_t>(o.cpu), &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0)
      std::fprintf(stderr, "chatbench: --cpu %d: %s\n", o.cpu, std::strerror(errno));
  }
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  setvbuf(stdout, nullptr, _IOLBF, 0);

  Bench b(o);
  return b.run();
}
