"""A stdlib-heavy workload for the preload test: deterministic output, lots of allocation."""
import collections, decimal, hashlib, itertools, json, random, re, sqlite3, threading, zlib

random.seed(7)
words = ["".join(random.choice("abcdefghij") for _ in range(random.randint(1, 12))) for _ in range(60000)]
counts = collections.Counter(words)
print("distinct", len(counts), "top", counts.most_common(3))
blob = json.dumps({w: [i, str(i) * (i % 7)] for i, w in enumerate(words[:20000])}, sort_keys=True)
print("json", len(blob), hashlib.sha256(blob.encode()).hexdigest()[:16])
print("re", len(re.findall(r"a[bc]+d?", " ".join(words))))
print("zlib", len(zlib.compress(blob.encode(), 9)))
decimal.getcontext().prec = 60
print("decimal", sum(decimal.Decimal(i) / 7 for i in range(1, 3000)))
db = sqlite3.connect(":memory:")
db.execute("create table t (k text, v integer)")
db.executemany("insert into t values (?, ?)", ((w, i) for i, w in enumerate(words)))
print("sqlite", db.execute("select count(*), sum(v), max(k) from t where k like 'a%'").fetchone())
results = [0] * 8
def work(n):
    results[n] = sum(len(str(x)) for x in itertools.islice(itertools.permutations(range(8)), n * 1000, n * 1000 + 4000))
threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
for t in threads: t.start()
for t in threads: t.join()
print("threads", results)
