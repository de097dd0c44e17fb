#!/usr/bin/env python3
"""Where a process allocator's memory goes in redis-server, test by test.

Runs the process bench's redis-benchmark tests (SET, GET, LPUSH, LPOP, SADD, HSET; 20 clients,
256-byte values, random keys) one at a time against one server, and prints after each the
server's RSS, its peak RSS and Redis's used_memory (the sum of malloc_usable_size over its
blocks). With core-memory's allocator it also prints the resident KiB of each size class's
address range (read from /proc/PID/smaps; class index = offset in the reservation / range size).

Usage: bench/redis_phases.py [LIB|glibc] [requests]   (default: build/bench/libcore_memory_malloc.so)
"""
import os
import re
import socket
import subprocess
import sys
import time

LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"  # Debian's redis-server links jemalloc: preload libc for glibc
TESTS = ["set", "get", "lpush", "lpop", "sadd", "hset"]


def status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith(key)) / 1024


def anon_and_file_rss(pid):
    """Resident MiB of anonymous memory (the heap, mappings, the stack) and of file mappings."""
    anon = file = 0
    with open(f"/proc/{pid}/smaps") as f:
        named = False
        for line in f:
            m = re.match(r"^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ (\d+)\s*(.*)$", line)
            if m:
                named = m.group(1) != "0"  # an inode: a file
            elif line.startswith("Rss:"):
                kib = int(line.split()[1])
                if named:
                    file += kib
                else:
                    anon += kib
    return anon / 1024, file / 1024


def class_rss(pid):
    """Resident KiB per 2^k-byte range of the largest anonymous reservation (the class ranges)."""
    vmas = []
    with open(f"/proc/{pid}/smaps") as f:
        cur = None
        for line in f:
            m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ (\d+)\s*(.*)$", line)
            if m:
                cur = [int(m.group(1), 16), int(m.group(2), 16), m.group(4).strip(), 0]
                vmas.append(cur)
            elif line.startswith("Rss:") and cur:
                cur[3] = int(line.split()[1])
    anon = sorted(v for v in vmas if not v[2])
    # The reservation: contiguous anonymous VMAs spanning at least 64 GiB.
    runs, run = [], []
    for v in anon:
        if run and v[0] != run[-1][1]:
            runs.append(run)
            run = []
        run.append(v)
    if run:
        runs.append(run)
    runs = [r for r in runs if r[-1][1] - r[0][0] >= 64 << 30]
    if not runs:
        return None
    r = max(runs, key=lambda r: r[-1][1] - r[0][0])
    base, span = r[0][0], r[-1][1] - r[0][0]
    range_bytes = 1 << 32
    while span // range_bytes < 64:  # the allocator halves the ranges when the system refuses
        range_bytes >>= 1
    per = {}
    for a, _, _, rss in r:
        if rss:
            per[(a - base) // range_bytes] = per.get((a - base) // range_bytes, 0) + rss
    return per


def main():
    lib = sys.argv[1] if len(sys.argv) > 1 else "build/bench/libcore_memory_malloc.so"
    requests = int(sys.argv[2]) if len(sys.argv) > 2 else 100000
    env = dict(os.environ, LD_PRELOAD=LIBC if lib == "glibc" else os.path.abspath(lib))
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    server = subprocess.Popen(["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).returncode == 0:
                break
            time.sleep(0.05)
        for test in TESTS:
            subprocess.run(["redis-benchmark", "-p", str(port), "-q", "-n", str(requests), "-c", "20", "-r", "100000",
                            "-d", "256", "-t", test], capture_output=True, check=True)
            info = subprocess.run(["redis-cli", "-p", str(port), "info", "memory"], capture_output=True, text=True).stdout
            anon, files = anon_and_file_rss(server.pid)
            used = int(re.search(r"used_memory:(\d+)", info).group(1)) / 2**20
            line = (f"{test:6s} RSS {status(server.pid, 'VmRSS'):6.1f} MiB  peak {status(server.pid, 'VmHWM'):6.1f}"
                    f"  used_memory {used:6.1f}  anon {anon:6.1f}  files {files:4.1f}")
            per = class_rss(server.pid) if lib != "glibc" else None
            if per:
                line += "  classes (KiB, >= 64): " + " ".join(f"{c}:{k}" for c, k in sorted(per.items()) if k >= 64)
            print(line, flush=True)
    finally:
        subprocess.run(["redis-cli", "-p", str(port), "shutdown", "nosave"], capture_output=True)
        server.wait()


if __name__ == "__main__":
    main()
