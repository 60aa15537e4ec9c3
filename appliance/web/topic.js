/* blockwatch's names on MQTT, for the web view: the escaping of paths
 * and topic levels, topics taken apart, globs, and channels with the
 * MQTT filters that bring them.  The same rules, step for step, as
 * mqtt-bridge/topic.c, glob.c, channel.c and introspector/events/
 * escape.c (docs/events.md, "Paths and escaping" and "Topics"), so that
 * the page subscribes and filters exactly as `blockwatch sub` does;
 * tests/web-view-topics.sh holds the two against each other.
 *
 * Byte strings (file names, labels) are Uint8Arrays; escaped text,
 * globs and topics are strings.  Loaded as a plain script in the page
 * (window.bwTopic) and as a module by node in the test.
 */
(function (exports) {
  "use strict";

  const ROOT = "blockwatch";
  const TOPIC_MAX_BYTES = 65535;          /* MQTT strings: 16-bit length */
  const TOPIC_PATH_LEVELS = 195;          /* 200 levels, 5 before the path */
  const LABEL_MAX = 255;
  const CHANNEL_EXACT_LEVELS = 64;
  const LONG_LEVEL = "$long";
  const FS_WIDE = ["mount", "unmount", "partition", "overflow", "resync"];
  const HEX = "0123456789ABCDEF";
  const utf8 = new TextEncoder();
  const text = new TextDecoder();         /* only ever given valid UTF-8 */

  const PERCENT = 0x25, SLASH = 0x2f, STAR = 0x2a;

  /* Length of the well-formed UTF-8 sequence at b[i] (Unicode table
   * 3-7), 0 if there is none.
   */
  function utf8Len(b, i) {
    const c = b[i];
    let lo = 0x80, hi = 0xbf, len;

    if (c < 0x80)
      return 1;
    if (c >= 0xc2 && c <= 0xdf)
      len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      if (c === 0xe0)
        lo = 0xa0;                        /* below: overlong */
      else if (c === 0xed)
        hi = 0x9f;                        /* above: surrogates */
    }
    else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      if (c === 0xf0)
        lo = 0x90;
      else if (c === 0xf4)
        hi = 0x8f;                        /* above: past U+10FFFF */
    }
    else
      return 0;
    if (b.length - i < len || b[i + 1] < lo || b[i + 1] > hi)
      return 0;
    for (let k = 2; k < len; k++)
      if (b[i + k] < 0x80 || b[i + k] > 0xbf)
        return 0;
    return len;
  }

  function pushEscape(out, byte) {
    out.push(PERCENT, HEX.charCodeAt(byte >> 4), HEX.charCodeAt(byte & 15));
  }

  /* Bytes to the events' escaped text (bw_escape_bytes). */
  function escapeBytes(b) {
    const out = [];

    for (let i = 0; i < b.length;) {
      const n = utf8Len(b, i);
      if (n === 0 || (n === 1 && (b[i] < 0x20 || b[i] === 0x7f ||
                                  b[i] === PERCENT))) {
        pushEscape(out, b[i]);
        i++;
      }
      else {
        for (let k = 0; k < n; k++)
          out.push(b[i + k]);
        i += n;
      }
    }
    return text.decode(Uint8Array.from(out));
  }

  /* "%XX" (uppercase only) to bytes, the rest as its UTF-8; null if a
   * '%' has no two hex digits.
   */
  function percentDecode(s) {
    const b = utf8.encode(s), out = [];

    for (let i = 0; i < b.length; i++) {
      if (b[i] !== PERCENT) {
        out.push(b[i]);
        continue;
      }
      const hi = i + 2 < b.length ? HEX.indexOf(String.fromCharCode(b[i + 1]))
                                  : -1;
      const lo = hi >= 0 ? HEX.indexOf(String.fromCharCode(b[i + 2])) : -1;
      if (lo < 0)
        return null;
      out.push(hi << 4 | lo);
      i += 2;
    }
    return Uint8Array.from(out);
  }

  /* Escaped text back to its bytes (bw_unescape), null for anything but
   * the one form escapeBytes makes.
   */
  function unescape(s) {
    const b = percentDecode(s);

    return b !== null && escapeBytes(b) === s ? b : null;
  }

  /* One topic level (bw_topic_level): escaped, and '/', '+', '#', '$'
   * as %2F, %2B, %23, %24.
   */
  function topicLevel(b) {
    return escapeBytes(b).replace(/[/+#$]/g,
      c => "%" + c.charCodeAt(0).toString(16).toUpperCase());
  }

  /* A level back to its bytes (bw_topic_unlevel), or null. */
  function topicUnlevel(s) {
    const b = percentDecode(s);

    return b !== null && topicLevel(b) === s ? b : null;
  }

  /* "blockwatch/HOST/VM/DISK" from labels (strings), or null when one
   * is empty or longer than 255 bytes (bw_topic_disk).
   */
  function diskTopic(host, vm, disk) {
    let t = ROOT;

    for (const label of [host, vm, disk]) {
      const b = utf8.encode(label);
      if (b.length === 0 || b.length > LABEL_MAX)
        return null;
      t += "/" + topicLevel(b);
    }
    return t;
  }

  function indexOfByte(b, byte, from, end) {
    for (let i = from; i < end; i++)
      if (b[i] === byte)
        return i;
    return -1;
  }

  /* A count as the C parser takes it: anything but a positive integer
   * is 0.
   */
  function count(v) {
    return Number.isInteger(v) && v > 0 ? v : 0;
  }

  /* Whether an event goes to $fs/TYPE (bw_event_fs_topic): one of such
   * a type that is not an overflow naming the file whose writes were
   * lost (lost_writes with an inode, and no lost_events, which its JSON
   * would say instead), which goes where that file's events go.
   */
  function fsTopic(ev) {
    return FS_WIDE.includes(ev.type) &&
           !(ev.type === "overflow" && count(ev.lost_writes) > 0 &&
             count(ev.lost_events) === 0 && count(ev.inode) > 0);
  }

  /* The topic of an event (bw_topic_event): {type, part, path (bytes,
   * or null), inode, lost_writes}.
   */
  function eventTopic(disk, ev) {
    let t = disk + "/" + ev.part;
    const base = utf8.encode(t).length;

    if (fsTopic(ev))
      t += "/$fs/" + ev.type;
    else if (ev.path === null)
      t += "/$inode/" + ev.inode;
    else {
      /* One level a name; past TOPIC_PATH_LEVELS - 1 the rest in the
       * last level, its '/' escaped.
       */
      const p = ev.path, end = p.length;
      let i = end > 0 && p[0] === SLASH ? 1 : 0, levels = 0;

      for (;;) {
        const slash = indexOfByte(p, SLASH, i, end);
        const n = slash >= 0 && levels < TOPIC_PATH_LEVELS - 1 ? slash - i
                                                               : end - i;
        t += "/" + topicLevel(p.subarray(i, i + n));
        levels++;
        if (i + n === end)
          break;
        i += n + 1;
      }
    }
    const b = utf8.encode(t);
    if (b.length <= TOPIC_MAX_BYTES)
      return t;
    /* Too long for MQTT: the levels that fit, then $long. */
    let cut = TOPIC_MAX_BYTES - ("/" + LONG_LEVEL).length;
    while (cut > base && b[cut] !== SLASH)
      cut--;
    return text.decode(b.subarray(0, cut)) + "/" + LONG_LEVEL;
  }

  /* A label level: its bytes, not empty, no NUL, at most 255. */
  function label(s) {
    const b = topicUnlevel(s);

    return b !== null && b.length > 0 && b.length <= LABEL_MAX &&
           !b.includes(0) ? b : null;
  }

  const DIGITS = /^[0-9]+$/;

  /* A topic taken apart (bw_topic_parse): {kind: "file", "fs", "inode",
   * "status" or "stats"; host, vm, disk (bytes); part (-1 for status
   * and stats); path (bytes, from '/'), cut (the topic ended in $long:
   * path is its leading part); type; inode (a decimal string)}.  null
   * for any topic the bridge would not have made.
   */
  function parseTopic(topic) {
    const all = topic.split("/");
    const lv = all.slice(0, 5), n = Math.min(all.length, 6);
    const t = { kind: null, part: -1, path: null, cut: false, type: null,
                inode: null };

    if (n < 5 || lv[0] !== ROOT)
      return null;
    if (n === 6)
      lv.push(all.slice(5).join("/"));
    t.host = label(lv[1]);
    t.vm = label(lv[2]);
    t.disk = label(lv[3]);
    if (t.host === null || t.vm === null || t.disk === null)
      return null;
    if (n === 5 && lv[4] === "$status")
      t.kind = "status";
    else if (n === 5 && lv[4] === "$stats")
      t.kind = "stats";
    else if (n === 6) {
      if (!DIGITS.test(lv[4]) || (lv[4][0] === "0" && lv[4].length > 1) ||
          Number(lv[4]) > 2147483647)
        return null;
      t.part = Number(lv[4]);
      if (lv[5].startsWith("$fs/")) {
        t.kind = "fs";
        t.type = lv[5].slice(4);
        if (!FS_WIDE.includes(t.type))
          return null;
      }
      else if (lv[5].startsWith("$inode/")) {
        t.kind = "inode";
        t.inode = lv[5].slice(7);
        /* Any other spelling of the number fails the rebuild below. */
        if (!DIGITS.test(t.inode) ||
            BigInt(t.inode) > 0xffffffffffffffffn)
          return null;
      }
      else {
        t.kind = "file";
        if (!parsePath(lv[5], t))
          return null;
      }
    }
    else
      return null;
    return t.cut || rebuilt(t) === topic ? t : null;
  }

  /* The path levels of a file topic: their bytes, each after a '/'. */
  function parsePath(rest, t) {
    const levels = rest.split("/"), out = [];

    for (let i = 0; i < levels.length; i++) {
      if (i === levels.length - 1 && levels[i] === LONG_LEVEL) {
        t.cut = true;
        break;
      }
      const b = topicUnlevel(levels[i]);
      if (b === null)
        return false;
      out.push(SLASH, ...b);
    }
    t.path = Uint8Array.from(out);
    return true;
  }

  /* The one spelling of what was taken out of a topic (same_topic in
   * topic.c): parsePath and the labels accept each level alone, this
   * the whole (no folded level too early, no number spelt otherwise).
   */
  function rebuilt(t) {
    const disk = [ROOT, topicLevel(t.host), topicLevel(t.vm),
                  topicLevel(t.disk)].join("/");

    if (t.kind === "status" || t.kind === "stats")
      return disk + "/$" + t.kind;
    return eventTopic(disk, {
      type: t.kind === "fs" ? t.type : "write", part: t.part,
      inode: t.kind === "inode" ? BigInt(t.inode).toString() : null,
      path: t.kind === "file" ? t.path : null });
  }

  /* Globs over escaped text (glob.c): '*', '?', "[...]", '\c' in a
   * name, "**" as a whole path level.  Matched over UTF-8 bytes, a
   * character being a UTF-8 sequence by its lead byte.
   */
  function charLen(b, i, end) {
    const c = b[i];
    const len = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2
                                                                       : 1;
    return len <= end - i ? len : 1;
  }

  function codePoint(b, i, end) {
    const len = charLen(b, i, end);
    let c = b[i];

    if (len > 1) {
      c &= 0x7f >> len;
      for (let k = 1; k < len; k++)
        c = c << 6 | (b[i + k] & 0x3f);
    }
    return { c, len };
  }

  /* "[...]" at g[gi] against code point c: {match, len}, or null when
   * the set has no closing ']' (the '[' is then literal).
   */
  function setMatch(g, gi, gend, c) {
    let i = gi + 1, neg = false, inSet = false, first = true;

    if (i < gend && (g[i] === 0x21 || g[i] === 0x5e)) {    /* ! ^ */
      neg = true;
      i++;
    }
    while (i < gend && (g[i] !== 0x5d || first)) {        /* ] */
      first = false;
      if (g[i] === 0x5c && i + 1 < gend)                  /* \ */
        i++;
      const lo = codePoint(g, i, gend);
      let hi = lo;
      i += lo.len;
      if (i + 1 < gend && g[i] === 0x2d && g[i + 1] !== 0x5d) { /* - */
        i++;
        if (g[i] === 0x5c && i + 1 < gend)
          i++;
        hi = codePoint(g, i, gend);
        i += hi.len;
      }
      if (lo.c <= c && c <= hi.c)
        inSet = true;
    }
    if (i >= gend)
      return null;
    return { match: inSet !== neg, len: i + 1 - gi };
  }

  /* One element of a name glob at g[gi] against the text at s[si]:
   * {match, gl, sl}.
   */
  function elementMatch(g, gi, gend, s, si, send) {
    switch (g[gi]) {
    case 0x3f:                                            /* ? */
      return { match: true, gl: 1, sl: charLen(s, si, send) };
    case 0x5b: {                                          /* [ */
      const cp = codePoint(s, si, send);
      const r = setMatch(g, gi, gend, cp.c);
      if (r !== null)
        return { match: r.match, gl: r.len, sl: cp.len };
      break;                                  /* no ']': a literal '[' */
    }
    case 0x5c:                                            /* \ */
      if (gend - gi > 1)
        return { match: g[gi + 1] === s[si], gl: 2, sl: 1 };
      break;
    }
    return { match: g[gi] === s[si], gl: 1, sl: 1 };
  }

  /* One backtrack: on a mismatch only the last '*' takes one more
   * character, so the cost stays the product of the lengths.
   */
  function nameMatch(g, gi, gend, s, si, send) {
    let star = -1, mark = 0;

    while (si < send) {
      if (gi < gend && g[gi] === STAR) {
        star = ++gi;
        mark = si;
        continue;
      }
      if (gi < gend) {
        const e = elementMatch(g, gi, gend, s, si, send);
        if (e.match) {
          gi += e.gl;
          si += e.sl;
          continue;
        }
      }
      if (star < 0)
        return false;
      mark += charLen(s, mark, send);
      gi = star;
      si = mark;
    }
    while (gi < gend && g[gi] === STAR)
      gi++;
    return gi === gend;
  }

  function globName(glob, name) {
    const g = utf8.encode(glob), s = utf8.encode(name);

    return nameMatch(g, 0, g.length, s, 0, s.length);
  }

  function levelEnd(b, i) {
    const slash = indexOfByte(b, SLASH, i, b.length);

    return slash < 0 ? b.length : slash;
  }

  /* The level after the one [i, end), or -1 at the last. */
  function nextLevel(b, end) {
    return end < b.length ? end + 1 : -1;
  }

  function globPath(glob, path) {
    const g = utf8.encode(glob), p = utf8.encode(path);
    let gi = 1, pi = 1, starG = -1, starP = -1, starred = false;

    if (g[0] !== SLASH || p[0] !== SLASH)
      return false;
    for (;;) {
      const ge = gi >= 0 ? levelEnd(g, gi) : 0;
      const pe = pi >= 0 ? levelEnd(p, pi) : 0;

      if (gi >= 0 && ge - gi === 2 && g[gi] === STAR && g[gi + 1] === STAR) {
        starred = true;
        starG = nextLevel(g, ge);
        starP = pi;
        gi = starG;
        if (gi < 0)
          return true;              /* a trailing ** takes all the rest */
        continue;
      }
      if (gi < 0 && pi < 0)
        return true;
      if (gi >= 0 && pi >= 0 && nameMatch(g, gi, ge, p, pi, pe)) {
        gi = nextLevel(g, ge);
        pi = nextLevel(p, pe);
        continue;
      }
      /* The last ** takes one more level, if there is one. */
      if (!starred || starP < 0)
        return false;
      starP = nextLevel(p, levelEnd(p, starP));
      if (starP < 0)
        return false;
      gi = starG;
      pi = starP;
    }
  }

  function globLiteral(glob) {
    return !/[*?[\\]/.test(glob);
  }

  /* "HOST:VM" or "HOST:VM:/PATH-GLOB" (bw_channel_parse): {host, vm,
   * disk, part, path}, or {error}.
   */
  function parseChannel(spec) {
    const c1 = spec.indexOf(":"), c2 = c1 >= 0 ? spec.indexOf(":", c1 + 1)
                                               : -1;

    if (c1 <= 0 || (c2 >= 0 ? c2 : spec.length) === c1 + 1)
      return { error: `channel '${spec}': expected HOST:VM or HOST:VM:/PATH ` +
                      "(globs allowed)" };
    if (c2 >= 0 && spec[c2 + 1] !== "/")
      return { error: `channel '${spec}': the path must start with '/'` };
    return { host: spec.slice(0, c1),
             vm: c2 >= 0 ? spec.slice(c1 + 1, c2) : spec.slice(c1 + 1),
             disk: "*", part: -1, path: c2 >= 0 ? spec.slice(c2 + 1) : null };
  }

  /* One filter level for a glob level: the escaped literal, or '+'.
   * Path globs are over escaped names: back to bytes first (one that
   * cannot be unescaped matches no path, and '+' is still correct).
   */
  function filterLevel(glob, escaped) {
    if (!globLiteral(glob))
      return "+";
    const b = escaped ? unescape(glob) : utf8.encode(glob);
    return b === null ? "+" : topicLevel(b);
  }

  /* The MQTT filters that bring every event of the channel, the
   * narrowest the glob allows (bw_channel_filters): one or two.
   */
  function channelFilters(ch) {
    let base = ROOT, out, hash = false, levels = 0;

    for (const l of [ch.host, ch.vm, ch.disk])
      base += "/" + filterLevel(l, false);
    base += ch.part >= 0 ? "/" + ch.part : "/+";
    out = base;
    if (ch.path === null)
      hash = true;
    else
      for (const g of ch.path.slice(1).split("/")) {
        if (g === "**" || levels === CHANNEL_EXACT_LEVELS) {
          hash = true;
          break;
        }
        out += "/" + filterLevel(g, true);
        levels++;
      }
    if (hash)
      out += "/#";
    /* '#' right after the partition brings its $fs events already. */
    if (hash && levels === 0)
      return [out];
    return [out, base + "/$fs/+"];
  }

  /* An event's JSON as the C parser takes it (bw_event_from_json): an
   * object of schema 1 whose paths are escaped as events are; null
   * otherwise.
   */
  function parseEvent(json) {
    let o;

    try {
      o = JSON.parse(json);
    }
    catch (e) {
      return null;
    }
    if (typeof o !== "object" || o === null || Array.isArray(o) || o.v !== 1)
      return null;
    for (const k of ["path", "old_path"])
      if (typeof o[k] === "string" && unescape(o[k]) === null)
        return null;
    return o;
  }

  function str(v) {
    return typeof v === "string" ? v : "";
  }

  /* Whether a parsed event belongs to the channel (bw_channel_match):
   * events of $fs topics go to every channel of their disk, the others
   * by their path, those without one only to channels without a path
   * glob.
   */
  function channelMatch(ch, ev) {
    if (!globName(ch.host, str(ev.host)) || !globName(ch.vm, str(ev.vm)) ||
        !globName(ch.disk, str(ev.disk)) ||
        (ch.part >= 0 && ch.part !== (Number.isInteger(ev.part) ? ev.part
                                                                 : 0)))
      return false;
    if (ch.path === null || fsTopic(ev))
      return true;
    return typeof ev.path === "string" && globPath(ch.path, ev.path);
  }

  Object.assign(exports, {
    escapeBytes, unescape, topicLevel, topicUnlevel, diskTopic, eventTopic,
    parseTopic, globName, globPath, parseChannel, channelFilters, parseEvent,
    channelMatch, FS_WIDE,
  });
})(typeof module === "object" ? module.exports : (window.bwTopic = {}));
