#include "store/SqliteRoomTables.h"

#include <sqlite3.h>

#include <map>
#include <memory>

namespace parley::store {

namespace {

using Statement = std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)>;

Statement prepare(sqlite3* db, const char* sql) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &raw, nullptr) != SQLITE_OK) raw = nullptr;
  return Statement(raw, &sqlite3_finalize);
}

void bindText(sqlite3_stmt* s, int i, std::string_view v) {
  sqlite3_bind_text64(s, i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
}

std::string columnText(sqlite3_stmt* s, int col) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, col));
  return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s, col))) : std::string();
}

bool hasNul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

// Steps a statement that returns no rows.
bool done(const Statement& s) { return s && sqlite3_step(s.get()) == SQLITE_DONE; }

}  // namespace

StoreStatus SqliteRoomTables::failure(const char* what) const {
  return StoreStatus::failure(std::string("sqlite ") + what + ": " + sqlite3_errmsg(db_));
}

template <class Body>
StoreStatus SqliteRoomTables::transaction(const char* what, Body&& body) {
  if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK)
    return failure(what);
  if (!body()) {
    StoreStatus st = failure(what);
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return st;
  }
  if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    StoreStatus st = failure(what);
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return st;
  }
  return {};
}

StoreStatus SqliteRoomTables::createRoom(const RegisteredRoom& room, bool& created) {
  created = false;
  if (hasNul(room.room)) return StoreStatus::failure("sqlite createRoom: text contains a NUL byte");
  for (const RoomGrant& g : room.members)
    if (hasNul(g.userKey) || hasNul(g.username))
      return StoreStatus::failure("sqlite createRoom: text contains a NUL byte");
  return transaction("createRoom", [&] {
    Statement s = prepare(db_,
                          "INSERT INTO room_access (room, private, direct, created_ms) "
                          "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (room) DO NOTHING");
    if (!s) return false;
    bindText(s.get(), 1, room.room);
    sqlite3_bind_int(s.get(), 2, room.isPrivate ? 1 : 0);
    sqlite3_bind_int(s.get(), 3, room.direct ? 1 : 0);
    sqlite3_bind_int64(s.get(), 4, room.createdMillis);
    if (!done(s)) return false;
    created = sqlite3_changes(db_) == 1;
    if (!created) return true;  // taken: nothing to add
    Statement m = prepare(db_,
                          "INSERT INTO room_members (room, user_key, username, role) "
                          "VALUES (?1, ?2, ?3, ?4)");
    for (const RoomGrant& g : room.members) {
      if (!m) return false;
      sqlite3_reset(m.get());
      bindText(m.get(), 1, room.room);
      bindText(m.get(), 2, g.userKey);
      bindText(m.get(), 3, g.username);
      bindText(m.get(), 4, roomRoleName(g.role));
      if (!done(m)) return false;
    }
    return true;
  });
}

StoreStatus SqliteRoomTables::putMember(std::string_view room, const RoomGrant& grant) {
  if (hasNul(room) || hasNul(grant.userKey) || hasNul(grant.username))
    return StoreStatus::failure("sqlite putMember: text contains a NUL byte");
  Statement s = prepare(db_,
                        "INSERT INTO room_members (room, user_key, username, role) "
                        "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (room, user_key) DO UPDATE SET "
                        "username = excluded.username, role = excluded.role");
  if (!s) return failure("putMember");
  bindText(s.get(), 1, room);
  bindText(s.get(), 2, grant.userKey);
  bindText(s.get(), 3, grant.username);
  bindText(s.get(), 4, roomRoleName(grant.role));
  return done(s) ? StoreStatus{} : failure("putMember");
}

StoreStatus SqliteRoomTables::removeMember(std::string_view room, std::string_view userKey) {
  Statement s = prepare(db_, "DELETE FROM room_members WHERE room = ?1 AND user_key = ?2");
  if (!s) return failure("removeMember");
  bindText(s.get(), 1, room);
  bindText(s.get(), 2, userKey);
  return done(s) ? StoreStatus{} : failure("removeMember");
}

StoreStatus SqliteRoomTables::putBan(std::string_view room, const RoomBan& ban) {
  if (hasNul(room) || hasNul(ban.userKey) || hasNul(ban.username))
    return StoreStatus::failure("sqlite putBan: text contains a NUL byte");
  return transaction("putBan", [&] {
    Statement d = prepare(db_, "DELETE FROM room_members WHERE room = ?1 AND user_key = ?2");
    if (!d) return false;
    bindText(d.get(), 1, room);
    bindText(d.get(), 2, ban.userKey);
    if (!done(d)) return false;
    Statement s = prepare(db_,
                          "INSERT INTO room_bans (room, user_key, username, created_ms) "
                          "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (room, user_key) DO UPDATE SET "
                          "username = excluded.username");
    if (!s) return false;
    bindText(s.get(), 1, room);
    bindText(s.get(), 2, ban.userKey);
    bindText(s.get(), 3, ban.username);
    sqlite3_bind_int64(s.get(), 4, ban.createdMillis);
    return done(s);
  });
}

StoreStatus SqliteRoomTables::removeBan(std::string_view room, std::string_view userKey) {
  Statement s = prepare(db_, "DELETE FROM room_bans WHERE room = ?1 AND user_key = ?2");
  if (!s) return failure("removeBan");
  bindText(s.get(), 1, room);
  bindText(s.get(), 2, userKey);
  return done(s) ? StoreStatus{} : failure("removeBan");
}

StoreStatus SqliteRoomTables::loadRooms(std::vector<RegisteredRoom>& out) {
  out.clear();
  // One read transaction: the three tables as of one moment.
  if (sqlite3_exec(db_, "BEGIN", nullptr, nullptr, nullptr) != SQLITE_OK)
    return failure("loadRooms");
  auto fail = [&] {
    StoreStatus st = failure("loadRooms");
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    out.clear();
    return st;
  };
  std::map<std::string, std::size_t, std::less<>> index;
  {
    Statement s =
        prepare(db_, "SELECT room, private, direct, created_ms FROM room_access ORDER BY room");
    if (!s) return fail();
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
      RegisteredRoom& r = out.emplace_back();
      r.room = columnText(s.get(), 0);
      r.isPrivate = sqlite3_column_int(s.get(), 1) != 0;
      r.direct = sqlite3_column_int(s.get(), 2) != 0;
      r.createdMillis = sqlite3_column_int64(s.get(), 3);
      index.emplace(r.room, out.size() - 1);
    }
    if (rc != SQLITE_DONE) return fail();
  }
  {
    Statement s = prepare(
        db_, "SELECT room, user_key, username, role FROM room_members ORDER BY room, user_key");
    if (!s) return fail();
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
      auto it = index.find(columnText(s.get(), 0));
      if (it == index.end()) continue;  // (no such room: cannot be, the service writes both)
      out[it->second].members.push_back(
          {columnText(s.get(), 1), columnText(s.get(), 2),
           parseRoomRole(columnText(s.get(), 3)).value_or(RoomRole::Member)});
    }
    if (rc != SQLITE_DONE) return fail();
  }
  {
    Statement s = prepare(
        db_, "SELECT room, user_key, username, created_ms FROM room_bans ORDER BY room, user_key");
    if (!s) return fail();
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
      auto it = index.find(columnText(s.get(), 0));
      if (it == index.end()) continue;
      out[it->second].bans.push_back(
          {columnText(s.get(), 1), columnText(s.get(), 2), sqlite3_column_int64(s.get(), 3)});
    }
    if (rc != SQLITE_DONE) return fail();
  }
  sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
  return {};
}

}  // namespace parley::store
