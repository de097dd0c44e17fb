#!/usr/bin/env python3
"""Whole programs on each process allocator, each in its own process through LD_PRELOAD:
redis-server under redis-benchmark (throughput, the server's CPU time per request and its peak
RSS; then pipelined, 16 requests a round trip, where the server's CPU is the bound) and g++
compiling a file (time). Writes bench/results/process.md.

redis-benchmark's throughput is bound by the client and the loopback network (it moves by 10%
between runs of one allocator); the server's own CPU time per request is what the allocator
changes. Rounds alternate the allocators (the order rotates each round); medians are reported.

Usage: bench/process_bench.py --build-dir build/bench [--smoke]"""
import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time

LIBDIR = "/usr/lib/x86_64-linux-gnu"
# Debian's redis-server is linked with libjemalloc: preloading libc itself puts glibc's malloc
# first in the lookup order, so the glibc row really is glibc (for g++ it changes nothing).
PEERS = [("glibc", "libc.so.6"), ("mimalloc", "libmimalloc.so.2"), ("jemalloc", "libjemalloc.so.2"),
         ("tcmalloc", "libtcmalloc_minimal.so.4"), ("tbbmalloc", "libtbbmalloc_proxy.so.2")]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis(env, requests):
    """One server: the plain run (rate, peak RSS MiB, server us/request), then a pipelined one
    (its rate) on the same server."""
    port = free_port()
    server = subprocess.Popen(["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).returncode == 0:
                break
            time.sleep(0.05)
        out = subprocess.run(["redis-benchmark", "-p", str(port), "-q", "-n", str(requests), "-c", "20", "-r", "100000",
                              "-d", "256", "-t", "set,get,lpush,lpop,sadd,hset"], capture_output=True, text=True).stdout
        rates = [float(m) for m in re.findall(r"([0-9.]+) requests per second", out)]
        with open(f"/proc/{server.pid}/status") as f:
            rss = next(int(l.split()[1]) for l in f if l.startswith("VmHWM"))
        with open(f"/proc/{server.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
        served = requests * 6
        out = subprocess.run(["redis-benchmark", "-p", str(port), "-q", "-n", str(requests * 4), "-c", "20", "-P", "16",
                              "-r", "100000", "-d", "256", "-t", "set,get,lpush,lpop,sadd,hset"],
                             capture_output=True, text=True).stdout
        piped = [float(m) for m in re.findall(r"([0-9.]+) requests per second", out)]
        mean = lambda xs: sum(xs) / len(xs) if xs else 0.0
        return mean(rates), rss / 1024.0, cpu / served * 1e6, mean(piped)
    finally:
        subprocess.run(["redis-cli", "-p", str(port), "shutdown", "nosave"], capture_output=True)
        server.wait()


def compile_time(env, source, include, repeats):
    best = None
    for _ in range(repeats):
        start = os.times()
        subprocess.run(["g++", "-std=c++20", "-O2", "-I", include, "-c", source, "-o", os.devnull], env=env, check=True)
        end = os.times()
        cpu = (end.children_user - start.children_user) + (end.children_system - start.children_system)
        best = cpu if best is None else min(best, cpu)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default="build/bench")
    ap.add_argument("--out", default="bench/results")
    ap.add_argument("--smoke", action="store_true")
    opts = ap.parse_args()
    ours = os.path.abspath(os.path.join(opts.build_dir, "libcore_memory_malloc.so"))
    allocators = [(name, os.path.join(LIBDIR, lib) if lib else None) for name, lib in PEERS]
    allocators.append(("core-memory", ours))
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    source = os.path.join(root, "bench", "containers_bench.cpp")
    include = os.path.join(root, "include")
    have_redis = shutil.which("redis-server") and shutil.which("redis-benchmark")
    requests = 2000 if opts.smoke else 100000
    rounds = 1 if opts.smoke else 5
    compile_source = source if not opts.smoke else os.path.join(root, "examples", "quick_tour.cpp")
    present = []
    for name, lib in allocators:
        if lib and not os.path.exists(lib):
            print(f"process_bench: {lib} missing, skipping {name}", file=sys.stderr)
            continue
        env = dict(os.environ)
        if lib:
            env["LD_PRELOAD"] = lib
        present.append((name, env))
    samples = {name: [] for name, _ in present}  # (rate, rss, server us/request, g++ s, piped rate) per round
    for r in range(rounds):
        for name, env in present[r % len(present):] + present[:r % len(present)]:
            rate, rss, us, piped = redis(env, requests) if have_redis else (0.0, 0.0, 0.0, 0.0)
            cpu = compile_time(env, compile_source, include, 1)
            samples[name].append((rate, rss, us, cpu, piped))
            print(f"round {r}: {name:12s} redis {rate:10.0f} req/s  server {us:6.2f} us/req  peak RSS {rss:6.1f} MiB"
                  f"  pipelined {piped:10.0f} req/s   g++ {cpu:6.2f} s", flush=True)
    rows = [(name, *(statistics.median(s[i] for s in samples[name]) for i in range(5))) for name, _ in present]
    glibc = next(r for r in rows if r[0] == "glibc")
    lines = ["# Whole programs on each allocator", "",
             "redis-server 7 under redis-benchmark (20 clients, 256-byte values, random keys; mean of SET, GET, "
             "LPUSH, LPOP, SADD, HSET): throughput, the server's CPU time per request (user + system) and its "
             f"peak RSS; the throughput pipelined (-P 16: the server's CPU is the bound); and the CPU time of g++ -O2 compiling bench/containers_bench.cpp. Medians of {rounds} "
             "rounds, the allocators alternating. Each allocator through LD_PRELOAD.", "",
             "| allocator | redis req/s | vs glibc | server us/request | vs glibc | redis peak RSS MiB | g++ CPU s "
             "| vs glibc | pipelined req/s | vs glibc |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, rate, rss, us, cpu, piped in rows:
        lines.append(f"| {name} | {rate:.0f} | {rate / glibc[1] if glibc[1] else 0:.2f} | {us:.2f} | "
                     f"{glibc[3] / us if us else 0:.2f} | {rss:.1f} | {cpu:.2f} | {glibc[4] / cpu if cpu else 0:.2f} "
                     f"| {piped:.0f} | {piped / glibc[5] if glibc[5] else 0:.2f} |")
    os.makedirs(opts.out, exist_ok=True)
    with open(os.path.join(opts.out, "process.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
