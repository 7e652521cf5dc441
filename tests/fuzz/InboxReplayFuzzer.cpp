// fuzz_inbox_replay: the SQLite inbox's crash recovery (store/SqliteInbox), through the public
// API only: a database file with some messages already stored, inbox logs beside it as a crash
// could leave them (records written by SqliteInbox::encodeRecord, then torn, bit-flipped,
// followed by junk, some of it with a valid checksum), then `SqliteStore(path)` opens it as the
// server does. Checks:
// - decodeLog on any bytes (the raw input too) gives records that, encoded again, are exactly
//   the bytes they came from, in order from the start; and it stops only where the next record
//   is cut short, fails its CRC or its lengths do not add up;
// - every record before the first damaged one is decoded;
// - the open either succeeds, and then every room holds exactly what was stored plus each
//   decoded record with an id past its room's last stored one, and the logs are emptied (and
//   removed when the store closes); or it throws, exactly when those records are ones the
//   database must refuse (an id out of range, a NUL, the same id twice), and then nothing is
//   stored and the logs are left as they were (nothing is dropped before the database has it).
// Input: structured (FuzzedDataProvider): the stored messages, the logged records, the damage.
#include <fuzzer/FuzzedDataProvider.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "FuzzSupport.h"
#include "store/MessageStore.h"
#include "store/SqliteInbox.h"
#include "store/SqliteStore.h"
#include "store/StoreConnection.h"

namespace {

namespace fs = std::filesystem;
using parley::store::SqliteInbox;
using parley::store::SqliteStore;
using parley::store::StoredMessage;

const char* const kRooms[] = {"general", "random", "caf\xC3\xA9", "r-4"};

// One directory per process, emptied before each input, removed at exit.
const fs::path& workDir() {
  static const fs::path dir = [] {
    const fs::path base = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    fs::path d = base / ("parley-fuzz-inbox-" + std::to_string(::getpid()));
    fs::remove_all(d);
    fs::create_directories(d);
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(workDir(), ec);
    });
    return d;
  }();
  return dir;
}

std::string readFile(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

void writeFile(const fs::path& p, std::string_view bytes) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::uint32_t load32(const char* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// decodeLog's contract, checked on any bytes.
std::vector<StoredMessage> checkedDecode(std::string_view bytes) {
  std::vector<StoredMessage> out = SqliteInbox::decodeLog(bytes);
  std::string again;
  for (const auto& m : out) SqliteInbox::encodeRecord(m, again);
  FUZZ_CHECK(again.size() <= bytes.size() && bytes.substr(0, again.size()) == again,
             "%zu decoded records do not encode to the log's first %zu bytes", out.size(),
             again.size());
  // Where it stopped, the next record must be broken: cut short, wrong CRC, or lengths that do
  // not add up to its size. (Layout: docs in SqliteInbox.h.)
  const std::string_view rest = bytes.substr(again.size());
  if (rest.size() >= 8) {
    const std::uint32_t size = load32(rest.data());
    bool broken = size < 32 || rest.size() - 8 < size;
    if (!broken) {
      const auto* p = reinterpret_cast<const Bytef*>(rest.data() + 8);
      broken = static_cast<std::uint32_t>(crc32(0L, p, size)) != load32(rest.data() + 4);
      std::uint64_t total = 32;
      for (int i = 0; i < 4; ++i) total += load32(rest.data() + 8 + 16 + 4 * i);
      broken = broken || total != size;
    }
    FUZZ_CHECK(broken, "decodeLog stopped at a whole record (%zu bytes in)", again.size());
  }
  return out;
}

struct Log {
  std::string bytes;
  std::vector<StoredMessage> records;
  std::vector<std::size_t> ends;  // where each record ends in `bytes`, before any damage
};

void damage(FuzzedDataProvider& in, Log& log, std::size_t& intact) {
  intact = log.records.size();
  // The first record that ends past `offset` (the one holding that byte): it and all after it are
  // no longer whole.
  auto recordAt = [&](std::size_t offset) {
    return static_cast<std::size_t>(std::upper_bound(log.ends.begin(), log.ends.end(), offset) -
                                    log.ends.begin());
  };
  if (in.ConsumeBool() && !log.bytes.empty()) {  // torn: cut at any byte
    const std::size_t cut = in.ConsumeIntegral<std::uint16_t>() % (log.bytes.size() + 1);
    log.bytes.resize(cut);
    intact = std::min(intact, recordAt(cut));  // the records ending at or before the cut
  }
  const int flips = in.ConsumeIntegralInRange(0, 3);
  for (int i = 0; i < flips && !log.bytes.empty(); ++i) {
    const std::size_t at = in.ConsumeIntegral<std::uint16_t>() % log.bytes.size();
    log.bytes[at] =
        static_cast<char>(log.bytes[at] ^ (1 + in.ConsumeIntegral<std::uint8_t>() % 255));
    intact = std::min(intact, recordAt(at));
  }
  if (in.ConsumeBool()) log.bytes += in.ConsumeRandomLengthString(24);  // junk after the end
  if (in.ConsumeBool()) {
    // Junk that passes its checksum (a CRC collision, or a disk that rewrote a whole sector):
    // only its lengths can tell; decodeLog must not read past it.
    std::string payload = in.ConsumeBytesAsString(32 + in.ConsumeIntegralInRange(0, 48));
    payload.resize(std::max<std::size_t>(payload.size(), 32));
    const auto size = static_cast<std::uint32_t>(payload.size());
    const auto crc = static_cast<std::uint32_t>(
        crc32(0L, reinterpret_cast<const Bytef*>(payload.data()), static_cast<uInt>(size)));
    log.bytes.append(reinterpret_cast<const char*>(&size), 4);
    log.bytes.append(reinterpret_cast<const char*>(&crc), 4);
    log.bytes += payload;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  checkedDecode(std::string_view(reinterpret_cast<const char*>(data), size));

  FuzzedDataProvider in(data, size);
  // What the database holds already: ids 1..n per room.
  std::map<std::string, std::vector<StoredMessage>> stored;
  std::vector<StoredMessage> storedBatch;
  std::string storedKey;  // the counts per room: names the database file built from them
  for (const char* room : kRooms) {
    const int n = in.ConsumeIntegralInRange(0, 3);
    storedKey += static_cast<char>('0' + n);
    for (int id = 1; id <= n; ++id) {
      StoredMessage m{static_cast<std::uint64_t>(id), room, "u" + std::to_string(id),
                      "stored " + std::to_string(id), "",   1'700'000'000'000 + id};
      stored[room].push_back(m);
      storedBatch.push_back(m);
    }
  }
  // The logs: records as appends would have written them, and then what a crash or a bad disk
  // did to them.
  Log logs[2];
  std::map<std::string, std::uint64_t> nextId;
  for (const char* room : kRooms) nextId[room] = stored[room].size() + 1;
  const int records = in.ConsumeIntegralInRange(0, 12);
  for (int i = 0; i < records; ++i) {
    StoredMessage m;
    m.room = kRooms[in.ConsumeIntegralInRange(0, 3)];
    std::uint64_t& next = nextId[m.room];
    switch (in.ConsumeIntegralInRange(0, 15)) {
      case 0:  // out of range: the database refuses it
        m.id = in.ConsumeBool() ? 0 : (std::uint64_t{1} << 63) + in.ConsumeIntegral<std::uint8_t>();
        break;
      case 1:  // one stored already (an ingest committed, its log not yet emptied)
        m.id = 1 + in.ConsumeIntegralInRange<std::uint64_t>(0, next - 1);
        break;
      case 2:  // the id of the room's previous record again
        m.id = next > 1 ? next - 1 : 1;
        break;
      case 3:  // a gap
        m.id = next + 1 + in.ConsumeIntegralInRange(0, 3);
        next = m.id + 1;
        break;
      default:
        m.id = next++;
    }
    m.username = in.ConsumeRandomLengthString(12);
    m.content = in.ConsumeRandomLengthString(40);
    m.clientId = in.ConsumeRandomLengthString(8);
    m.unixMillis = in.ConsumeIntegral<std::int64_t>();
    Log& log = logs[in.ConsumeBool()];
    SqliteInbox::encodeRecord(m, log.bytes);
    log.records.push_back(std::move(m));
    log.ends.push_back(log.bytes.size());
  }
  std::size_t intact[2];
  for (int i = 0; i < 2; ++i) damage(in, logs[i], intact[i]);

  // What recovery must find: each log's records up to where it is broken.
  std::vector<StoredMessage> found;
  for (int i = 0; i < 2; ++i) {
    std::vector<StoredMessage> decoded = checkedDecode(logs[i].bytes);
    FUZZ_CHECK(decoded.size() >= intact[i] &&
                   std::equal(logs[i].records.begin(), logs[i].records.begin() + intact[i],
                              decoded.begin()),
               "log %d: %zu records decoded, the first %zu undamaged ones not among them", i,
               decoded.size(), intact[i]);
    for (auto& m : decoded) found.push_back(std::move(m));
  }
  // Recovery's contract: what the database lacks (ids past each room's last stored one) goes
  // in, all in one transaction, or the open fails and nothing does.
  std::map<std::string, std::vector<StoredMessage>> expected = stored;
  std::set<std::pair<std::string, std::uint64_t>> ids;
  bool refusable = false;
  for (const auto& m : found) {
    const auto it = stored.find(m.room);
    const std::uint64_t last = it == stored.end() ? 0 : it->second.size();
    if (m.id <= last) continue;
    refusable = refusable || !parley::store::validateBatch({&m, 1}).empty() ||
                !ids.emplace(m.room, m.id).second;
    expected[m.room].push_back(m);
  }
  for (auto& [room, messages] : expected)
    std::sort(messages.begin(), messages.end(),
              [](const auto& a, const auto& b) { return a.id < b.id; });

  const fs::path& dir = workDir();
  for (const auto& entry : fs::directory_iterator(dir)) fs::remove_all(entry.path());
  const std::string db = (dir / "chat.db").string();
  if (!storedBatch.empty()) {
    // Built once per combination of counts, then copied: a third of the time per input otherwise.
    static std::map<std::string, std::string> built;
    auto it = built.find(storedKey);
    if (it == built.end()) {
      {
        SqliteStore direct(db);  // a plain store: every append a transaction on the file
        FUZZ_CHECK(direct.append(storedBatch).ok, "could not store the first messages");
      }  // closed: the WAL is checkpointed into the file and removed
      FUZZ_CHECK(!fs::exists(db + "-wal"), "a closed database left its WAL");
      it = built.emplace(storedKey, readFile(db)).first;
    } else {
      writeFile(db, it->second);
    }
  }
  for (int i = 0; i < 2; ++i) writeFile(db + "-inbox-" + std::to_string(i), logs[i].bytes);

  auto checkRooms = [&](parley::store::MessageStore& store,
                        const std::map<std::string, std::vector<StoredMessage>>& want) {
    for (const char* room : kRooms) {
      std::vector<StoredMessage> got;
      FUZZ_CHECK(store.after(room, 0, 1000, got).ok, "read failed");
      const auto it = want.find(room);
      const std::vector<StoredMessage> none;
      const auto& w = it == want.end() ? none : it->second;
      FUZZ_CHECK(got == w, "room %s holds %zu messages, expected %zu", room, got.size(), w.size());
    }
  };

  bool threw = false;
  try {
    // The server's SQLite store (InboxStore): opens the logs and recovers.
    auto opened = parley::store::openStore("sqlite:" + db);
    auto& store = *opened;
    for (int i = 0; i < 2; ++i)
      FUZZ_CHECK(fs::file_size(db + "-inbox-" + std::to_string(i)) == 0,
                 "log %d not emptied after recovery", i);
    checkRooms(store, expected);
  } catch (const std::runtime_error& e) {
    threw = true;
    FUZZ_CHECK(refusable, "recovery failed on records the database should take: %s", e.what());
  }
  if (threw) {
    for (int i = 0; i < 2; ++i)
      FUZZ_CHECK(readFile(db + "-inbox-" + std::to_string(i)) == logs[i].bytes,
                 "log %d changed by a recovery that failed", i);
    SqliteStore direct(db);
    checkRooms(direct, stored);
  } else {
    FUZZ_CHECK(!refusable, "recovery stored records the database must refuse");
    for (int i = 0; i < 2; ++i)
      FUZZ_CHECK(!fs::exists(db + "-inbox-" + std::to_string(i)),
                 "log %d left behind by a clean close", i);
  }
  return 0;
}
