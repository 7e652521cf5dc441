// A registered room's members and bans, under its people: who belongs (owner, admins, members),
// and for the owner and admins the controls the server allows them (add, remove, ban, lift a
// ban). Shows nothing for a public room nobody registered. Decides nothing itself: every change
// goes to the server (ChatClient.roomsApi), whose refusal is shown as it says it, and the list is
// read again after each change.
import { type FormEvent, useCallback, useEffect, useId, useState } from 'react';
import type { MemberList, Role, RoomBan, RoomMember } from '../roomsApi';
import { useClient } from '../useChat';

const ROLE_WORDS: Record<Role, string> = { owner: 'owner', admin: 'admin', member: 'member' };

export function RoomMembers({ room, self }: { room: string; self: string }) {
  const client = useClient();
  const id = useId();
  const [list, setList] = useState<MemberList | null>(null);
  const [bans, setBans] = useState<RoomBan[]>([]);
  const [error, setError] = useState('');
  const [name, setName] = useState('');
  const [role, setRole] = useState<'member' | 'admin'>('member');

  const load = useCallback(async () => {
    const a = await client.roomsApi.members(room);
    if (!a.ok || !a.value.registered) {
      setList(null);
      return;
    }
    setList(a.value);
    const mine = a.value.members.find((m) => m.username === self)?.role;
    if (mine === 'owner' || mine === 'admin') {
      const b = await client.roomsApi.bans(room);
      setBans(b.ok ? b.value : []);
    } else {
      setBans([]);
    }
  }, [client, room, self]);

  useEffect(() => {
    setList(null);
    setError('');
    void load();
  }, [load]);

  if (!list) return null;
  const myRole = list.members.find((m) => m.username === self)?.role;
  const manager = !list.direct && (myRole === 'owner' || myRole === 'admin');
  // What the server allows (docs/PROTOCOL.md, "Who may do what"); it checks again anyway.
  const mayActOn = (m: RoomMember) =>
    m.username !== self && m.role !== 'owner' && (myRole === 'owner' || (myRole === 'admin' && m.role === 'member'));

  const act = async (change: Promise<{ ok: boolean; message?: string }>) => {
    const a = await change;
    setError(a.ok ? '' : (a as { message: string }).message);
    await load();
    return a.ok;
  };
  const add = async (e: FormEvent) => {
    e.preventDefault();
    const who = name.trim();
    if (!who) return;
    if (await act(client.roomsApi.addMember(room, who, role))) setName('');
  };

  return (
    <section className="room-members" aria-labelledby={`${id}-h`}>
      <h3 id={`${id}-h`}>{list.direct ? 'Direct conversation' : list.isPrivate ? 'Members (private room)' : 'Room staff'}</h3>
      <ul aria-label="Members" className="people-list">
        {list.members.map((m) => (
          <li key={m.username} dir="auto">
            {m.username}{m.username === self && <span className="you"> (you)</span>}
            {!list.direct && <span className="role"> · {ROLE_WORDS[m.role]}</span>}
            {manager && mayActOn(m) && (
              <span className="member-actions">
                <button type="button" className="link-button" onClick={() => void act(client.roomsApi.removeMember(room, m.username))}
                        aria-label={`Remove ${m.username}`}>Remove</button>
                <button type="button" className="link-button" onClick={() => void act(client.roomsApi.ban(room, m.username))}
                        aria-label={`Ban ${m.username}`}>Ban</button>
              </span>
            )}
          </li>
        ))}
      </ul>
      {manager && (
        <>
          <form className="add-member" onSubmit={add}>
            <label htmlFor={`${id}-add`}>Add a person</label>
            <div className="row">
              <input id={`${id}-add`} value={name} onChange={(e) => setName(e.target.value)} maxLength={64} autoComplete="off" placeholder="name" />
              {myRole === 'owner' && (
                <select aria-label="Role" value={role} onChange={(e) => setRole(e.target.value === 'admin' ? 'admin' : 'member')}>
                  <option value="member">member</option>
                  <option value="admin">admin</option>
                </select>
              )}
              <button type="submit">Add</button>
            </div>
            <button type="button" className="secondary" onClick={() => {
              const who = name.trim();
              if (who) void act(client.roomsApi.ban(room, who)).then((ok) => ok && setName(''));
            }}>Ban this name</button>
          </form>
          {bans.length > 0 && (
            <>
              <h3>Banned</h3>
              <ul aria-label="Banned" className="people-list">
                {bans.map((b) => (
                  <li key={b.username} dir="auto">
                    {b.username}
                    <button type="button" className="link-button" onClick={() => void act(client.roomsApi.unban(room, b.username))}
                            aria-label={`Lift the ban on ${b.username}`}>Lift ban</button>
                  </li>
                ))}
              </ul>
            </>
          )}
        </>
      )}
      {error && <p className="field-error" role="alert">{error}</p>}
    </section>
  );
}
