/* blockwatch live: the page's logic.  It subscribes as `blockwatch sub`
 * does (the narrowest MQTT filters of each channel, the rest matched
 * here, duplicates dropped: topic.js), and shows each channel's events
 * as they come, newest first.
 *
 * Everything shown comes from a guest's file system (names, written
 * bytes): it goes into the page as text (textContent), never as HTML.
 * The password is only ever in the form, never in the address.
 *
 * The address may carry the form's fields: ?channel=HOST:VM:/GLOB
 * (again for more), broker=wss://..., user=VM, and disk=GLOB, part=N
 * (as blockwatch sub's --disk and --part).
 */
(function () {
  "use strict";

  const T = window.bwTopic;
  const KEEP = 500;                 /* events shown per channel */
  const RECENT = 1024;              /* ids remembered to drop duplicates */
  const TEXT_MAX = 400;             /* characters of written text shown */
  const HEX_MAX = 48;               /* bytes shown in hex */
  const $ = id => document.getElementById(id);
  const query = new URLSearchParams(location.search);

  let client = null;
  let channels = [];                /* {ch, spec, view, count} */
  let seen = new Set(), order = [];

  function setState(state, text) {
    $("state").dataset.state = state;
    $("state").textContent = text;
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls)
      e.className = cls;
    if (text !== undefined)
      e.textContent = text;
    return e;
  }

  /* Channels are separated by white space; a glob's own space is
   * written "\ " (or matched with '?').
   */
  function splitChannels(s) {
    return s.trim().split(/(?<!\\)\s+/).filter(c => c !== "");
  }

  /* The filters of every channel, each once, and those of the disks'
   * $status (literal host and VM levels kept, as the channel's).
   */
  function filtersOf(list) {
    const all = [];
    for (const c of list)
      for (const f of [...T.channelFilters(c.ch), statusFilter(c.ch)])
        if (!all.includes(f))
          all.push(f);
    return all;
  }

  function statusFilter(ch) {
    const f = T.channelFilters({ host: ch.host, vm: ch.vm, disk: ch.disk,
                                 part: -1, path: null })[0];
    /* ".../+/#" (the partition and all below) becomes ".../$status". */
    return f.slice(0, -"/+/#".length) + "/$status";
  }

  /* ---- what an event says, as text ---- */

  function bytesOf(b64) {
    try {
      return Uint8Array.from(atob(b64), c => c.charCodeAt(0));
    }
    catch (e) {
      return null;
    }
  }

  /* Written bytes as text where they are text (UTF-8 without control
   * characters but newlines and tabs), else the first bytes in hex.
   */
  function dataText(ev) {
    if (typeof ev.xxh128 === "string")
      return `xxh128 ${ev.xxh128} of ${ev.data_length} bytes`;
    if (typeof ev.data !== "string")
      return "";
    const b = bytesOf(ev.data);
    if (b === null)
      return "(data that is not base64)";
    const more = ev.data_truncated ? ` … (first ${b.length} of ` +
                                     `${ev.data_length} bytes)` : "";
    let s = null;
    try {
      s = new TextDecoder("utf-8", { fatal: true }).decode(b);
    }
    catch (e) {
      s = null;
    }
    if (s !== null && !/[\x00-\x08\x0b-\x1f\x7f]/.test(s)) {
      const shown = s.length > TEXT_MAX ? s.slice(0, TEXT_MAX) + "…" : s;
      return JSON.stringify(shown) + more;
    }
    return Array.from(b.subarray(0, HEX_MAX),
                      x => x.toString(16).padStart(2, "0")).join(" ") +
           (b.length > HEX_MAX ? " …" : "") + ` (${b.length} bytes, not text)` +
           more;
  }

  function value(v) {
    if (v !== null && typeof v === "object" && "sec" in v) {
      const d = new Date(v.sec * 1000);
      const iso = isNaN(d) ? `${v.sec} s` : d.toISOString().slice(0, 19);
      return `${iso}.${String(v.nsec).padStart(9, "0")}`;
    }
    return String(v);
  }

  /* The event's own words: what happened, beyond type and path. */
  function detail(ev) {
    switch (ev.type) {
    case "write": {
      const end = ev.offset + ev.length;
      const d = dataText(ev);
      return `bytes ${ev.offset}..${end} (${ev.length})` + (d ? "  " + d : "");
    }
    case "metadata":
      return `${ev.field} ${value(ev.old)} → ${value(ev.new)}`;
    case "create":
    case "delete":
      return `${ev.file_type}, mode ${ev.mode}, uid ${ev.uid}, gid ` +
             `${ev.gid}, ${ev.size} bytes, inode ${ev.inode}`;
    case "rename":
      return `renamed from ${ev.old_path}`;
    case "exchange":
      return `swapped with ${ev.old_path}, inode ${ev.inode} here now`;
    case "link":
    case "unlink":
      return `inode ${ev.inode}`;
    case "truncate":
      return `to ${ev.length} bytes`;
    case "mount":
    case "unmount":
      return `file system (mount count ${ev.mount_count})`;
    case "overflow":
      return ("lost_events" in ev
              ? `${ev.lost_events} events dropped by the publisher` +
                (ev.unconfirmed_events
                 ? ` (${ev.unconfirmed_events} of them sent before, perhaps received)`
                 : "")
              : "lost_writes" in ev
              ? `${ev.lost_writes} writes of file data lost` +
                ("inode" in ev ? ` (inode ${ev.inode})` : "")
              : ev.lost ? `${ev.lost} tap records lost`
                        : "tap records lost (how many is not known)") +
             (ev.detail ? `: ${ev.detail}` : "") +
             " — events are missing here";
    case "resync":
      return "re-read from storage after a loss" +
             (ev.detail ? `: ${ev.detail}` : "");
    default:
      return ev.detail || "";
    }
  }

  function row(ev) {
    const li = el("li", `event type-${String(ev.type).replace(/\W/g, "")}`);
    const when = typeof ev.time === "string" ? ev.time.slice(11, 23) : "";
    const where = `${ev.host}:${ev.vm} ${ev.disk}` +
                  (ev.part ? ` p${ev.part}` : "");

    li.dataset.id = ev.id;
    li.append(el("time", "when", when), el("span", "where", where),
              el("span", "type", ev.type),
              el("span", "path", typeof ev.path === "string" ? ev.path : ""),
              el("span", "detail", detail(ev)));
    li.title = `seq ${ev.seq}, txn ${ev.txn}, id ${ev.id}`;
    return li;
  }

  /* ---- messages ---- */

  function isNew(id) {
    if (seen.has(id))
      return false;
    seen.add(id);
    order.push(id);
    if (order.length > RECENT)
      seen.delete(order.shift());
    return true;
  }

  function showStatus(t, payload) {
    const dec = new TextDecoder();
    const name = `${dec.decode(t.host)}:${dec.decode(t.vm)} ` +
                 `${dec.decode(t.disk)}`;
    for (const c of channels) {
      if (!T.globName(c.ch.host, dec.decode(t.host)) ||
          !T.globName(c.ch.vm, dec.decode(t.vm)) ||
          !T.globName(c.ch.disk, dec.decode(t.disk)))
        continue;
      let li = Array.from(c.view.querySelector(".disks").children)
        .find(x => x.dataset.disk === name);
      if (!li) {
        li = el("li");
        li.dataset.disk = name;
        c.view.querySelector(".disks").append(li);
      }
      li.className = payload === "online" ? "online" : "offline";
      li.textContent = `${name}: publisher ${payload}`;
    }
  }

  function arrived(msg) {
    const t = T.parseTopic(msg.destinationName);
    let payload;

    try {
      payload = msg.payloadString;
    }
    catch (e) {
      return;                       /* not UTF-8: not ours */
    }
    if (t === null)
      return;
    if (t.kind === "status") {
      showStatus(t, payload);
      return;
    }
    const ev = T.parseEvent(payload);
    if (ev === null || !isNew(ev.id))
      return;
    for (const c of channels) {
      if (!T.channelMatch(c.ch, ev))
        continue;
      const list = c.view.querySelector(".events");
      list.prepend(row(ev));
      while (list.children.length > KEEP)
        list.lastChild.remove();
      c.count++;
      c.view.querySelector(".count").textContent =
        `${c.count} event${c.count === 1 ? "" : "s"}`;
    }
  }

  /* ---- connecting ---- */

  function subscribe(filters) {
    let pending = filters.length;
    const refused = [];
    const done = () => {
      if (--pending > 0)
        return;
      if (refused.length)
        setState("refused", `the broker refused ${refused.join(", ")}: ` +
                            "is the user allowed to read these topics?");
      else
        setState("subscribed", `following ${channels.length} channel` +
                 `${channels.length === 1 ? "" : "s"} on ${client.host}`);
    };
    for (const f of filters)
      client.subscribe(f, {
        qos: 1,
        onSuccess: r => {
          if (r.grantedQos && r.grantedQos[0] >= 0x80)
            refused.push(f);
          done();
        },
        onFailure: () => {
          refused.push(f);
          done();
        },
      });
  }

  function start(e) {
    if (e)
      e.preventDefault();
    const specs = splitChannels($("channels").value);
    const disk = query.get("disk") || "*";
    const part = query.has("part") ? Number(query.get("part")) : -1;
    const list = [];

    for (const spec of specs) {
      const ch = T.parseChannel(spec);
      if (ch.error) {
        setState("failed", ch.error);
        return;
      }
      ch.disk = disk;
      ch.part = Number.isInteger(part) && part >= 0 ? part : -1;
      list.push({ ch, spec, count: 0 });
    }
    if (list.length === 0) {
      setState("failed", "no channel given");
      return;
    }
    if (client) {
      const old = client;
      client = null;
      try {
        old.disconnect();
      }
      catch (err) {
        /* it was not connected */
      }
    }
    channels = list;
    seen = new Set();
    order = [];
    const main = $("channels-view");
    main.replaceChildren();
    const filters = filtersOf(channels);
    for (const c of channels) {
      c.view = $("channel-template").content.firstElementChild
        .cloneNode(true);
      c.view.querySelector(".spec").textContent = c.spec;
      c.view.querySelector(".filters").textContent = "MQTT filters: " +
        T.channelFilters(c.ch).join("  ");
      main.append(c.view);
    }
    remember();

    const broker = $("broker").value.trim();
    const id = "bw-web-" + Math.random().toString(16).slice(2, 10);
    let cl;
    try {
      cl = new Paho.Client(broker, id);
    }
    catch (err) {
      setState("failed", `broker ${broker}: expected wss://HOST:PORT/PATH`);
      return;
    }
    client = cl;
    cl.onMessageArrived = arrived;
    cl.onConnectionLost = r => {
      if (client === cl && r.errorCode !== 0)
        setState("lost", `connection lost (${r.errorMessage}); reconnecting`);
    };
    cl.onConnected = reconnected => {
      if (client !== cl)
        return;
      if (reconnected)
        setState("connecting", "connected again; subscribing");
      subscribe(filters);
    };
    setState("connecting", `connecting to ${broker}`);
    cl.connect({
      userName: $("user").value,
      password: $("password").value,
      mqttVersion: 4,
      cleanSession: true,
      keepAliveInterval: 30,
      timeout: 10,
      reconnect: true,
      onFailure: r => {
        if (client === cl)
          setState("failed", `cannot connect to ${broker}: ` +
                   `${r.errorMessage} (wrong user or password?)`);
      },
    });
  }

  /* The form's fields in the address, the password excepted: a page
   * to bookmark.
   */
  function remember() {
    const q = new URLSearchParams();
    for (const c of channels)
      q.append("channel", c.spec);
    q.set("broker", $("broker").value.trim());
    if ($("user").value)
      q.set("user", $("user").value);
    for (const k of ["disk", "part"])
      if (query.has(k))
        q.set(k, query.get(k));
    history.replaceState(null, "", "?" + q.toString());
  }

  $("channels").value = query.getAll("channel").join(" ");
  $("broker").value = query.get("broker") ||
    `wss://${location.hostname || "localhost"}:8884/mqtt`;
  $("user").value = query.get("user") || "";
  $("connect").addEventListener("submit", start);
})();
