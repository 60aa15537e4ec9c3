// web-topic-cases: the web view's side of tests/web-view-topics.sh.
//
//   node web-topic-cases.js gen SEED COUNT   cases, made at random
//   node web-topic-cases.js run              what appliance/web/topic.js
//                                            makes of the cases on stdin
//
// The cases and what is printed for them are described in
// web-topic-cases.c, the C side; both outputs must be equal.  The cases
// lean on what is easy to get wrong: bytes that are not UTF-8, control
// characters, '%' with and without hex digits, the topic's special
// characters, globs with sets and escapes, deep and long paths.
"use strict";

const path = require("path");
const readline = require("readline");
const T = require(path.join(__dirname, "../../appliance/web/topic.js"));

function hex(b) {
  return Buffer.from(b).toString("hex");
}

function fromHex(s) {
  return Uint8Array.from(Buffer.from(s, "hex"));
}

function channel(f) {
  const ch = T.parseChannel(f[1]);
  if (ch.error)
    return null;
  if (f[2] !== "-")
    ch.disk = f[2];
  ch.part = Number(f[3]);
  return ch;
}

function eventOf(o) {
  return {
    type: o.type, part: Number.isInteger(o.part) ? o.part : 0,
    path: typeof o.path === "string" ? T.unescape(o.path) : null,
    inode: Number.isInteger(o.inode) && o.inode >= 0 ? o.inode : 0,
    lost_writes: o.lost_writes,
  };
}

function run(f) {
  switch (f[0]) {
  case "escape":
    return T.escapeBytes(fromHex(f[1]));
  case "unescape": {
    const b = T.unescape(f[1]);
    return b === null ? "invalid" : hex(b);
  }
  case "level":
    return T.topicLevel(fromHex(f[1]));
  case "unlevel": {
    const b = T.topicUnlevel(f[1]);
    return b === null ? "invalid" : hex(b);
  }
  case "name":
    return T.globName(f[1], f[2]) ? "1" : "0";
  case "path":
    return T.globPath(f[1], f[2]) ? "1" : "0";
  case "filters": {
    const ch = channel(f);
    return ch ? T.channelFilters(ch).join(" ") : "invalid";
  }
  case "match": {
    const ch = channel(f), ev = T.parseEvent(f[4]);
    if (!ch)
      return "invalid channel";
    if (!ev)
      return "invalid event";
    return T.channelMatch(ch, ev) ? "1" : "0";
  }
  case "topic": {
    const o = T.parseEvent(f[4]), disk = T.diskTopic(f[1], f[2], f[3]);
    return o && disk ? T.eventTopic(disk, eventOf(o)) : "invalid";
  }
  case "parse": {
    const t = T.parseTopic(f[1]);
    if (!t)
      return "invalid";
    return [t.kind, hex(t.host), hex(t.vm), hex(t.disk), t.part,
            t.kind === "file" ? hex(t.path) : "-", t.cut ? 1 : 0,
            t.type || "-", t.kind === "inode" ? BigInt(t.inode) : "-"]
      .join(" ");
  }
  }
  throw new Error(`bad case: ${f[0]}`);
}

// A small seeded generator (mulberry32): the same cases every run.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function str(v) {
  return typeof v === "string" ? v : "";
}

function gen(seed, count) {
  const r = rng(seed);
  const pick = a => a[Math.floor(r() * a.length)];
  const many = (k, f) => Array.from({ length: 1 + Math.floor(r() * k) }, f);
  const byteBits = [
    [0x61], [0x62], [0x2f], [0x25], [0x2b], [0x23], [0x24], [0x20], [0x2a],
    [0x00], [0x01], [0x09], [0x0a], [0x1f], [0x7f], [0x80], [0xbf], [0xc0],
    [0xc3, 0xa9], [0xe2, 0x82, 0xac], [0xed, 0xa0, 0x80], [0xe0, 0x80, 0x80],
    [0xf0, 0x9f, 0x98, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xff], [0xc3],
    [0xe2, 0x82], [0x25, 0x34, 0x31],
  ];
  const bytes = () => Uint8Array.from(many(8, () => pick(byteBits)).flat());
  // Names and paths as events have them (escaped), so that globs meet
  // them; names bring '/' only as %2F would in a topic.
  const nameBits = ["a", "b", "ab", "%25", "+", "$", "#", "é", "%FF", " ", "%41",
                    "[", "]", "*", "%E9"];
  const name = () => many(4, () => pick(nameBits)).join("");
  const pathOf = () => many(5, () => (r() < 0.1 ? "" : name()))
    .map(n => "/" + n).join("");
  const globBits = ["a", "b", "*", "?", "**", "[ab]", "[!a]", "[a-c]", "[]]",
                    "[", "\\*", "\\", "%25", "é", "[à-ÿ]", "+", "$", "#",
                    "%E9", "%FF", "%41", "%e9", "%", "[^b]", "[a-]", "[!]a]"];
  const globName = () => many(4, () => pick(globBits)).join("");
  const globPath = () => many(5, () => (r() < 0.2 ? "**" : globName()))
    .map(n => "/" + n).join("");
  const labels = ["h", "v", "d", "h+1", "v#", "é", "file:/srv/x.img", "$x",
                  "a%41", "*", "?", "[hv]", "v?", "h*"];
  const types = ["write", "create", "metadata", "mount", "overflow",
                 "resync", "partition", "unmount", "rename", "exchange",
                 "nonsense"];
  const event = () => {
    const o = { v: 1, id: "0000000000000001", seq: 1, txn: 1,
                host: pick(labels), vm: pick(labels), disk: pick(labels),
                part: Math.floor(r() * 3), type: pick(types) };
    const k = r();
    if (k < 0.7)
      o.path = T.escapeBytes(Uint8Array.from(
        many(5, () => [0x2f, ...bytes().filter(b => b !== 0x2f)]).flat()));
    else if (k < 0.8)
      o.path = pathOf();               // not always a canonical escape
    else
      o.inode = Math.floor(r() * 100000);
    // A loss of written data: of one file when it has an inode.
    if (o.type === "overflow" && r() < 0.5) {
      o.lost_writes = Math.floor(r() * 3);
      if (r() < 0.5)
        o.inode = Math.floor(r() * 100000);
    }
    return JSON.stringify(o);
  };
  const clean = s => !/[\t\n\r]/.test(s);
  // A glob made from a text to match it, or nearly: some characters
  // become '?', some runs '*', some levels '*' or "**".
  const globFrom = t => t.split("/").map(level => {
    const k = r();
    if (k < 0.1)
      return "**";
    if (k < 0.2)
      return "*";
    return level.replace(/[^%]/gu, c => (r() < 0.1 ? "?" : r() < 0.05
                                         ? "*" : c));
  }).join("/");
  // Topics: made by the rules, then mostly spoilt a little.
  const topicOf = () => {
    const disk = T.diskTopic(pick(labels), pick(labels), pick(labels));
    const k = r();
    let t;
    if (k < 0.1)
      t = disk + pick(["/$status", "/$stats", "/$status/x", ""]);
    else if (k < 0.2)
      t = disk + "/" + pick(["0", "1", "01", "10", "-1", "2147483648", "x"]) +
          pick(["/$fs/mount", "/$fs/resync", "/$fs/write", "/$fs/",
                "/$inode/12", "/$inode/012", "/$inode/+1",
                "/$inode/18446744073709551616", "/$inode/"]);
    else {
      const p = Uint8Array.from(many(6, () => [0x2f, ...bytes()]).flat());
      t = T.eventTopic(disk, { type: "write", part: 1, path: p });
      if (r() < 0.1)
        t += "/$long";
    }
    const spoil = r();
    if (spoil < 0.15)
      t = t.replace(/%[0-9A-F]{2}/, m => m.toLowerCase());
    else if (spoil < 0.3)
      t = t.replace(/a/, "%61");
    else if (spoil < 0.4)
      t = t.replace(/%2F/, "/");
    else if (spoil < 0.5)
      t = t + "/" + pick(["", "%", "%2", "é", "%2F", "$long", "x"]);
    return t;
  };
  const out = [];
  const add = (...f) => { if (f.every(clean)) out.push(f.join("\t")); };
  // A path deeper than a topic holds, and one longer than MQTT allows.
  const deep = "/d".repeat(205) + "/leaf";
  const long = ("/" + "%FF".repeat(255)).repeat(100);
  add("topic", "h", "v", "d", JSON.stringify({ v: 1, part: 0, type: "write",
                                                path: deep }));
  add("topic", "h", "v", "d", JSON.stringify({ v: 1, part: 0, type: "write",
                                                path: long }));
  add("parse", T.eventTopic("blockwatch/h/v/d", { type: "write", part: 0,
                                                  path: T.unescape(deep) }));
  add("parse", T.eventTopic("blockwatch/h/v/d", { type: "write", part: 0,
                                                  path: T.unescape(long) }));
  add("filters", "h:v" + "/a".repeat(70).replace(/^/, ":"), "-", "-1");
  for (let i = 0; i < count; i++) {
    const b = bytes(), e = T.escapeBytes(b), l = T.topicLevel(b);
    const ev = event(), o = JSON.parse(ev);
    const spec = () => r() < 0.1
      ? pick(["", "h", ":v", "h:", "h::/x", "h:v:x", "h:v:"])
      : pick([str(o.host), pick(labels), "*"]) + ":" +
        pick([str(o.vm), pick(labels), "*"]) +
        pick(["", ":" + globPath(), ":" + globFrom(str(o.path) || "/x"),
              ":" + globFrom(str(o.path) || "/x"), ":/**"]);
    add("escape", hex(b));
    add("level", hex(b));
    add("unescape", pick([e, e.toLowerCase(), e + "%", "%41" + e, l]));
    add("unlevel", pick([l, l.toLowerCase(), e, l + "%2", "%24" + l]));
    const n = name();
    add("name", r() < 0.5 ? globName() : globFrom(n), n);
    const p = pathOf();
    add("path", r() < 0.5 ? globPath() : globFrom(p), p);
    add("filters", spec(), pick(["-", "d", "*", "file:/x"]),
        pick(["-1", "-1", "0", "2"]));
    add("match", spec(), pick(["-", "-", "d", "?"]), pick(["-1", "-1", "1", "10"]),
        ev);
    add("topic", pick(labels), pick(labels), pick([...labels, ""]), event());
    add("parse", topicOf());
  }
  return out.join("\n") + "\n";
}

if (process.argv[2] === "gen")
  process.stdout.write(gen(Number(process.argv[3]), Number(process.argv[4])));
else if (process.argv[2] === "run") {
  const out = [];
  readline.createInterface({ input: process.stdin })
    .on("line", line => out.push(run(line.split("\t"))))
    .on("close", () => process.stdout.write(out.map(l => l + "\n").join("")));
}
else {
  process.stderr.write("usage: web-topic-cases.js gen SEED COUNT | run\n");
  process.exit(2);
}
