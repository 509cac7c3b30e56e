"""Bundle export speed and memory: `export_bundle` against plain zipfile on the same files, in one run.

    .venv/bin/python bench/bench_bundle.py                 # 0.3 GB, well under a minute
    .venv/bin/python bench/bench_bundle.py --size-gb 2     # the issue's large bundle

Generates evidence files (mostly incompressible, like PDFs and photos; a tenth compressible text, like
.doc/.xls) into a real store on a temporary SQLite file, files them against the seed plan's items, then
times `zipfile.ZipFile(out, "w").write(path, arcname)` for every file (the baseline: plain zipping,
zipfile's default ZIP_STORED) and `export_bundle` (folders, index.xlsx, README), alternating, best of
--runs. Memory is the process RSS sampled every 10 ms during a bundle export, and tracemalloc's peak in
a separate run (tracemalloc slows allocation, so that run is not timed). `deflate_mb_s` is zlib level 6
on 32 MB of the compressible content: why the bundle stores files instead of deflating them.
Prints one JSON object. Targets: ratio >= 0.8, memory flat and under 200 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import json
import os
import random
import sys
import tempfile
import threading
import time
import tracemalloc
import zipfile
import zlib
from pathlib import Path

from bot.exports.bundle import export_bundle
from bot.planfiles.yamlfile import default_plan_path, default_units_path, load_plan_file, load_units_file
from bot.store.store import Store, open_store

MB = 1 << 20
NOW = dt.datetime(2023, 10, 20, 2, 0, tzinfo=dt.UTC)
INCOMPRESSIBLE = (".pdf", ".jpg", ".png", ".docx")
COMPRESSIBLE = (".doc", ".xls", ".txt")
_ALPHABET = b"abcdefghijklmnop  \n0123456789,."
TEXT_TABLE = bytes(_ALPHABET[i % len(_ALPHABET)] for i in range(256))  # random bytes -> text-like, ~35% smaller


def rss_mb() -> float:
    """Return the resident set size of this process in MB (Linux)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / MB


class RssSampler(threading.Thread):
    """Record the highest RSS seen while running."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = rss_mb()
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, rss_mb())
            time.sleep(0.01)

    def stop(self) -> float:
        self._done.set()
        self.join()
        return max(self.peak, rss_mb())


def write_blob(store: Store, rng: random.Random, size: int, compressible: bool) -> tuple[str, int]:
    """Write `size` bytes straight into the file store's layout (no second copy); return (sha256, size)."""
    store.files.root.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=store.files.root, prefix=".bench-")
    digest = hashlib.sha256()
    left = size
    with os.fdopen(fd, "wb") as out:
        while left:
            n = min(left, MB)
            chunk = rng.randbytes(n)
            if compressible:
                chunk = chunk.translate(TEXT_TABLE)
            digest.update(chunk)
            out.write(chunk)
            left -= n
    sha = digest.hexdigest()
    final = store.files.path_for(sha)
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(name, final)
    return sha, size


async def populate(store: Store, total: int, seed: int) -> list[tuple[Path, str]]:
    """Spread files of 0.1–24 MB over the plan's items until `total` bytes; return (stored path, name) pairs."""
    rng = random.Random(seed)
    plan = await store.plans.plan(None)
    tasks = await store.plans.tasks(plan.id)
    slots = [(t.no, i.no) for t in tasks for i in t.items if not any(n < t.no for n in t.shared_with)]
    made: list[tuple[Path, str]] = []
    written = 0
    while written < total:
        size = min(total - written, int(min(24 * MB, max(0.1 * MB, rng.lognormvariate(14.5, 1.2)))))
        compressible = rng.random() < 0.1
        suffix = rng.choice(COMPRESSIBLE if compressible else INCOMPRESSIBLE)
        sha, size = await asyncio.to_thread(write_blob, store, rng, size, compressible)
        task_no, item_no = slots[len(made) % len(slots)]
        name = f"佐证材料-{len(made) + 1:04d}{suffix}"
        await store.evidence.add(plan.id, task_no, item_no, sha256=sha, size=size, file_name=name,
                                 mime_type="application/octet-stream", unit="区水务局", by="bench", channel="console",
                                 now=NOW)
        made.append((store.files.path_for(sha), name))
        written += size
    return made


def deflate_speed() -> float:
    """Return zlib level-6 throughput in MB/s on 32 MB of the compressible content."""
    data = random.Random(1).randbytes(32 * MB).translate(TEXT_TABLE)
    start = time.perf_counter()
    z = zlib.compressobj(6, zlib.DEFLATED, -15)
    z.compress(data)
    z.flush()
    return 32 / (time.perf_counter() - start)


def plain_zip(files: list[tuple[Path, str]], out: Path) -> float:
    """Zip the files with zipfile's defaults (stored) and return the seconds it took."""
    start = time.perf_counter()
    with zipfile.ZipFile(out, "w") as zf:
        for i, (path, name) in enumerate(files):
            zf.write(path, f"{i:05d}/{name}")
    return time.perf_counter() - start


async def bundle_once(store: Store, out: Path) -> tuple[float, float, int]:
    """Export the bundle; return (seconds, peak RSS MB, zip bytes)."""
    sampler = RssSampler()
    sampler.start()
    start = time.perf_counter()
    result = await export_bundle(store, None, out, generated_at=NOW)
    seconds = time.perf_counter() - start
    return seconds, sampler.stop(), result.zip_bytes


async def run(size_gb: float, runs: int, where: str | None) -> dict[str, object]:
    with tempfile.TemporaryDirectory(dir=where, prefix="duban-bench-") as d:
        root = Path(d)
        store = await open_store(f"sqlite+aiosqlite:///{root}/bench.db", root)
        try:
            units = load_units_file(default_units_path())
            await store.plans.import_plan(load_plan_file(default_plan_path(), units), "bench", NOW)
            t0 = time.perf_counter()
            files = await populate(store, int(size_gb * 1024 * MB), seed=7)
            generated = time.perf_counter() - t0
            content = sum(p.stat().st_size for p, _ in files)
            rss_before = rss_mb()
            baseline: list[float] = []
            bundle: list[float] = []
            peaks: list[float] = []
            zip_bytes = 0
            for _ in range(runs):
                out = root / "plain.zip"
                baseline.append(await asyncio.to_thread(plain_zip, files, out))
                out.unlink()
                out = root / "bundle.zip"
                seconds, peak, zip_bytes = await bundle_once(store, out)
                bundle.append(seconds)
                peaks.append(peak)
                out.unlink()
            tracemalloc.start()
            await export_bundle(store, None, root / "traced.zip", generated_at=NOW)
            traced_peak = tracemalloc.get_traced_memory()[1] / MB
            tracemalloc.stop()
            (root / "traced.zip").unlink()
        finally:
            await store.close()
    best_plain, best_bundle = min(baseline), min(bundle)
    ratio = best_plain / best_bundle
    return {
        "python": sys.version.split()[0],
        "size_gb": size_gb,
        "files": len(files),
        "content_mb": round(content / MB, 1),
        "zip_mb": round(zip_bytes / MB, 1),
        "generate_s": round(generated, 1),
        "runs": runs,
        "baseline_plain_zipfile_s": [round(x, 2) for x in baseline],
        "bundle_s": [round(x, 2) for x in bundle],
        "baseline_mb_s": round(content / MB / best_plain, 1),
        "bundle_mb_s": round(content / MB / best_bundle, 1),
        "ratio": round(ratio, 2),
        "rss_before_mb": round(rss_before, 1),
        "rss_peak_during_bundle_mb": round(max(peaks), 1),
        "rss_growth_mb": round(max(peaks) - rss_before, 1),
        "tracemalloc_peak_mb": round(traced_peak, 1),
        "deflate_mb_s": round(deflate_speed(), 1),
        "targets": {"ratio": 0.8, "memory_mb": 200},
        "meets_ratio": ratio >= 0.8,
        "meets_memory": max(peaks) < 200,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size-gb", type=float, default=0.3, help="evidence to generate (default 0.3)")
    p.add_argument("--runs", type=int, default=3, help="timed runs of each, best taken (default 3)")
    p.add_argument("--dir", default=None, help="where to put the temporary files (default: the system temp dir)")
    a = p.parse_args()
    print(json.dumps(asyncio.run(run(a.size_gb, a.runs, a.dir)), ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
