#!/usr/bin/python3
"""cdp-steps: drives one page of a headless Chromium through the Chrome
DevTools Protocol, step by step, for the web view's end-to-end test.

    cdp-steps.py USER_DATA_DIR STEP...

Chromium must run with --remote-debugging-port=0 and that
--user-data-dir: the port it took is in DevToolsActivePort there.
Steps, in order (the first failing one ends it with status 1):

    open URL            load URL in the browser's page, wait for its load
    eval JS             run JS in the page (an exception fails)
    wait SECONDS JS     until JS is true; fails after SECONDS
    say TEXT            print TEXT on a line of its own (a signal to the
                        test, which waits for it)
    print JS            print the value of JS, as JSON
    screenshot FILE     the page as PNG
    text FILE           the page's text (document.body.innerText)

Debian's python3-websocket speaks the protocol's WebSocket; nothing else
is needed.
"""

import base64
import json
import os
import sys
import time
import urllib.request

import websocket


class Page:
    def __init__(self, user_data_dir):
        with open(os.path.join(user_data_dir, "DevToolsActivePort")) as f:
            port = int(f.readline())
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as r:
            targets = json.load(r)
        page = next(t for t in targets if t["type"] == "page")
        # Chromium refuses DevTools connections that carry an Origin.
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"],
                                              suppress_origin=True,
                                              timeout=30)
        self.next_id = 0
        self.events = []

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method,
                                 "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]
            self.events.append(msg)

    def evaluate(self, js):
        r = self.call("Runtime.evaluate", expression=js, returnByValue=True,
                      awaitPromise=True)
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise RuntimeError(d.get("exception", {}).get("description")
                               or d.get("text"))
        return r["result"].get("value")

    def open(self, url):
        self.events = []
        self.call("Page.enable")
        self.call("Page.navigate", url=url)
        end = time.monotonic() + 30
        while not any(e.get("method") == "Page.loadEventFired"
                      for e in self.events):
            if time.monotonic() > end:
                raise RuntimeError(f"{url} did not load in 30 s")
            self.events.append(json.loads(self.ws.recv()))


def run(page, steps):
    i = 0
    while i < len(steps):
        step = steps[i]
        if step == "open":
            page.open(steps[i + 1])
            i += 2
        elif step == "eval":
            page.evaluate(steps[i + 1])
            i += 2
        elif step == "wait":
            secs, js = float(steps[i + 1]), steps[i + 2]
            end = time.monotonic() + secs
            while not page.evaluate(js):
                if time.monotonic() > end:
                    raise RuntimeError(f"not true after {secs:g} s: {js}")
                time.sleep(0.1)
            i += 3
        elif step == "say":
            print(steps[i + 1], flush=True)
            i += 2
        elif step == "print":
            print(json.dumps(page.evaluate(steps[i + 1])), flush=True)
            i += 2
        elif step == "screenshot":
            png = page.call("Page.captureScreenshot", format="png")["data"]
            with open(steps[i + 1], "wb") as f:
                f.write(base64.b64decode(png))
            i += 2
        elif step == "text":
            with open(steps[i + 1], "w") as f:
                f.write(page.evaluate("document.body.innerText"))
            i += 2
        else:
            raise RuntimeError(f"unknown step {step}")


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        run(Page(sys.argv[1]), sys.argv[2:])
    except Exception as e:  # every failure is the test's to report
        print(f"cdp-steps: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
