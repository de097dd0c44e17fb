#!/usr/bin/env python3
"""Runs every benchmark binary, the process-allocator rows once per peer malloc, and reports.

Allocators that replace malloc (mimalloc, jemalloc, tcmalloc, tbbmalloc_proxy) each get their
own process through LD_PRELOAD; the binary reports which library really provides malloc and the
run fails if that is not the one asked for. Every row is nanoseconds per block (allocate + free,
or per container built); within a case the core-memory row ("cm::...") is the reference and each
peer gets ratio = peer time / ours (above 1: core-memory is faster).

Writes <out>/summary.md (tables), <out>/results.json (all rows) and <out>/chart.svg.
"""
import argparse
import glob
import json
import os
import re
import platform
import subprocess
import sys
from collections import OrderedDict

LIBDIR = "/usr/lib/x86_64-linux-gnu"
PRELOADS = [  # (label, library file, substring expected in the malloc provider's path)
    ("mimalloc", "libmimalloc.so.2", "libmimalloc"),
    ("jemalloc", "libjemalloc.so.2", "libjemalloc"),
    ("tcmalloc", "libtcmalloc_minimal.so.4", "libtcmalloc"),
    ("tbbmalloc", "libtbbmalloc_proxy.so.2", "libtbbmalloc_proxy"),
]
# Rows that measure whatever malloc the process has.
PROCESS_IMPLS = ("malloc", "operator_new", "aligned_alloc", "posix_memalign")
PROCESS_FILTER = "/(" + "|".join(PROCESS_IMPLS) + ")/"


def run_binary(binary, args, env_extra, expect_lib):
    env = dict(os.environ)
    env.update(env_extra)
    out = subprocess.run([binary, "--benchmark_format=json"] + args, env=env, check=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True).stdout
    if not out.strip():
        return None  # no benchmark matched the filter (e.g. no process-allocator rows in this binary)
    data = json.loads(out)
    lib = data.get("context", {}).get("malloc_library", "unknown")
    if expect_lib not in lib:
        sys.exit(f"run.py: {os.path.basename(binary)} used malloc from {lib}, expected {expect_lib}")
    return data


COUNTERS = ("fragmentation",)  # user counters carried into the report


def counters_of(data):
    """name -> {counter: value} for the counters in COUNTERS (median row when repeated)."""
    out = {}
    for b in data["benchmarks"]:
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        found = {c: b[c] for c in COUNTERS if c in b}
        if found:
            out[b.get("run_name", b["name"])] = found
    return out


def rows_of(data):
    """(name, ns per item) for each benchmark, using the median when repeated."""
    rows = OrderedDict()
    for b in data["benchmarks"]:
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        name = b.get("run_name", b["name"])
        ips = b.get("items_per_second")
        if not ips:
            continue
        rows[name] = 1e9 / ips
    return rows


FAMILIES = [("cm::", "core-memory"), ("cm-pmr::", "core-memory via pmr"), ("cm-", "core-memory (other)"), ("glibc ", "glibc"), ("mimalloc ", "mimalloc"), ("jemalloc ", "jemalloc"),
            ("tcmalloc ", "tcmalloc"), ("tbb", "tbb"), ("pmr::", "std::pmr"), ("std::", "std"),
            ("foonathan", "foonathan"), ("boost", "boost"), ("absl", "abseil"), ("plf", "plf")]


def family(impl):
    return next((f for prefix, f in FAMILIES if impl.startswith(prefix)), "other")


def split(name):
    # Threaded rows: the thread count is already in the case name (mt2_lifo...).
    name = re.sub(r"/(threads:\d+|real_time)", "", name)
    parts = name.split("/")
    return parts[0], "/".join(parts[1:-1]), parts[-1]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default="build/bench")
    ap.add_argument("--out", default="bench/results")
    ap.add_argument("--smoke", action="store_true", help="tiny run that only proves everything works")
    ap.add_argument("--full", action="store_true", help="longer, more repeated run")
    ap.add_argument("--filter", default="", help="regex passed to --benchmark_filter")
    opts = ap.parse_args()

    binaries = sorted(glob.glob(os.path.join(opts.build_dir, "bench", "bench_*")))
    binaries = [b for b in binaries if os.access(b, os.X_OK) and not b.endswith(".json")]
    if not binaries:
        sys.exit(f"run.py: no benchmark binaries under {opts.build_dir}/bench")

    if opts.smoke:
        args = ["--benchmark_min_time=0.002"]
    elif opts.full:
        args = ["--benchmark_min_time=0.2", "--benchmark_repetitions=5"]
    else:
        args = ["--benchmark_min_time=0.05", "--benchmark_repetitions=3"]
    if not opts.smoke:
        args += ["--benchmark_report_aggregates_only=true", "--benchmark_enable_random_interleaving=true"]

    results = OrderedDict()  # case -> OrderedDict(impl -> ns)
    extras = {}  # (case, impl) -> {counter: value}
    for binary in binaries:
        base_filter = [f"--benchmark_filter={opts.filter}"] if opts.filter else []
        data = run_binary(binary, args + base_filter, {}, "libc.so")
        if data is None:
            continue
        counters = counters_of(data)
        for name, ns in rows_of(data).items():
            case_group, impl, size = split(name)
            if not impl:
                continue  # not a "case/implementation/size" row (the tracking benchmarks report alone)
            if impl in PROCESS_IMPLS:
                impl = f"glibc {impl}"
            results.setdefault(f"{case_group}/{size}", OrderedDict())[impl] = ns
            if name in counters:
                extras[(f"{case_group}/{size}", impl)] = counters[name]
        # core-memory's own process allocator (libcore_memory_malloc, built beside the benchmarks)
        # runs the same process rows as the other preloaded allocators.
        ours = ("cm::process", os.path.abspath(os.path.join(opts.build_dir, "libcore_memory_malloc.so")),
                "libcore_memory_malloc")
        for label, lib, expect in PRELOADS + [ours]:
            path = os.path.join(LIBDIR, lib)
            if not os.path.exists(path):
                print(f"run.py: {path} missing, skipping {label}", file=sys.stderr)
                continue
            flt = PROCESS_FILTER if not opts.filter else f"({opts.filter}).*{PROCESS_FILTER}"  # POSIX regex: no (?:)
            try:
                data = run_binary(binary, args + [f"--benchmark_filter={flt}"], {"LD_PRELOAD": path}, expect)
            except subprocess.CalledProcessError as e:
                sys.exit(f"run.py: {os.path.basename(binary)} under {label} failed:\n{e.stderr}")
            if data is None:
                continue
            for name, ns in rows_of(data).items():
                case_group, impl, size = split(name)
                results.setdefault(f"{case_group}/{size}", OrderedDict())[f"{label} {impl}"] = ns

    os.makedirs(opts.out, exist_ok=True)
    lines = []
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mode = "smoke" if opts.smoke else ("full" if opts.full else "default")
    lines.append(f"Machine: {cpu}, {os.cpu_count()} cores, {platform.platform()}; run: {mode}.")
    lines.append("Times are ns per block (allocate+free) or per container built; ratio = peer / core-memory, "
                 "above 1 means core-memory is faster.\n")
    order = {"lifo": 0, "fifo": 1}
    def case_key(case):
        group, size = case.rsplit("/", 1)
        stem, _, pattern = group.rpartition("_")
        return (stem or group, int(size) if size.isdigit() else 0, order.get(pattern, 2))
    results = OrderedDict(sorted(results.items(), key=lambda kv: case_key(kv[0])))
    for case, impls in results.items():
        ours_name = next((i for i in impls if i.startswith("cm::")), None)
        ours = impls.get(ours_name) if ours_name else None
        lines.append(f"### {case}\n")
        shown = [c for c in COUNTERS if any((case, i) in extras and c in extras[(case, i)] for i in impls)]
        lines.append("| implementation | ns | peer / ours |" + "".join(f" {c} |" for c in shown))
        lines.append("|---|---:|---:|" + "---:|" * len(shown))
        for impl, ns in sorted(impls.items(), key=lambda kv: kv[1]):
            ratio = f"{ns / ours:.2f}" if ours else "-"
            label = f"**{impl}**" if impl == ours_name else impl
            cells = "".join(f" {extras[(case, impl)][c]:.3f} |" if c in extras.get((case, impl), {}) else " - |"
                            for c in shown)
            lines.append(f"| {label} | {ns:.2f} | {ratio} |" + cells)
        lines.append("")

    with open(os.path.join(opts.out, "results.json"), "w") as f:
        json.dump({"mode": mode, "cpu": cpu, "results": results}, f, indent=1)

    # One table of ratios: for each case, each peer family's best row against ours.
    families = [f for _, f in FAMILIES if f != "core-memory" and any(
        family(i) == f for impls in results.values() for i in impls)]
    best = OrderedDict()
    for case, impls in results.items():
        ours_name = next((i for i in impls if i.startswith("cm::")), None)
        row = {"core-memory": impls[ours_name]} if ours_name else {}
        for impl, ns in impls.items():
            f = family(impl)
            if f != "core-memory":
                row[f] = min(ns, row.get(f, float("inf")))
        best[case] = row
    head = ["case", "core-memory ns"] + families
    table = [head]
    for case, row in best.items():
        ours = row.get("core-memory")
        cells = [case, f"{ours:.2f}" if ours else "-"]
        for f in families:
            cells.append(f"{row[f] / ours:.2f}" if ours and f in row else "-")
        table.append(cells)
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    print("\nPeer time / core-memory time for each case (best row of each peer; above 1: core-memory is faster)")
    for r in table:
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))))
    ratio_md = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    ratio_md += ["| " + " | ".join(r) + " |" for r in table[1:]]
    with open(os.path.join(opts.out, "summary.md"), "w") as f:
        f.write("# Benchmark summary\n\n" + lines[0] + "\n\n## Ratios\n\nPeer time / core-memory time, best row of "
                "each peer per case; above 1 means core-memory is faster.\n\n" + "\n".join(ratio_md) +
                "\n\n![chart](chart.svg)\n\n## All rows\n\n" + "\n".join(lines[1:]) + "\n")

    write_chart(results, opts.out, f"core-memory against its peers ({cpu}, {mode} run)")
    print(f"\nwrote {opts.out}/summary.md, results.json and chart")


# Chart panels: (title, case-group prefixes). Cases are "<group>/<size>"; the first match wins.
AREAS = [
    ("Heap and aligned allocation", ("heap", "aligned", "page", "vector64")),
    ("Pools (32-byte blocks)", ("pool",)),
    ("Bump allocation and scopes", ("bump", "scope")),
    ("Mixed sizes", ("mixed",)),
    ("Containers", ("vector", "map", "ring", "list", "stable", "set")),
]


def chart_rows(results):
    """[(area, [(case, ours_ns, [(peer, ratio)], best_peer, best_ratio)])]; ratio = peer / ours."""
    panels = OrderedDict((title, []) for title, _ in AREAS)
    for case, impls in results.items():
        ours_name = next((i for i in impls if i.startswith("cm::")), None)
        if not ours_name:
            continue
        ours = impls[ours_name]
        peers = [(i, ns / ours) for i, ns in impls.items() if not family(i).startswith("core-memory")]
        if not peers:
            continue
        group = case.split("/")[0]
        area = next((t for t, prefixes in AREAS if group.startswith(prefixes)), None)
        if area is None:
            continue
        best_peer, best_ratio = min(peers, key=lambda p: p[1])
        panels[area].append((case, ours, peers, best_peer, best_ratio))
    return [(a, rows) for a, rows in panels.items() if rows]


def write_chart(results, out, title):
    """Small multiples, one panel per area: for each case a bar from 1 to the ratio against the
    fastest peer (green: core-memory faster, red: slower), grey ticks for the other peers, on a
    log scale with the 1.0 line marked. Plain SVG, no plotting package needed."""
    import html
    import math
    panels = chart_rows(results)
    if not panels:
        return
    width, label_w, right_w = 880, 300, 190
    plot_w = width - label_w - right_w
    lo, hi = 1 / 8, 64
    def x(r):
        r = min(max(r, lo), hi)
        return label_w + plot_w * (math.log(r) - math.log(lo)) / (math.log(hi) - math.log(lo))
    row_h, head_h, gap = 18, 30, 14
    height = 52 + sum(head_h + row_h * len(rows) + gap for _, rows in panels) + 24
    esc = html.escape
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Arial, sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="10" y="20" font-size="15" font-weight="bold">{esc(title)}</text>',
           f'<text x="10" y="38" fill="#444">Bar: how many times faster core-memory is than the fastest peer '
           f'(log scale; right of 1: core-memory faster). Grey ticks: the other peers.</text>']
    y = 52
    for area, rows in panels:
        svg.append(f'<text x="10" y="{y + 18}" font-size="13" font-weight="bold">{esc(area)}</text>')
        top = y + head_h - 4
        bottom = top + row_h * len(rows)
        for r in (0.125, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64):
            svg.append(f'<line x1="{x(r):.1f}" y1="{top}" x2="{x(r):.1f}" y2="{bottom}" stroke="#e4e4e4"/>')
            svg.append(f'<text x="{x(r):.1f}" y="{top - 3}" text-anchor="middle" fill="#888" font-size="9">'
                       f'{r:g}x</text>')
        for i, (case, ours, peers, best_peer, best_ratio) in enumerate(rows):
            cy = top + i * row_h + row_h / 2
            svg.append(f'<text x="{label_w - 8}" y="{cy + 4:.1f}" text-anchor="end">{esc(case)} '
                       f'<tspan fill="#888">({ours:.3g} ns)</tspan></text>')
            x0, x1 = sorted((x(1), x(best_ratio)))
            colour = "#2e8b57" if best_ratio >= 1 else "#c0392b"
            svg.append(f'<rect x="{x0:.1f}" y="{cy - 6:.1f}" width="{max(x1 - x0, 1.5):.1f}" height="12" '
                       f'fill="{colour}"><title>{esc(best_peer)}: {best_ratio:.2f}</title></rect>')
            for peer, ratio in peers:
                if peer != best_peer:
                    svg.append(f'<line x1="{x(ratio):.1f}" y1="{cy - 6:.1f}" x2="{x(ratio):.1f}" y2="{cy + 6:.1f}" '
                               f'stroke="#999" stroke-width="1.5"><title>{esc(peer)}: {ratio:.2f}</title></line>')
            svg.append(f'<text x="{label_w + plot_w + 6}" y="{cy + 4:.1f}">{best_ratio:.2f}x '
                       f'<tspan fill="#666">vs {esc(best_peer[:24])}</tspan></text>')
        svg.append(f'<line x1="{x(1):.1f}" y1="{top - 2}" x2="{x(1):.1f}" y2="{bottom + 2}" stroke="black" '
                   f'stroke-width="1.5"/>')
        y = bottom + gap
    svg.append(f'<text x="{x(1):.1f}" y="{height - 8}" text-anchor="middle" fill="#444">1.0 = as fast as the '
               f'fastest peer</text>')
    svg.append("</svg>")
    with open(os.path.join(out, "chart.svg"), "w") as f:
        f.write("\n".join(svg) + "\n")


if __name__ == "__main__":
    main()
