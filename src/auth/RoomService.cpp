#include "auth/RoomService.h"

#include <cstdio>
#include <utility>
#include <vector>

#include "auth/AccountDirectory.h"
#include "auth/RoomAccess.h"
#include "store/AccountStore.h"
#include "store/StoreConnection.h"

namespace parley::auth {

using store::RoomRole;

RoomService::RoomService(std::unique_ptr<store::StoreConnection> rooms, RoomAccess& access,
                         const AccountDirectory& names, std::function<std::int64_t()> nowMillis,
                         std::size_t maxQueued)
    : store_(std::move(rooms)),
      access_(access),
      names_(names),
      nowMillis_(std::move(nowMillis)),
      worker_("rooms", maxQueued, &RoomService::run) {
  if (store_) {
    std::vector<store::RegisteredRoom> all;
    if (auto st = store_->loadRooms(all); !st.ok)
      throw std::runtime_error("cannot read the registered rooms: " + st.error);
    access_.load(std::move(all));
  }
}

RoomService::~RoomService() = default;

bool RoomService::reload(std::function<void(bool ok)> then) {
  return submit(
      [this, then = std::move(then)] {
        bool ok = true;
        if (store_) {
          std::vector<store::RegisteredRoom> all;
          ok = store_->loadRooms(all).ok;
          if (ok) access_.load(std::move(all));
        }
        then(ok);
        return RoomResult{};
      },
      [](RoomResult) {});
}

bool RoomService::submit(Work work, Done done) {
  return worker_.submit({std::move(work), std::move(done)});
}

void RoomService::run(Job& job, bool stopping) {
  RoomResult result;
  if (stopping)
    result.error = "server is shutting down";
  else
    result = job.work();
  if (!stopping && result.outcome == RoomOutcome::Unavailable)
    std::fprintf(stderr, "rooms: a change failed: %s\n", result.error.c_str());
  job.done(std::move(result));
}

bool RoomService::create(std::string actor, std::string room, bool isPrivate, Done done) {
  return submit([this, actor = std::move(actor), room = std::move(room),
                 isPrivate] { return doCreate(actor, room, isPrivate); },
                std::move(done));
}
bool RoomService::openDirect(std::string actor, std::string other, Done done) {
  return submit([this, actor = std::move(actor),
                 other = std::move(other)] { return doOpenDirect(actor, other); },
                std::move(done));
}
bool RoomService::addMember(std::string actor, std::string room, std::string user, RoomRole role,
                            Done done) {
  return submit([this, actor = std::move(actor), room = std::move(room), user = std::move(user),
                 role] { return doAddMember(actor, room, user, role); },
                std::move(done));
}
bool RoomService::removeMember(std::string actor, std::string room, std::string user, Done done) {
  return submit([this, actor = std::move(actor), room = std::move(room),
                 user = std::move(user)] { return doRemoveMember(actor, room, user); },
                std::move(done));
}
bool RoomService::ban(std::string actor, std::string room, std::string user, Done done) {
  return submit([this, actor = std::move(actor), room = std::move(room),
                 user = std::move(user)] { return doBan(actor, room, user); },
                std::move(done));
}
bool RoomService::unban(std::string actor, std::string room, std::string user, Done done) {
  return submit([this, actor = std::move(actor), room = std::move(room),
                 user = std::move(user)] { return doUnban(actor, room, user); },
                std::move(done));
}

std::optional<std::string> RoomService::accountName(const std::string& name, RoomResult& failed) {
  if (!store_) {
    // --db none: the accounts live on the auth thread; the directory knows which names have one.
    if (names_.hasName(name)) return name;
    return std::nullopt;
  }
  std::vector<store::Account> found;
  if (auto st = store_->findAccounts(store::accountKey(name), found); !st.ok) {
    failed.error = st.error;
    return std::nullopt;
  }
  const std::vector<const store::Account*> named = store::accountsNamed(found, name);
  if (named.empty()) return std::nullopt;
  return named.front()->username;
}

RoomOutcome RoomService::managerRole(const std::string& actor, const std::string& room,
                                     std::optional<RoomRole>& role, bool& direct) {
  const std::optional<store::RegisteredRoom> r = access_.find(room);
  if (!r) return RoomAccess::isDirectName(room) ? RoomOutcome::NotAMember : RoomOutcome::NoSuchRoom;
  // The server API manages any registered room as its owner (a DM's members stay fixed).
  role = actor == kServerActor ? std::optional<RoomRole>(RoomRole::Owner)
                               : access_.roleOf(room, actor);
  direct = r->direct;
  if (r->isPrivate && !role) return RoomOutcome::NotAMember;
  return RoomOutcome::Ok;
}

RoomResult RoomService::doCreate(const std::string& actor, const std::string& room,
                                 bool isPrivate) {
  RoomResult r;
  r.room = room;
  if (access_.find(room)) {
    r.outcome = RoomOutcome::RoomExists;
    return r;
  }
  const std::optional<std::string> owner = accountName(actor, r);
  if (!owner) {
    if (r.error.empty()) r.outcome = RoomOutcome::NoSuchUser;  // (a token of a deleted account)
    return r;
  }
  store::RegisteredRoom reg;
  reg.room = room;
  reg.isPrivate = isPrivate;
  reg.createdMillis = nowMillis_();
  reg.members.push_back({store::accountKey(*owner), *owner, RoomRole::Owner});
  if (store_) {
    // A room with stored messages is someone's already (a public room in use).
    std::uint64_t last = 0;
    if (auto st = store_->lastId(room, last); !st.ok) {
      r.error = st.error;
      return r;
    }
    if (last > 0) {
      r.outcome = RoomOutcome::RoomExists;
      return r;
    }
    bool created = false;
    if (auto st = store_->createRoom(reg, created); !st.ok) {
      r.error = st.error;
      return r;
    }
    if (!created) {  // registered by another server sharing the database
      r.outcome = RoomOutcome::RoomExists;
      return r;
    }
  }
  access_.putRoom(std::move(reg));
  r.outcome = RoomOutcome::Ok;
  r.username = *owner;
  r.role = RoomRole::Owner;
  // A join checked in the moment before the room became private is cut now.
  r.evict = isPrivate;
  return r;
}

RoomResult RoomService::doOpenDirect(const std::string& actor, const std::string& other) {
  RoomResult r;
  const std::optional<std::string> me = accountName(actor, r);
  if (!me) {
    if (r.error.empty()) r.outcome = RoomOutcome::NoSuchUser;
    return r;
  }
  const std::optional<std::string> them = accountName(other, r);
  if (!them) {
    if (r.error.empty()) r.outcome = RoomOutcome::NoSuchUser;
    return r;
  }
  const std::string myKey = store::accountKey(*me);
  const std::string theirKey = store::accountKey(*them);
  if (myKey == theirKey) {
    r.outcome = RoomOutcome::Self;
    return r;
  }
  r.room = RoomAccess::directRoomName(myKey, theirKey);
  r.username = *them;
  if (access_.find(r.room)) {
    r.outcome = RoomOutcome::Ok;
    return r;
  }
  store::RegisteredRoom reg;
  reg.room = r.room;
  reg.isPrivate = true;
  reg.direct = true;
  reg.createdMillis = nowMillis_();
  reg.members.push_back({myKey, *me, RoomRole::Member});
  reg.members.push_back({theirKey, *them, RoomRole::Member});
  if (store_) {
    bool created = false;
    if (auto st = store_->createRoom(reg, created); !st.ok) {
      r.error = st.error;
      return r;
    }
    if (!created) {
      // Another server sharing the database made it meanwhile: take it as it is stored.
      std::vector<store::RegisteredRoom> all;
      if (auto st = store_->loadRooms(all); !st.ok) {
        r.error = st.error;
        return r;
      }
      for (auto& one : all)
        if (one.room == r.room) reg = std::move(one);
    }
  }
  access_.putRoom(std::move(reg));
  r.outcome = RoomOutcome::Ok;
  r.created = true;
  return r;
}

RoomResult RoomService::doAddMember(const std::string& actor, const std::string& room,
                                    const std::string& user, RoomRole role) {
  RoomResult r;
  r.room = room;
  std::optional<RoomRole> mine;
  bool direct = false;
  if ((r.outcome = managerRole(actor, room, mine, direct)) != RoomOutcome::Ok) return r;
  r.outcome = RoomOutcome::Unavailable;
  if (direct) {
    r.outcome = RoomOutcome::DirectRoom;
    return r;
  }
  // Owners add members and admins; admins add members.
  if (!mine || *mine == RoomRole::Member ||
      (role != RoomRole::Member && *mine != RoomRole::Owner)) {
    r.outcome = RoomOutcome::NotAllowed;
    return r;
  }
  const std::optional<std::string> name = accountName(user, r);
  if (!name) {
    if (r.error.empty()) r.outcome = RoomOutcome::NoSuchUser;
    return r;
  }
  const std::string key = store::accountKey(*name);
  const std::optional<store::RegisteredRoom> reg = access_.find(room);
  for (const store::RoomBan& b : reg->bans)
    if (b.userKey == key) {
      r.outcome = RoomOutcome::UserBanned;
      return r;
    }
  if (const auto theirs = access_.roleOf(room, *name)) {
    if (*theirs == RoomRole::Owner) {
      r.outcome = RoomOutcome::OwnerFixed;
      return r;
    }
    // An admin's role is the owner's to change.
    if (*theirs == RoomRole::Admin && *mine != RoomRole::Owner) {
      r.outcome = RoomOutcome::NotAllowed;
      return r;
    }
  }
  const store::RoomGrant grant{key, *name, role};
  if (store_)
    if (auto st = store_->putMember(room, grant); !st.ok) {
      r.error = st.error;
      return r;
    }
  access_.putMember(room, grant);
  r.outcome = RoomOutcome::Ok;
  r.username = *name;
  r.role = role;
  return r;
}

RoomResult RoomService::doRemoveMember(const std::string& actor, const std::string& room,
                                       const std::string& user) {
  RoomResult r;
  r.room = room;
  std::optional<RoomRole> mine;
  bool direct = false;
  if ((r.outcome = managerRole(actor, room, mine, direct)) != RoomOutcome::Ok) return r;
  if (direct) {
    r.outcome = RoomOutcome::DirectRoom;
    return r;
  }
  const std::string key = store::accountKey(user);
  const std::optional<RoomRole> theirs = access_.roleOf(room, user);
  if (!theirs) {
    // A stranger to a public room may not learn its members by trying names either.
    r.outcome = mine ? RoomOutcome::NoSuchMember : RoomOutcome::NotAllowed;
    return r;
  }
  const bool self = key == store::accountKey(actor);
  if (*theirs == RoomRole::Owner) {
    r.outcome = RoomOutcome::OwnerFixed;
    return r;
  }
  // Anyone may leave; owners remove anyone else; admins remove members.
  const bool allowed =
      self || (mine && (*mine == RoomRole::Owner ||
                        (*mine == RoomRole::Admin && *theirs == RoomRole::Member)));
  if (!allowed) {
    r.outcome = RoomOutcome::NotAllowed;
    return r;
  }
  if (store_)
    if (auto st = store_->removeMember(room, key); !st.ok) {
      r.outcome = RoomOutcome::Unavailable;
      r.error = st.error;
      return r;
    }
  const std::optional<store::RegisteredRoom> reg = access_.find(room);
  for (const store::RoomGrant& g : reg->members)
    if (g.userKey == key) r.username = g.username;
  access_.removeMember(room, key);
  r.outcome = RoomOutcome::Ok;
  r.evict = reg->isPrivate;
  return r;
}

RoomResult RoomService::doBan(const std::string& actor, const std::string& room,
                              const std::string& user) {
  RoomResult r;
  r.room = room;
  std::optional<RoomRole> mine;
  bool direct = false;
  if ((r.outcome = managerRole(actor, room, mine, direct)) != RoomOutcome::Ok) return r;
  if (direct) {
    r.outcome = RoomOutcome::DirectRoom;
    return r;
  }
  if (!mine || *mine == RoomRole::Member) {
    r.outcome = RoomOutcome::NotAllowed;
    return r;
  }
  // A name with an account is banned as registered; one without (a guest's, with --auth open)
  // as given: either way by its key, so every lookalike of it is banned too.
  RoomResult failed;
  std::string name = accountName(user, failed).value_or(user);
  if (!failed.error.empty()) {
    r.outcome = RoomOutcome::Unavailable;
    r.error = failed.error;
    return r;
  }
  const std::string key = store::accountKey(name);
  if (key == store::accountKey(actor)) {
    r.outcome = RoomOutcome::Self;
    return r;
  }
  if (const auto theirs = access_.roleOf(room, name)) {
    if (*theirs == RoomRole::Owner) {
      r.outcome = RoomOutcome::OwnerFixed;
      return r;
    }
    if (*theirs == RoomRole::Admin && *mine != RoomRole::Owner) {
      r.outcome = RoomOutcome::NotAllowed;
      return r;
    }
  }
  const store::RoomBan ban{key, name, nowMillis_()};
  if (store_)
    if (auto st = store_->putBan(room, ban); !st.ok) {
      r.outcome = RoomOutcome::Unavailable;
      r.error = st.error;
      return r;
    }
  access_.putBan(room, ban);
  r.outcome = RoomOutcome::Ok;
  r.username = name;
  r.evict = true;
  return r;
}

RoomResult RoomService::doUnban(const std::string& actor, const std::string& room,
                                const std::string& user) {
  RoomResult r;
  r.room = room;
  std::optional<RoomRole> mine;
  bool direct = false;
  if ((r.outcome = managerRole(actor, room, mine, direct)) != RoomOutcome::Ok) return r;
  if (!mine || *mine == RoomRole::Member || direct) {
    r.outcome = direct ? RoomOutcome::DirectRoom : RoomOutcome::NotAllowed;
    return r;
  }
  const std::string key = store::accountKey(user);
  const std::optional<store::RegisteredRoom> reg = access_.find(room);
  bool banned = false;
  for (const store::RoomBan& b : reg->bans)
    if (b.userKey == key) {
      banned = true;
      r.username = b.username;
    }
  if (!banned) {
    r.outcome = RoomOutcome::NoSuchBan;
    return r;
  }
  if (store_)
    if (auto st = store_->removeBan(room, key); !st.ok) {
      r.outcome = RoomOutcome::Unavailable;
      r.error = st.error;
      return r;
    }
  access_.removeBan(room, key);
  r.outcome = RoomOutcome::Ok;
  return r;
}

}  // namespace parley::auth
