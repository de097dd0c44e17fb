#!/usr/bin/env python3
"""Compile cost of each public container header against its std counterpart.

Compiles a translation unit that includes one header and instantiates its main type the way a
user's file would (construct, push/insert, destroy), with the same flags for both sides, several
times, and reports the median CPU time (user + sys: robust to a machine shared with other builds)
and the ratio ours / std (below 1.5 is the target). Our and std's runs alternate.

Usage: bench/compile_cost.py [--cxx g++] [--flags "-O2"] [--runs 5] [--check] [--only NAME]
  --check  exit 1 when a header is over the target ratio.
  --only   only the cases whose name contains NAME (e.g. flat_map).
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = 1.5

# (name, our include + use, std include + use)
CASES = [
    ("small_vector.hpp / <vector>",
     "#include <core/memory/container/small_vector.hpp>\n"
     "int f(int n) { core::memory::SmallVector<int, 8> v; for (int i = 0; i < n; ++i) v.push_back(i); return v[0]; }\n",
     "#include <vector>\n"
     "int f(int n) { std::vector<int> v; for (int i = 0; i < n; ++i) v.push_back(i); return v[0]; }\n"),
    ("flat_map.hpp / <map>",
     "#include <core/memory/container/flat_map.hpp>\n"
     "int f(int n) { core::memory::FlatMap<int, int> m; for (int i = 0; i < n; ++i) m[i] = i; return m.find(3)->second; }\n",
     "#include <map>\n"
     "int f(int n) { std::map<int, int> m; for (int i = 0; i < n; ++i) m[i] = i; return m.find(3)->second; }\n"),
    ("flat_set.hpp / <set>",
     "#include <core/memory/container/flat_set.hpp>\n"
     "int f(int n) { core::memory::FlatSet<int> s; for (int i = 0; i < n; ++i) s.insert(i); return *s.find(3); }\n",
     "#include <set>\n"
     "int f(int n) { std::set<int> s; for (int i = 0; i < n; ++i) s.insert(i); return *s.find(3); }\n"),
    ("circular_buffer.hpp / <deque>",
     "#include <core/memory/container/circular_buffer.hpp>\n"
     "int f(int n) { core::memory::CircularBuffer<int> b(16); for (int i = 0; i < n; ++i) (void)b.push_back(i); return b.front(); }\n",
     "#include <deque>\n"
     "int f(int n) { std::deque<int> b; for (int i = 0; i < n; ++i) b.push_back(i); return b.front(); }\n"),
    ("stable_vector.hpp / <vector>",
     "#include <core/memory/container/stable_vector.hpp>\n"
     "int f(int n) { core::memory::StableVector<int> v; for (int i = 0; i < n; ++i) v.emplace(i); return *v.begin(); }\n",
     "#include <vector>\n"
     "int f(int n) { std::vector<int> v; for (int i = 0; i < n; ++i) v.emplace_back(i); return *v.begin(); }\n"),
    ("intrusive_list.hpp / <list>",
     "#include <core/memory/container/intrusive_list.hpp>\n"
     "struct N : core::memory::ListHook<> { int x = 0; };\n"
     "int f(N& a) { core::memory::IntrusiveList<N> l; l.push_back(a); int r = l.front().x; l.clear(); return r; }\n",
     "#include <list>\n"
     "struct N { int x = 0; };\n"
     "int f(N& a) { std::list<N> l; l.push_back(a); return l.front().x; }\n"),
    ("core/memory.hpp (everything) / <vector> <map> <memory_resource>",
     "#include <core/memory.hpp>\n"
     "int f(int n) { core::memory::SmallVector<int, 8> v; for (int i = 0; i < n; ++i) v.push_back(i); return v[0]; }\n",
     "#include <vector>\n#include <map>\n#include <memory_resource>\n"
     "int f(int n) { std::vector<int> v; for (int i = 0; i < n; ++i) v.push_back(i); return v[0]; }\n"),
]


def compile_times(cxx, flags, sources, runs):
    """Median CPU time (user + sys of the compiler) of each source, the runs interleaved: CPU time,
    not wall time, and alternation, so that a machine shared with other builds skews neither side."""
    with tempfile.TemporaryDirectory() as tmp:
        cmds = []
        for i, source in enumerate(sources):
            path = os.path.join(tmp, f"tu{i}.cpp")
            with open(path, "w") as f:
                f.write(source)
            cmd = [cxx, "-std=c++20", *flags.split(), "-I", os.path.join(ROOT, "include"), "-c", path,
                   "-o", os.path.join(tmp, f"tu{i}.o")]
            subprocess.run(cmd, check=True)  # warm the file cache; also proves it compiles
            cmds.append(cmd)
        times = [[] for _ in sources]
        for _ in range(runs):
            for i, cmd in enumerate(cmds):
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                subprocess.run(cmd, check=True)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                times[i].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        return [statistics.median(t) for t in times]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cxx", default="g++")
    ap.add_argument("--flags", default="-O2")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--only", default="", help="only the cases whose name contains this")
    opts = ap.parse_args()
    print(f"Compile CPU time of one translation unit ({opts.cxx} -std=c++20 {opts.flags}, median of {opts.runs}, "
          f"interleaved); "
          f"target: ours / std <= {TARGET}")
    print(f"| header / std counterpart | ours s | std s | ours / std |\n|---|---:|---:|---:|")
    over = []
    for name, ours_src, std_src in CASES:
        if opts.only and opts.only not in name:
            continue
        ours, std = compile_times(opts.cxx, opts.flags, [ours_src, std_src], opts.runs)
        ratio = ours / std
        print(f"| {name} | {ours:.3f} | {std:.3f} | {ratio:.2f} |", flush=True)
        if ratio > TARGET and "everything" not in name:
            over.append(name)
    if over:
        print("over the target: " + ", ".join(over))
    return 1 if (opts.check and over) else 0


if __name__ == "__main__":
    sys.exit(main())
