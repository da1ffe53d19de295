"""Kernel throughput per backend and label-space size: records/s and effective bandwidth.

    python bench/kernels.py                                  # numpy + numba, L = 1e2 .. 1e5
    python bench/kernels.py --backends cupy numba --json     # the GPU run (one JSON per line)
    python bench/kernels.py --labels 1000 --kernels jaccard --repeats 20

Data: batches of 1,024 records, about 5 labels each (1 + Poisson(4) draws, repeats in a
record merged), labels drawn with Zipf-like popularity ``p(rank r) ~ 1 / r**0.8`` so a
few labels are frequent and most are rare, as in tag and product streams. The state the
kernels read (the co-occurrence counts ``C`` or its Jaccard matrix) is built from a
history of 16 such batches (16,384 records); the timed call is then:

* ``cooccurrence_update``: add one batch of 1,024 records. Dense: ``C[i, j] += 1`` into
  the ``L x L`` float64 matrix (:func:`stream.kernels.cooccurrence_update`). Sparse: the
  rolling sparse store (:class:`stream.sparse_cooccurrence.SparseCooccurrence`,
  cumulative) takes the batch: its summed pairs (:func:`cooccurrence_pairs`) merged into
  the sorted pair arrays;
* ``jaccard``: the similarities from the counts. Dense: the whole ``L x L`` matrix
  (:func:`jaccard`). Sparse: every stored pair (:func:`jaccard_pairs`);
* ``topk_similar``: the 10 most similar labels of every label, from the dense Jaccard
  matrix (:func:`topk_similar`) or its CSR form (:func:`topk_similar_sparse`);
* ``metric_counts``: per-record and per-label counts of a batch against predictions
  (another batch of the same distribution), CSR in, always "sparse".

records/s is 1,024 (``--batch``) over the time of one call, for every kernel: the rate a
stream could run at if it called that kernel once per batch of 1,024 records. A batch of
1,024 records touches well under a megabyte in the update and the metric counts, so on a
GPU those two are bound by kernel-launch and synchronisation latency, not bandwidth;
``--batch 1048576`` shows how they scale with more work per call. Timings are the best of
``--repeats`` calls after one warm-up call on the same data (numba compiles or loads its
cache, CuPy compiles its kernels; the numpy reference has none), stopping early when a
case exceeds ``--budget`` seconds; on a shared machine take them as lower bounds on the
speed. GPU calls are timed with a device synchronisation after each.

Effective bandwidth is the bytes a kernel must touch at the least, divided by its time,
counted the same way for every backend and layout (8 bytes per int64 index or float64
value; a read-modify-write counts twice):

* update: ``8 (n + 1) + 8 nnz`` (the batch) ``+ 16 P``, ``P`` = sum over records of
  (distinct labels)**2, the cells incremented;
* jaccard, dense: ``16 L**2`` (read ``C``, write ``J``); sparse: ``32 nnz + 8 L``
  (read row, column, count; write the similarity; the diagonal);
* topk_similar, dense: ``8 L**2 + 16 L k``; sparse: ``8 (L + 1) + 16 nnz + 16 L k``;
* metric_counts: both CSR batches read, ``3 x 8`` bytes per record and per label written.

Sizes that do not fit are skipped with a message (on stderr with ``--json``): each case
estimates its peak memory (a dense ``L x L`` float64 matrix is 8 GB at ``L = 31,623``;
the dense numpy reference needs several such arrays) and runs only if that stays below
``--memory-fraction`` of the available host (or GPU) memory. At ``L = 100,000`` the dense
layouts need 80 GB per matrix: only the sparse layout runs there. The numpy reference of
the sparse top-k densifies blocks of rows (``O(L**2)`` cells) and is skipped above
``L = 20,000``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stream.kernels import (  # noqa: E402
    cooccurrence_pairs,
    cooccurrence_update,
    cupy_available,
    jaccard,
    jaccard_pairs,
    metric_counts,
    topk_similar,
    topk_similar_sparse,
)
from stream.sparse_cooccurrence import SparseCooccurrence  # noqa: E402

KERNELS = ("cooccurrence_update", "jaccard", "topk_similar", "metric_counts")
BATCH = 1024  # default records per timed batch (--batch)
HISTORY_BATCHES = 16  # batches of 1,024 records behind the state
TOPK = 10
SPARSE_REFERENCE_MAX_L = 20_000


# ------------------------------------------------------------------------------ data

def make_batch(rng, n, L, p):
    """``n`` records of ~5 distinct labels (CSR, sorted within records) drawn from ``p``."""
    m = rng.poisson(4.0, n) + 1
    labels = rng.choice(L, size=int(m.sum()), p=p)
    rec = np.repeat(np.arange(n, dtype=np.int64), m)
    keys = np.unique(rec * L + labels)
    rec, col = keys // L, keys % L
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rec, minlength=n), out=indptr[1:])
    return indptr, col.astype(np.int64)


def concat_batches(batches):
    """One CSR batch from several, in order."""
    sizes = np.concatenate([np.diff(ptr) for ptr, _ in batches])
    indptr = np.zeros(sizes.size + 1, dtype=np.int64)
    np.cumsum(sizes, out=indptr[1:])
    return indptr, np.concatenate([idx for _, idx in batches])


def zipf(L, exponent=0.8):
    p = 1.0 / np.arange(1, L + 1, dtype=np.float64) ** exponent
    return p / p.sum()


def pair_cells(indptr):
    m = np.diff(indptr)
    return int((m * m).sum())


# ---------------------------------------------------------------------------- memory

def host_available() -> int:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))


def device_available() -> int:
    import cupy

    cupy.get_default_memory_pool().free_all_blocks()
    free, _ = cupy.cuda.runtime.memGetInfo()
    return int(free)


def dense_peak(kernel, backend, L, n):
    """Peak bytes of a dense case, the state included (float64 cells)."""
    cell = 8 * L * L
    if kernel == "cooccurrence_update":
        return {"numpy": 2 * cell + 8 * n * L + cell}.get(backend, cell)
    if kernel == "jaccard":
        return {"numpy": 5 * cell}.get(backend, 2 * cell)
    if kernel == "topk_similar":
        return {"numpy": 6 * cell}.get(backend, cell + (1 << 27))
    return 0


def fmt_bytes(b):
    return f"{b / 1e9:.1f} GB" if b >= 1e9 else f"{b / 1e6:.0f} MB"


# ---------------------------------------------------------------------------- timing

class Clock:
    def __init__(self, backend):
        self.warm_up = backend != "numpy"  # the reference compiles nothing: no warm-up
        self.sync = None
        if backend == "cupy":
            import cupy

            self.sync = cupy.cuda.Stream.null.synchronize

    def __call__(self, fn, repeats, budget):
        if self.warm_up:
            fn()  # warm-up: JIT compile / cache load / CuPy kernel compile
            if self.sync:
                self.sync()
        best, spent, runs = float("inf"), 0.0, 0
        while runs < repeats and (runs == 0 or spent < budget):
            t = time.perf_counter()
            fn()
            if self.sync:
                self.sync()
            dt = time.perf_counter() - t
            best, spent, runs = min(best, dt), spent + dt, runs + 1
        return best, runs


# ----------------------------------------------------------------------------- cases

def run_cases(args, emit, skip):
    rng = np.random.default_rng(args.seed)
    for L in args.labels:
        p = zipf(L)
        n = args.batch
        history = [make_batch(rng, BATCH, L, p) for _ in range(HISTORY_BATCHES)]
        h_ptr, h_idx = concat_batches(history)
        batch = make_batch(rng, n, L, p)
        pred = make_batch(rng, n, L, p)
        P = pair_cells(batch[0])
        nnz_b = batch[1].size
        update_bytes = 8 * (n + 1) + 8 * nnz_b + 16 * P
        # sparse state: the history's summed pairs (off-diagonal CSR for top-k)
        r, c, v = cooccurrence_pairs(h_ptr, h_idx, n_labels=L)
        diag = np.zeros(L)
        on = r == c
        diag[r[on]] = v[on]
        off = ~on
        r_off, c_off, v_off = r[off], c[off], v[off]
        J_off = jaccard_pairs(r_off, c_off, v_off, diag)
        csr_ptr = np.searchsorted(r_off, np.arange(L + 1))
        nnz = int(r_off.size)
        for backend in args.backends:
            if backend == "cupy" and not args.cupy_ok:
                continue
            xp = np
            if backend == "cupy":
                import cupy as xp
            avail = device_available() if backend == "cupy" else host_available()
            budget_bytes = args.memory_fraction * avail
            clock = Clock(backend)
            dev = xp.asarray if backend == "cupy" else (lambda a: a)

            def case(kernel, layout, fn, nbytes, note="", _L=L, _backend=backend,
                     _clock=clock, _n=n):
                best, runs = _clock(fn, args.repeats, args.budget)
                emit({"kernel": kernel, "backend": _backend, "labels": _L, "layout": layout,
                      "records_per_second": _n / best, "batch": _n,
                      "gbytes_per_second": nbytes / best / 1e9,
                      "milliseconds": best * 1e3, "repeats": runs, "bytes": int(nbytes),
                      "note": note})

            for kernel in args.kernels:
                # ---------------------------------------------------------- dense
                if kernel != "metric_counts" and "dense" in args.layouts:
                    need = dense_peak(kernel, backend, L, n)
                    if need > budget_bytes:
                        skip(f"{kernel:19s} dense  {backend:5s} L={L:>7,}: skipped, needs "
                             f"~{fmt_bytes(need)} (dense {L:,} x {L:,} float64 is "
                             f"{fmt_bytes(8 * L * L)}) > {args.memory_fraction:.0%} of "
                             f"{fmt_bytes(avail)} available; see the sparse layout")
                    else:
                        C = xp.zeros((L, L))
                        cooccurrence_update(C, dev(h_ptr), dev(h_idx),
                                            backend="numba" if backend != "cupy" else "cupy")
                        if kernel == "cooccurrence_update":
                            ptr, idx = dev(batch[0]), dev(batch[1])
                            case(kernel, "dense",
                                 lambda C=C, ptr=ptr, idx=idx, b=backend:
                                 cooccurrence_update(C, ptr, idx, backend=b), update_bytes)
                        elif kernel == "jaccard":
                            case(kernel, "dense", lambda C=C, b=backend: jaccard(C, backend=b),
                                 16 * L * L)
                        else:
                            J = jaccard(C, backend="cupy" if backend == "cupy" else "numba")
                            del C
                            case(kernel, "dense",
                                 lambda J=J, b=backend: topk_similar(J, TOPK, backend=b),
                                 8 * L * L + 16 * L * TOPK)
                            del J
                        C = J = None
                        if backend == "cupy":
                            xp.get_default_memory_pool().free_all_blocks()
                # --------------------------------------------------------- sparse
                if "sparse" not in args.layouts and kernel != "metric_counts":
                    continue
                if kernel == "cooccurrence_update":
                    store = SparseCooccurrence(backend=backend)
                    store.update_batch(h_ptr, h_idx)

                    def upd(store=store, b=batch):
                        store.update_batch(*b)
                        store._ready()

                    case(kernel, "sparse", upd, update_bytes,
                         note=f"store of {store.nnz:,} pairs")
                elif kernel == "jaccard":
                    args_j = tuple(dev(a) for a in (r_off, c_off, v_off, diag))
                    case(kernel, "sparse",
                         lambda a=args_j, b=backend: jaccard_pairs(*a, backend=b),
                         32 * nnz + 8 * L, note=f"{nnz:,} pairs")
                elif kernel == "topk_similar":
                    if backend == "numpy" and L > SPARSE_REFERENCE_MAX_L:
                        skip(f"{kernel:19s} sparse numpy L={L:>7,}: skipped, the reference "
                             f"densifies blocks of rows ({L:,}^2 cells)")
                        continue
                    args_t = tuple(dev(a) for a in (csr_ptr, c_off, J_off))
                    case(kernel, "sparse",
                         lambda a=args_t, b=backend: topk_similar_sparse(*a, TOPK, backend=b),
                         8 * (L + 1) + 16 * nnz + 16 * L * TOPK, note=f"{nnz:,} pairs")
                else:
                    t_ptr, t_idx, p_ptr, p_idx = (dev(a) for a in (*batch, *pred))
                    nbytes = (8 * (2 * (n + 1) + t_idx.size + p_idx.size)
                              + 24 * n + 24 * L)
                    case(kernel, "csr",
                         lambda a=(t_ptr, t_idx, p_ptr, p_idx), b=backend, n=L:
                         metric_counts(*a, n, backend=b), nbytes)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backends", nargs="+", default=["numpy", "numba"],
                    choices=["numpy", "numba", "cupy"])
    ap.add_argument("--labels", nargs="+", type=int, default=[100, 1_000, 10_000, 100_000])
    ap.add_argument("--kernels", nargs="+", default=list(KERNELS), choices=KERNELS)
    ap.add_argument("--layouts", nargs="+", default=["dense", "sparse"],
                    choices=["dense", "sparse"])
    ap.add_argument("--batch", type=int, default=BATCH,
                    help="records per timed batch (the state is always 16 x 1,024 records)")
    ap.add_argument("--repeats", type=int, default=7, help="timed calls; the best is kept")
    ap.add_argument("--budget", type=float, default=10.0,
                    help="stop repeating a case after this many seconds (at least one call)")
    ap.add_argument("--memory-fraction", type=float, default=0.5,
                    help="largest share of the available memory a case may need")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="one JSON object per line")
    args = ap.parse_args(argv)

    args.cupy_ok = "cupy" in args.backends and cupy_available()
    if "cupy" in args.backends and not args.cupy_ok:
        print("cupy: skipped (CuPy is not installed or no CUDA GPU is visible; "
              "pip install -e '.[gpu]' on a GPU machine)", file=sys.stderr)

    def skip(msg):
        print(msg, file=sys.stderr if args.json else sys.stdout, flush=True)

    if not args.json:
        print(f"{'kernel':19s} {'layout':6s} {'backend':7s} {'labels':>8s} {'ms':>10s} "
              f"{'records/s':>12s} {'GB/s':>8s}  note")

    def emit(row):
        if args.json:
            print(json.dumps(row), flush=True)
        else:
            print(f"{row['kernel']:19s} {row['layout']:6s} {row['backend']:7s} "
                  f"{row['labels']:>8,} {row['milliseconds']:>10.3f} "
                  f"{row['records_per_second']:>12,.0f} {row['gbytes_per_second']:>8.2f}  "
                  f"{row['note']}", flush=True)

    run_cases(args, emit, skip)
    return 0


if __name__ == "__main__":
    sys.exit(main())
