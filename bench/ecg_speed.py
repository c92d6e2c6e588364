"""Speed and memory of the ECG classifier on CPU: classify_batch throughput for batches of 64 records
at 100 Hz and 500 Hz input, single-record latency (classification, and with saliency for one and
two labels), analyze() of one record (quality, measurements, model, explanations), the one-off
model load, and the peak resident memory of the process.

    python bench/ecg_speed.py [--threads 2] [--repeats 20]

Input: the ten 10 s PTB-XL records of tests/data/ptbxl (500 Hz), tiled to 64 and decimated for the
100 Hz case, so the figures need nothing outside the repository.
"""

import argparse
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def main() -> None:  # noqa: PLR0915 - one report, figure after figure
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    os.environ["CARDIOALERT_TORCH_THREADS"] = str(args.threads)

    import numpy as np
    import torch
    import wfdb
    from scipy.signal import resample_poly

    from ecg_ml.analysis import analyze
    from ecg_ml.classify import classify_batch, load_classifier, saliency_maps
    from ecg_ml.data import printout_view
    from ecg_ml.record import STANDARD_LEADS, ECGRecord

    baseline_rss = peak_rss_mib()
    records = sorted((ROOT / "tests" / "data" / "ptbxl").glob("*_hr.hea"))
    signals = []
    for header in records:
        sig, info = wfdb.rdsamp(str(header.with_suffix("")))
        order = [[name.upper() for name in info["sig_name"]].index(lead.upper()) for lead in STANDARD_LEADS]
        signals.append(sig[:, order].astype(np.float32))
    x500 = np.stack([signals[i % len(signals)] for i in range(64)])
    x100 = resample_poly(x500, 1, 5, axis=1).astype(np.float32)

    started = time.perf_counter()
    clf = load_classifier()
    load_s = time.perf_counter() - started
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
        f"torch {torch.__version__}"
    )
    print(f"threads: {torch.get_num_threads()}; model {clf.name} {clf.version}; load {load_s * 1000:.0f} ms")

    def timed(fn: object, repeats: int) -> list[float]:
        fn()  # type: ignore[operator]
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn()  # type: ignore[operator]
            times.append(time.perf_counter() - t)
        return times

    for label, batch, fs in (
        ("64 x 10 s at 100 Hz", x100, 100.0),
        ("64 x 10 s at 500 Hz", x500, 500.0),
        ("64 x 10 s at 500 Hz, printout view", printout_view(x500), 500.0),
    ):
        times = timed(lambda b=batch, f=fs: classify_batch(b, f), args.repeats)
        median = statistics.median(times)
        print(f"classify_batch {label}: median {median * 1000:.0f} ms -> {len(batch) / median:.0f} records/s")

    one = x500[:1]
    times = timed(lambda: classify_batch(one, 500.0), args.repeats * 2)
    print(
        f"one record (500 Hz, 10 s): median {statistics.median(times) * 1000:.1f} ms, "
        f"max {max(times) * 1000:.1f} ms"
    )
    times = timed(lambda: (classify_batch(one, 500.0), saliency_maps(one[0], 500.0, ["AFIB"])), args.repeats)
    print(f"one record + saliency for one label: median {statistics.median(times) * 1000:.1f} ms")
    times = timed(
        lambda: (classify_batch(one, 500.0), saliency_maps(one[0], 500.0, ["AFIB", "MI"])), args.repeats
    )
    print(f"one record + saliency for two labels: median {statistics.median(times) * 1000:.1f} ms")

    # The whole reading as the worker runs it: quality, measurements, model, explanations, advice.
    analyze(ECGRecord(signal=signals[0], fs=500.0))  # warm-up
    totals, stages = [], {}
    for _ in range(max(1, args.repeats // 5)):
        for sig in signals:
            t = time.perf_counter()
            reading = analyze(ECGRecord(signal=sig, fs=500.0))
            totals.append(time.perf_counter() - t)
            for stage, ms in reading.timings_ms.items():
                stages.setdefault(stage, []).append(ms)
    per_stage = ", ".join(f"{stage} {statistics.median(ms):.0f}" for stage, ms in stages.items())
    print(
        f"analyze() of one 10 s 500 Hz record ({len(signals)} records): median "
        f"{statistics.median(totals) * 1000:.0f} ms, max {max(totals) * 1000:.0f} ms "
        f"(median ms per stage: {per_stage})"
    )
    long = np.concatenate([x500[:1]] * 3, axis=1)
    times = timed(lambda: classify_batch(long, 500.0), args.repeats)
    print(f"one 30 s record (500 Hz, 5 windows): median {statistics.median(times) * 1000:.1f} ms")
    print(
        f"peak RSS: {peak_rss_mib():.0f} MiB "
        f"(after imports and data: {baseline_rss:.0f} MiB before the model)"
    )


if __name__ == "__main__":
    main()
