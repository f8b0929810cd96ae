#!/usr/bin/env python3
"""Writes the seed inputs of each fuzz target into corpus/<target>/ from the
golden vectors in test/vectors and a few hostile streams. Run once; the
corpus (seeds plus what the fuzzer found worth keeping) is committed."""
import base64, hashlib, json, os, struct

ROOT = os.path.dirname(os.path.abspath(__file__))
VEC = os.path.join(ROOT, "..", "test", "vectors")

def put(target, data):
    d = os.path.join(ROOT, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
        f.write(data)

for name in ("scheduler-events", "executor-events", "scheduler-calls", "executor-calls"):
    executor = name.startswith("executor")
    for line in open(os.path.join(VEC, name + ".jsonl")):
        v = json.loads(line)
        pb = base64.b64decode(v["protobuf_b64"])
        js = v["mesos_json"].encode()
        put("event_protobuf", pb)
        put("direct_protobuf", pb)
        put("direct_json", js)
        put("direct_lua", b"\x00" + pb)
        put("direct_lua", b"\x01" + js)
        put("event_json", js)
        if name.endswith("events"):
            sel = 2 if executor else 0
            put("event_lua", bytes([sel]) + pb)
            put("event_lua", bytes([sel | 1]) + js)
        if "recordio_json_b64" in v:
            put("recordio", b"\x05" + base64.b64decode(v["recordio_json_b64"]))

# Hostile streams: a 2^63 length, a 1 GiB header, junk, truncation, blanks.
for s in (b"9223372036854775808\n", b"18446744073709551616\nx", b"1073741824\n{}",
          b"abc\n", b"5\nhel", b"\n\n3\nabc\n0\n", b"-1\nx", b"99999999999999999999999\n"):
    put("recordio", b"\x01" + s)
# JSON: invalid UTF-8, unknown enum names and numbers, huge numbers.
for s in (b'{"type":"HEARTBEAT\xff"}', b'{"type":"NO_SUCH_TYPE"}', b'{"type":99}',
          b'{"type":"UPDATE","update":{"status":{"task_id":{"value":"t"},"state":"TASK_NOPE"}}}',
          b'{"type":"OFFERS","offers":{"offers":[{"id":{"value":"o"},"framework_id":{"value":"f"},'
          b'"agent_id":{"value":"a"},"hostname":"h","resources":[{"name":"cpus","type":"SCALAR",'
          b'"scalar":{"value":1e999}}]}]}}'):
    put("event_json", s)
# Protobuf: an unknown enum number in Event.type, a length past the end.
put("event_protobuf", b"\x08\x63")
put("event_protobuf", b"\x08\x01\x12\xff\xff\xff\xff\x0f")
# The direct decoders: merges (a message twice), an unknown enum, a map
# entry with its value first, a oneof twice, packed and unpacked lists.
for s in (b"\x08\x63", b"\x08\x02\x08\x63\x08\x03",
          b"\x6a\x0a\x12\x02\x0a\x00\x0a\x04cpus", b"\x0a\x00\x12\x00\x0a\x00"):
    put("direct_protobuf", s)
    put("direct_lua", b"\x00" + s)
# JSON: keys twice, two oneof members, nulls, numbers as strings, escapes.
for s in (b'{"type":"OFFERS","type":"HEARTBEAT"}', b'{"type":null,"offers":{"offers":[]}}',
          b'{"block":{},"mount":{"fs_type":"x"},"access_mode":{"mode":"UNKNOWN"}}',
          b'{"type":"SUBSCRIBED","subscribed":{"framework_id":{"value":"a\\u00e9\\ud83d\\ude00"},'
          b'"heartbeat_interval_seconds":"15"}}'):
    put("direct_json", s)
    put("direct_lua", b"\x01" + s)
# Lua tables: a few shapes (the harness reads structure from the bytes).
for s in (b"\x08\x03\x05\x00\x10", b"\x09\x07" + b"\x09\x02\x05\x00\x20" * 6, bytes(range(64))):
    put("lua_call", s)
