#!/usr/bin/env bash
# Real, unmodified programs with LD_PRELOAD=libcore_memory_malloc.so: each must print exactly what
# it prints without it, and the preload must have taken effect (the statistics line at exit).
# Usage: preload_programs.sh <libcore_memory_malloc.so> <program> [args...]
#   programs: python3 | git | gxx <source> | redis | test <test binary> | stress <binary>
set -euo pipefail
lib=$1
what=$2
shift 2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
here=$(cd "$(dirname "$0")" && pwd)

# compare <label> <command...>: stdout equal with and without the preload.
compare() {
  local label=$1
  shift
  "$@" </dev/null >"$work/plain.out" 2>"$work/plain.err" || { echo "$label failed without the preload"; cat "$work/plain.err"; exit 1; }
  CORE_MEMORY_MALLOC_STATS=1 LD_PRELOAD="$lib" "$@" </dev/null >"$work/preload.out" 2>"$work/preload.err" || {
    echo "$label failed under the preload"
    tail -20 "$work/preload.err"
    exit 1
  }
  grep -q "core-memory malloc" "$work/preload.err" || { echo "$label: the preload did not take effect"; exit 1; }
  if ! cmp -s "$work/plain.out" "$work/preload.out"; then
    echo "$label: output differs under the preload"
    diff "$work/plain.out" "$work/preload.out" | head -20
    grep -h -A8 "Failure" "$work/plain.err" "$work/preload.err" "$work/plain.out" "$work/preload.out" | head -40
    exit 1
  fi
  echo "$label: same output ($(wc -c <"$work/plain.out") bytes)"
}

case $what in
  python3)
    py=/usr/bin/python3
    [[ -x $py ]] || py=$(command -v python3)
    compare "python3 workload.py" "$py" "$here/workload.py"
    ;;
  git)
    command -v git >/dev/null || { echo "git missing"; exit 77; }
    export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.com GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.com
    export GIT_AUTHOR_DATE="2026-01-01T00:00:00Z" GIT_COMMITTER_DATE="2026-01-01T00:00:00Z" HOME="$work"
    script='set -e; rm -rf repo; git init -q repo; cd repo
      for i in $(seq 1 300); do printf "line %s\n%.0s" $(seq 1 $((i % 40 + 1))) > "f$i.txt"; done
      git add -A; git commit -qm one
      for i in $(seq 1 300 7); do echo changed >> "f$i.txt"; done
      git commit -qam two; git log --stat --format="%H %s" | md5sum; git -c gc.reflogExpire=never -c gc.reflogExpireUnreachable=never gc -q; git fsck --no-progress 2>/dev/null | md5sum
      git diff HEAD~1 --stat | tail -1; git rev-list --all --objects | wc -l'
    (cd "$work" && compare "git" bash -c "$script")
    ;;
  gxx)
    src=$1
    compare "g++ -O2" bash -c "g++ -std=c++20 -O2 -I'$here/../../include' -c '$src' -o - | md5sum"
    ;;
  redis)
    command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null || { echo "redis missing"; exit 77; }
    port=$((20000 + RANDOM % 20000))
    CORE_MEMORY_MALLOC_STATS=1 LD_PRELOAD="$lib" redis-server --port "$port" --save "" --appendonly no \
      --daemonize no >"$work/redis.out" 2>"$work/redis.err" &
    server=$!
    trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT  # no server left behind by a failed step
    for _ in $(seq 1 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    redis-benchmark -p "$port" -q -n 20000 -c 20 -t set,get,lpush,lpop,incr,hset -r 5000 -d 100 >"$work/bench.out"
    cat "$work/bench.out"
    # 500 keys of different lengths written, then read back key by key (one client each way).
    value() { printf -v pad '%*s' $(($1 % 50 + 1)) ''; want="${pad// /v}$1"; }
    for i in $(seq 1 500); do value "$i"; echo "SET key:$i $want"; done | redis-cli -p "$port" >/dev/null
    for i in $(seq 1 500); do echo "GET key:$i"; done | redis-cli -p "$port" >"$work/got"
    i=0
    while IFS= read -r got; do
      i=$((i + 1))
      value "$i"
      [[ $got == "$want" ]] || { echo "key:$i is '$got', expected '$want'"; kill $server; exit 1; }
    done <"$work/got"
    ((i == 500)) || { echo "read back $i keys, expected 500"; kill $server; exit 1; }
    redis-cli -p "$port" shutdown nosave >/dev/null || true
    wait $server || true
    grep -q "core-memory malloc" "$work/redis.err" "$work/redis.out" || { echo "redis: the preload did not take effect"; exit 1; }
    echo "redis: 500 keys checked after redis-benchmark"
    ;;
  test)
    # A test binary: the same tests pass (timings and measured figures differ from run to run).
    compare "$(basename "$1")" bash -c "'$1' --gtest_brief=1 | tee /dev/stderr | grep -E '^\[  (PASSED|FAILED|SKIPPED) '"
    ;;
  stress)
    CORE_MEMORY_MALLOC_STATS=1 LD_PRELOAD="$lib" "$1" >"$work/out" 2>"$work/err" || { cat "$work/out" "$work/err"; exit 1; }
    grep -q "core-memory malloc" "$work/err" || { echo "stress: the preload did not take effect"; exit 1; }
    cat "$work/out"
    ;;
  *)
    echo "unknown program $what"
    exit 2
    ;;
esac
