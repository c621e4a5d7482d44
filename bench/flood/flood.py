#!/usr/bin/env python3
"""Connection-flood benchmark: CONNECTIONS keep-alive connections from ADDRESSES loopback
addresses (127.0.0.10 …) are opened and kept open (each asks GET /api/v1/version once, then
idles; whatever the server closes or refuses is opened again), while a probe from another
address (127.0.0.200) asks GET /healthz every INTERVAL seconds on a fresh connection.
Prints how many flood connections the server holds, how many it refused, and the probes'
latencies; exits 1 when a probe took longer than --limit seconds or got no answer.

    python3 bench/flood/flood.py --port 8080 [--connections 5000 --addresses 20 --seconds 45]
"""
import argparse
import selectors
import socket
import sys
import threading
import time

REQUEST = b"GET /api/v1/version HTTP/1.1\r\nHost: flood\r\n\r\n"


def probe(port, source, timeout):
    start = time.monotonic()
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n")
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        s.close()
        if not data.startswith(b"HTTP/1.1 "):
            return None, "closed without an answer"
        return time.monotonic() - start, data.split(b" ")[1].decode()
    except OSError as error:
        return None, str(error)


class Flood:
    def __init__(self, port, connections, addresses):
        self.port = port
        self.target = connections
        self.addresses = [f"127.0.0.{10 + i}" for i in range(addresses)]
        self.selector = selectors.DefaultSelector()
        self.open = {}  # socket -> state: "connecting", "waiting", "idle"
        self.refused = 0
        self.opened = 0
        self.next = 0
        self.stop = False

    def held(self):
        return sum(1 for state in self.open.values() if state == "idle")

    def start_one(self):
        source = self.addresses[self.next % len(self.addresses)]
        self.next += 1
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.bind((source, 0))
            s.connect_ex(("127.0.0.1", self.port))
        except OSError:
            s.close()
            return
        self.open[s] = "connecting"
        self.selector.register(s, selectors.EVENT_WRITE)
        self.opened += 1

    def drop(self, s):
        self.selector.unregister(s)
        del self.open[s]
        s.close()

    def run(self):
        while not self.stop:
            # Top up (at most 200 new connections per round, so a refusing server is
            # not hammered by a busy loop).
            for _ in range(min(200, self.target - len(self.open))):
                self.start_one()
            for key, events in self.selector.select(timeout=0.05):
                s = key.fileobj
                state = self.open.get(s)
                if state == "connecting":
                    if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                        self.refused += 1
                        self.drop(s)
                        continue
                    try:
                        s.send(REQUEST)
                    except OSError:
                        self.refused += 1
                        self.drop(s)
                        continue
                    self.open[s] = "waiting"
                    self.selector.modify(s, selectors.EVENT_READ)
                elif state in ("waiting", "idle"):
                    try:
                        data = s.recv(65536)
                    except OSError:
                        data = b""
                    if not data:
                        if state == "waiting":
                            self.refused += 1
                        self.drop(s)
                    else:
                        self.open[s] = "idle"
            if len(self.open) >= self.target:
                time.sleep(0.01)
        for s in list(self.open):
            self.drop(s)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--addresses", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=45)
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("--limit", type=float, default=1.0)
    parser.add_argument("--probe-address", default="127.0.0.200")
    args = parser.parse_args()

    flood = Flood(args.port, args.connections, args.addresses)
    thread = threading.Thread(target=flood.run, daemon=True)
    thread.start()
    time.sleep(3)  # let the flood fill the server first
    latencies, failures, statuses = [], [], {}
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        latency, status = probe(args.port, args.probe_address, 5.0)
        if latency is None:
            failures.append(status)
        else:
            latencies.append(latency)
            statuses[status] = statuses.get(status, 0) + 1
        time.sleep(args.interval)
    held = flood.held()
    flood.stop = True
    thread.join()
    latencies.sort()
    total = len(latencies) + len(failures)
    slow = sum(1 for value in latencies if value > args.limit)
    print(f"flood: {args.connections} connections wanted from {args.addresses} addresses; "
          f"server held {held} idle, refused {flood.refused} attempts ({flood.opened} opened in all)")
    if latencies:
        p50 = latencies[len(latencies) // 2]
        print(f"probes: {total}, answered {len(latencies)} (statuses {statuses}), failed {len(failures)}, "
              f"over {args.limit:.1f} s: {slow}; latency p50 {p50 * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms")
    else:
        print(f"probes: {total}, none answered: {failures[:3]}")
    return 0 if not failures and slow == 0 and latencies else 1


if __name__ == "__main__":
    sys.exit(main())
