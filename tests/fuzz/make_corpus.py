#!/usr/bin/env python3
"""Writes the hand-made seed inputs of tests/fuzz/corpus/<target>/seed-*.

Each seed is a small valid (or deliberately broken) example of what its target reads, laid out
as the target's header comment says: FuzzedDataProvider reads integers from the END of an
input, so the configuration bytes (read lengths, limits, modes) trail the data. Re-running
rewrites the seed-* files only; inputs added by `make fuzz-merge` (named by their SHA-1) stay.
Usage: tests/fuzz/make_corpus.py
"""
import base64
import hashlib
import hmac
import json
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


# --- fuzz_ws_frame: [stream][u16 cuts][cut count][stop after][limit selector]
KEY = bytes([0x37, 0xFA, 0x21, 0x3D])


def frame(opcode, payload, fin=True, rsv=0, masked=True, length=None):
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload) if length is None else length
    out = bytes([(0x80 if fin else 0) | rsv | opcode])
    mask = 0x80 if masked else 0
    if n < 126:
        out += bytes([mask | n])
    elif n <= 0xFFFF:
        out += bytes([mask | 126]) + struct.pack(">H", n)
    else:
        out += bytes([mask | 127]) + struct.pack(">Q", n)
    if masked:
        out += KEY + bytes(b ^ KEY[i % 4] for i, b in enumerate(payload))
    else:
        out += payload
    return out


def ws(name, stream, cuts=(), stop=0, limit=9):  # limit 9: 65536 bytes
    tail = b"".join(struct.pack("<H", c) for c in cuts) + bytes([len(cuts), stop, limit])
    write("fuzz_ws_frame", name, stream + tail)


ws("text", frame(1, '{"content":"hello"}'))
ws("text-cut", frame(1, '{"content":"hello"}') + frame(9, "ping"), cuts=(1, 3, 7, 20))
ws("binary", frame(2, bytes(range(40))))
ws("fragmented", frame(1, "caf\xc3", fin=False) + frame(9, "") + frame(0, "\xa9 ok".encode("latin-1")))
ws("ping-pong", frame(9, "are you there") + frame(10, "yes"))
ws("close", frame(8, struct.pack(">H", 1000) + "bye".encode()))
ws("close-empty", frame(8, b""))
ws("close-bad-code", frame(8, struct.pack(">H", 1005)))
ws("utf8", frame(1, "Grüße, 世界 🌍"), cuts=(5, 6, 9))
ws("bad-utf8", frame(1, b"\xed\xa0\x80"))
ws("len126", frame(1, "x" * 200), cuts=(2, 4, 8, 100))
ws("len127", frame(2, b"z" * 70000)[:20], limit=10)  # the start of a 70,000-byte frame
ws("too-big", frame(2, b"a" * 200), limit=4)  # limit 125
ws("unmasked", frame(1, "hi", masked=False))
ws("rsv", frame(1, "hi", rsv=0x40))
ws("stop-early", frame(1, "a") + frame(1, "b") + frame(1, "c"), stop=2)

# --- fuzz_client_frame: the frame's text
for name, text in {
    "message": '{"content":"hello"}',
    "message-typed": '{"type":"message","content":"hi \\u00e9\\ud83c\\udf0d","client_id":"c-1"}',
    "escapes": '{"content":"tab\\tnl\\nquote\\"bs\\\\ctl\\u0001"}',
    "nul": '{"content":"a\\u0000b"}',
    "lone-surrogate": '{"content":"\\ud800"}',
    "history": '{"type":"history","before":120,"limit":50}',
    "history-bad": '{"type":"history","before":-1,"limit":1.5}',
    "typing": '{"type":"typing","state":true}',
    "auth": '{"type":"auth","token":"a.b.c"}',
    "unknown": '{"type":"dance"}',
    "not-object": '["content","hello"]',
    "client-id-ctl": '{"content":"x","client_id":"a\\nb"}',
    "long": json.dumps({"content": "é" * 10}),
    "trailing": '{"content":"x"} {}',
    "deep": "[" * 40 + "]" * 40,
}.items():
    write("fuzz_client_frame", name, text)

# --- fuzz_token: the last byte picks the kind (0 raw, 1 issued then mutated, 2 signed here)
SECRET = b"parley-fuzz-secret-0123456789abcdef-0123456789"


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed(header, claims, key=SECRET, digest=hashlib.sha256):
    head = b64(header.encode()) + "." + b64(claims.encode())
    return head + "." + b64(hmac.new(key, head.encode(), digest).digest())


# Exactly what TokenService::issue("alice", 1700000000) makes with the fuzzer's secret (libjwt
# sorts the claims): a real token for raw mutations to start from.
write("fuzz_token", "raw-issued", signed('{"alg":"HS256","typ":"JWT"}',
      '{"exp":1700086400,"iat":1700000000,"iss":"parley","sub":"alice"}') + "\x00")
write("fuzz_token", "raw-garbage", "not.a.token" + "\x00")
write("fuzz_token", "raw-none", b64(b'{"alg":"none"}') + "." + b64(b'{"sub":"alice"}') + ".\x00")
write("fuzz_token", "raw-padded", signed('{"alg":"HS256"}', '{"sub":"a"}') + "==\x00")
write("fuzz_token", "raw-four-parts", "a.b.c.d\x00")
write("fuzz_token", "issued-alice", "alice\\;" + "\x05\x10\x20\x01\x30\x02\x00\x40" + "\x01")
write("fuzz_token", "issued-unicode", "Zoë 世界\\;" + "\x00\x00\x01\x03\x07\x04\x05\x06" + "\x01")
write("fuzz_token", "issued-expired", "bob\\;" + "\xff\xff\xff\x02\x11\x22\x33\x44" + "\x01")
for name, header, claims, how in [
    ("ok", '{"alg":"HS256","typ":"JWT"}', '{"iss":"parley","sub":"alice","exp":1800000000}', 0),
    ("hs512", '{"alg":"HS512","typ":"JWT"}', '{"iss":"parley","sub":"alice","exp":1800000000}', 2),
    ("lower-alg", '{"alg":"hs256"}', '{"iss":"parley","sub":"alice","exp":1800000000}', 0),
    ("exp-string", '{"alg":"HS256"}', '{"iss":"parley","sub":"alice","exp":"1800000000"}', 0),
    ("exp-float", '{"alg":"HS256"}', '{"iss":"parley","sub":"alice","exp":1.8e9}', 0),
    ("sub-number", '{"alg":"HS256"}', '{"iss":"parley","sub":7,"exp":1800000000}', 0),
    ("no-iss", '{"alg":"HS256"}', '{"sub":"alice","exp":1800000000}', 0),
    ("dup-sub", '{"alg":"HS256"}', '{"iss":"parley","sub":"alice","sub":"root","exp":1800000000}', 0),
    ("wrong-key", '{"alg":"HS256"}', '{"iss":"parley","sub":"alice","exp":1800000000}', 3),
    ("unsigned", '{"alg":"none"}', '{"iss":"parley","sub":"alice","exp":1800000000}', 5),
    # libjwt reads the decoded header as a C string: what follows a NUL is ignored (found here).
    # jansson (libjwt) reads numbers Boost.JSON refuses; the last "exp" counts (found here).
    ("exp-overflow-dup", '{"alg":"HS256"}',
     '{"iss":"parley","sub":"rjot","exp":0E7777777777777777777777770000,"exp":1800000}', 0),
    ("nul-in-header", '{"alg":"HS256"}\x00\x00\x00\x08',
     '{"iss":"parley","sub":"alice","exp":1800000000}', 0),
]:
    write("fuzz_token", "signed-" + name, header + "\\;" + claims + "\\;" + chr(how) + "\x02")

# --- fuzz_upgrade_url: the target after "/ws/"
for name, text in {
    "room": "general",
    "user": "general?username=alice",
    "user-space": "general?username=al+ice&since=41",
    "user-pct": "caf%C3%A9?username=Zo%C3%AB",
    "user-zwsp": "general?username=%E2%80%8Balice",
    "user-ctl": "general?username=a%07b",
    "user-empty": "general?username",
    "token": "general?token=a.b.c&username=bob",
    "slash": "a%2Fb",
    "segments": "general/more",
    "bad-pct": "general?username=%zz",
    "since-big": "general?since=99999999999999999999",
    "dots": "..?since=0",
    "long": "r" * 65,
}.items():
    write("fuzz_upgrade_url", name, text)

# --- fuzz_http_request: [bytes][u16 read lengths][read count]
UPGRADE = (
    "GET /ws/general?username=alice HTTP/1.1\r\nHost: localhost:8000\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\nOrigin: http://localhost:8000\r\n\r\n"
).encode()


def http(name, data, reads=()):
    if isinstance(data, str):
        data = data.encode()
    # Read back to front: the first length read is the one just before the count.
    tail = b"".join(struct.pack("<H", r) for r in reversed(reads)) + bytes([len(reads)])
    write("fuzz_http_request", name, data + tail)


http("upgrade", UPGRADE)
http("upgrade-early-frame", UPGRADE + frame(1, '{"content":"first"}'), reads=(10, 100))
http("get-root", "GET / HTTP/1.0\r\n\r\n")
http("head-healthz", "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n", reads=(3,))
http("login", 'POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
     'Content-Length: 38\r\n\r\n{"username":"alice","password":"pw1234"}', reads=(50,))
http("chunked", "POST /api/register HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
     "5\r\nhello\r\n0\r\n\r\n", reads=(60, 5))
http("pipelined", "GET /api/rooms HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\n\r\n")
http("obs-fold", "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n")
http("big-header", "GET / HTTP/1.1\r\nX: " + "a" * 8200 + "\r\n\r\n", reads=(4096,))
http("bare-lf", "GET / HTTP/1.1\nHost: x\n\n")
# Regressions (HttpSession::readSome): Beast's header_limit counts the request line and the fields
# apart when they come in one read (up to 2 x 8 KiB), and only the unparsed rest when fields come
# in pieces that end just past a CRLF (no bound at all); Parley counts the whole header.
http("regress-header-8207-one-read", "GET /ws/general?username=alice HTTP/1.1\r\nX: "
     + "a" * 8150 + "\r\n\r\n")
trickled = "GET /healthz HTTP/1.1\r\nHost: x\r\n" + "".join(
    "X-%02d: %s\r\n" % (i, "a" * 300) for i in range(36)) + "\r\n"
cuts, at = [], trickled.index("X-00")
for i in range(3, 36, 3):  # reads of three fields each, ending one byte past a field's CRLF
    end = trickled.index("X-%02d" % i) + 1
    cuts.append(end - at)
    at = end
http("regress-header-trickled", trickled, reads=[trickled.index("X-00") + 1] + cuts)

# --- fuzz_inbox_replay: structured, any bytes; a log of valid records for the raw decode check


def record(mid, millis, room, user, content, client_id):
    fields = [s.encode() for s in (room, user, content, client_id)]
    payload = struct.pack("<Qq4I", mid, millis, *map(len, fields)) + b"".join(fields)
    return struct.pack("<II", len(payload), zlib.crc32(payload)) + payload


write("fuzz_inbox_replay", "log", record(1, 1700000000000, "general", "alice", "hi", "c1")
      + record(2, 1700000000001, "general", "bob", "yo", ""))
write("fuzz_inbox_replay", "log-torn", record(1, 1, "r", "u", "x" * 20, "")[:-3])
write("fuzz_inbox_replay", "structured-a", bytes(range(0, 256, 3)))
write("fuzz_inbox_replay", "structured-b", bytes((i * 37 + 11) % 256 for i in range(200)))
write("fuzz_inbox_replay", "structured-c", b"\x03\x02\x01" + b"\x07" * 60 + b"\x0c\x00\x01")
