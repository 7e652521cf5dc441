#include "app/Config.h"

#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <thread>

namespace parley::app {

namespace {

// Durations are given in seconds on the command line (fractions allowed: 0.5).
void addSeconds(CLI::App& app, const char* name, std::chrono::milliseconds& target, const char* env,
                const std::string& help) {
  auto* opt = app.add_option_function<double>(
      name,
      [&target](double seconds) {
        target = std::chrono::milliseconds(static_cast<long long>(seconds * 1000.0));
      },
      help + " (seconds, default " + std::to_string(target.count() / 1000.0).substr(0, 4) + ")");
  opt->envname(env)->check(CLI::PositiveNumber);
}

std::size_t defaultMaxConnections() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1000;
  return rl.rlim_cur > 2 * kSpareDescriptors
             ? static_cast<std::size_t>(rl.rlim_cur - kSpareDescriptors)
             : kSpareDescriptors;
}

}  // namespace

std::optional<Config> parseConfig(int argc, char** argv, int& exitCode) {
  Config c;
  CLI::App app{
      "Parley: a real-time chat server (WebSocket rooms). Every flag can also be set "
      "through the PARLEY_* variable named beside it."};
  app.option_defaults()->always_capture_default();
  app.add_option("--host", c.host, "Address to listen on")->envname("PARLEY_HOST");
  app.add_option("--port", c.port, "TCP port")->envname("PARLEY_PORT");
  app.add_option("--threads", c.threads, "Shards (one thread each); 0 = number of cores")
      ->envname("PARLEY_THREADS");
  app.add_option("--io-uring", c.ioUring,
                 "Hand each loop turn's socket writes to the kernel in batches through io_uring "
                 "when the kernel offers it (off: one sendmsg per write)")
      ->envname("PARLEY_IO_URING");
  app.add_option("--max-frame", c.maxFrameBytes,
                 "Largest WebSocket message accepted, in bytes (larger: close 1009)")
      ->envname("PARLEY_MAX_FRAME")
      ->check(CLI::Range(std::size_t{128}, std::size_t{16} << 20));
  app.add_option("--max-content", c.maxContentChars,
                 "Longest message content, in characters (longer: error content_too_long)")
      ->envname("PARLEY_MAX_CONTENT")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20));
  app.add_option("--max-outbound", c.maxOutboundBytes,
                 "Outbound queue limit per connection, in bytes (past it: close 4008)")
      ->envname("PARLEY_MAX_OUTBOUND")
      ->check(CLI::Range(std::size_t{4096}, std::size_t{1} << 30));
  app.add_option("--max-connections", c.maxConnections,
                 "Most simultaneous connections (0 = the open-file limit less headroom)")
      ->envname("PARLEY_MAX_CONNECTIONS");
  app.add_option("--max-connections-per-ip", c.maxConnectionsPerIp,
                 "TCP connections one client address may hold at once (HTTP and WebSocket); "
                 "0 = no bound")
      ->envname("PARLEY_MAX_CONNECTIONS_PER_IP");
  app.add_option("--max-message-rate", c.maxMessageRate,
                 "Chat messages per second per connection, bursts of twice that (over it: error "
                 "rate_limited); 0 = no limit")
      ->envname("PARLEY_MAX_MESSAGE_RATE")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--max-user-message-rate", c.maxUserMessageRate,
                 "Chat messages per second per user name across all its connections, bursts of "
                 "twice that (over it: error rate_limited); 0 = no limit")
      ->envname("PARLEY_MAX_USER_MESSAGE_RATE")
      ->check(CLI::Range(0.0, 1'000'000.0));
  app.add_option("--max-address-message-rate", c.maxAddressMessageRate,
                 "Chat messages per second per client address across all its connections, bursts "
                 "of twice that (over it: error rate_limited); raise it for offices behind one NAT "
                 "address; 0 = no limit")
      ->envname("PARLEY_MAX_ADDRESS_MESSAGE_RATE")
      ->check(CLI::Range(0.0, 1'000'000.0));
  app.add_option("--max-partial-frame-memory", c.maxPartialFrameMemory,
                 "Bytes one shard lets its connections hold in frames not yet complete (past it, "
                 "the connection whose data would exceed it is closed with 1008); 0 = no bound")
      ->envname("PARLEY_MAX_PARTIAL_FRAME_MEMORY");
  app.add_option_function<double>(
         "--frame-timeout",
         [&c](double seconds) {
           c.frameTimeout = std::chrono::milliseconds(static_cast<long long>(seconds * 1000.0));
         },
         "Time a client has to complete a frame (or fragmented message) once its first bytes "
         "arrived; past it: close 1008 (seconds, default 10; 0 = no deadline)")
      ->envname("PARLEY_FRAME_TIMEOUT")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--max-rooms-per-connection", c.maxRoomsPerConnection,
                 "Most rooms one connection to /ws may subscribe to (more: error too_many_rooms)")
      ->envname("PARLEY_MAX_ROOMS_PER_CONNECTION")
      ->check(CLI::Range(std::size_t{1}, std::size_t{10000}));
  addSeconds(app, "--handshake-timeout", c.handshakeTimeout, "PARLEY_HANDSHAKE_TIMEOUT",
             "Time allowed for an HTTP request or WebSocket handshake");
  addSeconds(app, "--ping-interval", c.pingInterval, "PARLEY_PING_INTERVAL",
             "Silence after which the server pings a WebSocket");
  addSeconds(app, "--idle-timeout", c.idleTimeout, "PARLEY_IDLE_TIMEOUT",
             "Silence after which a WebSocket is closed with 4002");
  addSeconds(app, "--shutdown-grace", c.shutdownGrace, "PARLEY_SHUTDOWN_GRACE",
             "Time given to clients to acknowledge the 1001 close on shutdown");
  app.add_option("--db", c.db,
                 "Message store: sqlite:PATH, postgres://user:pass@host:port/db, or none")
      ->envname("PARLEY_DB");
  app.add_option(
         "--cluster", c.cluster,
         "Run as one instance of a cluster: Redis address(es), redis://HOST:PORT[,HOST:PORT] "
         "(one: a single Redis; several, or a node of one: a Redis Cluster). Needs --db "
         "postgres://...")
      ->envname("PARLEY_CLUSTER");
  app.add_option("--instance-id", c.instanceId,
                 "This instance's name in the cluster (default: host name and a random suffix)")
      ->envname("PARLEY_INSTANCE_ID");
  app.add_option("--cluster-lease-ms", c.clusterLeaseMs,
                 "How long an instance's hold on a room bucket lasts without renewal")
      ->envname("PARLEY_CLUSTER_LEASE_MS")
      ->check(CLI::Range(std::int64_t{2000}, std::int64_t{600'000}));
  app.add_option("--commit-linger-ms", c.commitLingerMs,
                 "Longest wait of a commit for the rest of a wave of messages under heavy load "
                 "(default: 15 with --cluster, 0 without; 0: never)")
      ->envname("PARLEY_COMMIT_LINGER_MS")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{100}));
  app.add_option("--history-on-join", c.historyOnJoin,
                 "Messages sent to a client when it joins (0: none)")
      ->envname("PARLEY_HISTORY_ON_JOIN")
      ->check(CLI::Range(std::size_t{0}, std::size_t{200}));
  app.add_option("--max-replay", c.maxReplay,
                 "Most messages replayed to a client resuming with ?since=")
      ->envname("PARLEY_MAX_REPLAY")
      ->check(CLI::Range(std::size_t{1}, std::size_t{100000}));
  app.add_option("--retention-messages", c.retentionMessages,
                 "Keep at most this many messages per room (0: all)")
      ->envname("PARLEY_RETENTION_MESSAGES");
  app.add_option("--retention-days", c.retentionDays,
                 "Delete messages older than this many days (0: never)")
      ->envname("PARLEY_RETENTION_DAYS")
      ->check(CLI::NonNegativeNumber);
  addSeconds(app, "--retention-interval", c.retentionInterval, "PARLEY_RETENTION_INTERVAL",
             "How often retention runs");
  auto* fsync =
      app.add_option("--fsync", c.fsync,
                     "SQLite: none (never sync: a process crash loses nothing, an OS crash may "
                     "lose the last seconds), batch (one fdatasync per group commit before it "
                     "is delivered) or always (batch, and every SQLite transaction synced too)")
          ->envname("PARLEY_FSYNC")
          ->check(CLI::IsMember({"none", "batch", "always"}));
  std::string authMode = "open";
  app.add_option("--auth", authMode,
                 "open: ?username= as before, tokens verified when given; required: every "
                 "WebSocket needs a valid token (its name is the account's)")
      ->envname("PARLEY_AUTH")
      ->check(CLI::IsMember({"open", "required"}));
  app.add_option("--jwt-secret", c.jwtSecret,
                 "HMAC key for tokens, at least 32 bytes; servers sharing users share it "
                 "(default: random per process: tokens do not survive a restart)")
      ->envname("PARLEY_JWT_SECRET");
  app.add_option("--token-ttl", c.tokenTtlSeconds,
                 "Lifetime of a token in seconds; a WebSocket is closed with 4001 when its "
                 "token expires")
      ->envname("PARLEY_TOKEN_TTL")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{366} * 86'400));
  app.add_option("--login-rate", c.loginAttemptsPerMinute,
                 "Register and login attempts per minute per client address (bursts of as many; "
                 "over it: 429)")
      ->envname("PARLEY_LOGIN_RATE")
      ->check(CLI::Range(0.1, 100000.0));
  app.add_option("--login-account-budget", c.loginAccountBudget,
                 "Wrong passwords an hour for one name from addresses that have not logged into "
                 "it lately (bursts of as many); past it only those addresses may try (429)")
      ->envname("PARLEY_LOGIN_ACCOUNT_BUDGET")
      ->check(CLI::Range(1.0, 1000000.0));
  app.add_option("--allowed-origins", c.allowedOrigins,
                 "Web origins allowed to open a WebSocket (scheme://host[:port], comma-separated, "
                 "or *); default: this server's own origin. Clients without Origin unaffected")
      ->envname("PARLEY_ALLOWED_ORIGINS")
      ->delimiter(',');
  app.add_option("--auth-queue", c.authQueue,
                 "Register and login attempts that may wait for the password hasher (~0.1 s "
                 "each; past it: 503 auth_busy)")
      ->envname("PARLEY_AUTH_QUEUE")
      ->check(CLI::Range(std::size_t{1}, std::size_t{10000}));
  app.add_option("--jwks", c.jwks,
                 "Also accept RS256/ES256 tokens from the application's identity provider, "
                 "checked against this JSON Web Key Set: a file, or an http(s):// URL fetched "
                 "again periodically and when a token names an unknown key (at most every 5 s)")
      ->envname("PARLEY_JWKS");
  app.add_option("--token-issuer", c.tokenIssuer,
                 "With --jwks: the \"iss\" those tokens must carry (the provider's issuer URL)")
      ->envname("PARLEY_TOKEN_ISSUER");
  app.add_option("--token-audience", c.tokenAudience,
                 "With --jwks: a value the tokens' \"aud\" must hold (Parley's resource name)")
      ->envname("PARLEY_TOKEN_AUDIENCE");
  app.add_option("--token-name-claim", c.tokenNameClaim,
                 "With --jwks: the claim naming the user (\"sub\" when a token lacks it)")
      ->envname("PARLEY_TOKEN_NAME_CLAIM");
  app.add_option("--token-clock-skew", c.tokenClockSkewSeconds,
                 "With --jwks: seconds allowed between the provider's clock and this server's "
                 "for exp, nbf and iat")
      ->envname("PARLEY_TOKEN_CLOCK_SKEW")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{600}));
  app.add_option_function<double>(
         "--jwks-refresh",
         [&c](double seconds) {
           c.jwksRefresh = std::chrono::milliseconds(static_cast<long long>(seconds * 1000.0));
         },
         "With --jwks: how often the key set is fetched again (seconds, default 600)")
      ->envname("PARLEY_JWKS_REFRESH")
      ->check(CLI::Range(1.0, 86400.0));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    exitCode = app.exit(e);
    return std::nullopt;
  }
  if (c.threads == 0) c.threads = std::max(1u, std::thread::hardware_concurrency());
  if (c.threads > 64) {
    std::fprintf(stderr, "--threads: at most 64 shards\n");
    exitCode = 2;
    return std::nullopt;
  }
  c.authRequired = authMode == "required";
  if (fsync->count() > 0 && !c.db.starts_with("sqlite:")) {
    std::fprintf(stderr,
                 "--fsync: applies to --db sqlite:PATH only (PostgreSQL syncs as its own "
                 "fsync and synchronous_commit say)\n");
    exitCode = 2;
    return std::nullopt;
  }
  if (!c.cluster.empty() && !c.db.starts_with("postgres")) {
    std::fprintf(stderr,
                 "--cluster: needs --db postgres://... (every instance must share one store: "
                 "PostgreSQL is the cluster's durable truth; SQLite and none are one process's)\n");
    exitCode = 2;
    return std::nullopt;
  }
  if (c.cluster.empty() && !c.instanceId.empty()) {
    std::fprintf(stderr, "--instance-id: only with --cluster\n");
    exitCode = 2;
    return std::nullopt;
  }
  if (!c.instanceId.empty() &&
      (c.instanceId.size() > 64 ||
       c.instanceId.find_first_not_of(
           "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
           std::string::npos)) {
    std::fprintf(stderr, "--instance-id: 1 to 64 of A-Z a-z 0-9 . _ -\n");
    exitCode = 2;
    return std::nullopt;
  }
  if (!c.jwtSecret.empty() && c.jwtSecret.size() < 32) {
    std::fprintf(stderr, "--jwt-secret: at least 32 bytes (a random hex string of 64 is good)\n");
    exitCode = 2;
    return std::nullopt;
  }
  if (!c.jwks.empty() && (c.tokenIssuer.empty() || c.tokenAudience.empty())) {
    std::fprintf(stderr,
                 "--jwks: give --token-issuer and --token-audience too (a token signed by those "
                 "keys for another issuer or service must not count here)\n");
    exitCode = 2;
    return std::nullopt;
  }
  if (c.jwks.empty() && (!c.tokenIssuer.empty() || !c.tokenAudience.empty())) {
    std::fprintf(stderr, "--token-issuer, --token-audience: for tokens checked with --jwks\n");
    exitCode = 2;
    return std::nullopt;
  }
  if (c.tokenNameClaim.empty()) {
    std::fprintf(stderr, "--token-name-claim: name a claim\n");
    exitCode = 2;
    return std::nullopt;
  }
  if (const char* key = std::getenv("PARLEY_API_KEY"); key && *key) {
    c.apiKey = key;
    if (c.apiKey.size() < 16) {
      std::fprintf(stderr,
                   "PARLEY_API_KEY: at least 16 bytes (a random hex string of 64 is good)\n");
      exitCode = 2;
      return std::nullopt;
    }
  }
  if (c.maxConnections == 0) c.maxConnections = defaultMaxConnections();
  if (c.idleTimeout <= c.pingInterval) {
    std::fprintf(stderr, "--idle-timeout must be longer than --ping-interval\n");
    exitCode = 2;
    return std::nullopt;
  }
  return c;
}

}  // namespace parley::app
