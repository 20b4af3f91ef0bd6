"""How long `propose` (bot/domain/matching.py) takes on a cohort-sized pool, and how it grows.

    .venv/bin/python -m bench.matching [--sizes 1000x100,2500x250,...] [--repeat 3]

Pure: no database, no bot. Random but realistic pools, the same for every run (seeded):

* trainees: a plan area for 85% of them (from content/areas.yaml), one of 16 districts (5%
  without), 社区 / 村 / 街道 units (60/30/10), from one unit per 5 trainees (2,000 units for
  10,000 trainees); a third have 1-3 LTSI barriers (factor ids from
  content/ltsi/factors.yaml), some factors more common than others;
* mentors: 1-3 areas, 1-3 of 8 strengths that cover 2 LTSI factors each, a district, a unit:
  30% of them from one of the trainees' units (so the own-unit rule bites), the rest from
  units of their own; capacities 5-15 (the total is near the number of trainees: above it
  in some pools, below in others).

For each size and both Prefer modes: seconds (best of --repeat runs, as the machine is shared)
and CPU seconds (best of the same runs: what the work costs, whatever else the machine is
doing; numpy may use both cores), the matched and unmatched trainees, the total score, the
peak memory of one run (tracemalloc: Python and numpy allocations), then the exponent of a
log-log fit of time against the number of trainees (mentors grow with them, 1 per 10).
Last, 10,000 trainees x 1,000 mentors with ample (8-15, total above the trainees) and tight
(5-12, total below) capacities against the 5 s target (exit status 1 when it is missed).
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
import tracemalloc
from pathlib import Path

import yaml

from bot.domain.matching import Assignment, MentorOffer, Prefer, TraineeNeed, Weights, propose

ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 5.0
DEFAULT_SIZES = "1000x100,2500x250,5000x500,10000x1000,20000x2000"
DISTRICTS = [f"district-{i:02d}" for i in range(16)]
UNIT_TYPES = ["社区", "村", "街道"]
UNIT_TYPE_WEIGHTS = [6, 3, 1]
STRENGTHS = 8


def _areas() -> list[str]:
    data = yaml.safe_load((ROOT / "content" / "areas.yaml").read_text(encoding="utf-8"))
    return [str(area["id"]) for area in data["areas"]]


def _factors() -> list[str]:
    data = yaml.safe_load((ROOT / "content" / "ltsi" / "factors.yaml").read_text("utf-8"))
    return [str(factor) for factor in data["factors"]]


def pool(
    trainees: int, mentors: int, seed: int = 7, capacity: tuple[int, int] = (5, 15)
) -> tuple[list[TraineeNeed], list[MentorOffer]]:
    """A random, realistic pool (the same for the same arguments)."""
    rng = random.Random(seed)
    areas, factors = _areas(), _factors()
    factor_weights = [1 + (i * 7) % 5 for i in range(len(factors))]
    strengths = [
        frozenset(factors[(2 * s + k) % len(factors)] for k in range(2)) for s in range(STRENGTHS)
    ]
    units = [f"unit-{i:04d}" for i in range(max(1, trainees // 5))]
    needs = []
    for index in range(trainees):
        barriers: set[str] = set()
        if rng.random() < 1 / 3:
            while len(barriers) < rng.randint(1, 3):
                barriers.add(rng.choices(factors, factor_weights)[0])
        needs.append(
            TraineeNeed(
                user_id=1_000_000 + index,
                unit=rng.choice(units),
                unit_type=rng.choices(UNIT_TYPES, UNIT_TYPE_WEIGHTS)[0],
                district=rng.choice(DISTRICTS) if rng.random() < 0.95 else None,
                area=rng.choice(areas) if rng.random() < 0.85 else None,
                barriers=frozenset(barriers),
            )
        )
    offers = []
    for index in range(mentors):
        covers = frozenset().union(*rng.sample(strengths, rng.randint(1, 3)))
        offers.append(
            MentorOffer(
                user_id=5_000_000 + index,
                unit=rng.choice(units) if rng.random() < 0.3 else f"mentor-unit-{index}",
                unit_type=rng.choices(UNIT_TYPES, UNIT_TYPE_WEIGHTS)[0],
                district=rng.choice(DISTRICTS),
                areas=frozenset(rng.sample(areas, rng.randint(1, 3))),
                covers=covers,
                capacity=rng.randint(*capacity),
            )
        )
    return needs, offers


def measure(
    needs: list[TraineeNeed], offers: list[MentorOffer], prefer: Prefer, repeat: int
) -> tuple[float, float, float, Assignment]:
    """Best wall-clock and best CPU seconds of `repeat` runs, the peak MiB traced in one
    more run, and the assignment."""
    weights = Weights()
    best = best_cpu = math.inf
    result = None
    for _ in range(repeat):
        started, cpu = time.perf_counter(), time.process_time()
        result = propose(needs, offers, weights, prefer)
        best = min(best, time.perf_counter() - started)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    tracemalloc.start()
    propose(needs, offers, weights, prefer)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    assert result is not None
    return best, best_cpu, peak, result


def row(
    label: str, prefer: Prefer, capacity: int, figures: tuple[float, ...], a: Assignment
) -> str:
    seconds, cpu, peak = figures
    return (
        f"{label:>12} {prefer.value:>8} {capacity:>8} {seconds:>8.3f} {cpu:>6.3f} {len(a.pairs):>8}"
        f" {len(a.unmatched):>9} {a.total:>8} {peak:>9.1f}"
    )


HEADER = (
    f"{'size':>12} {'prefer':>8} {'capacity':>8} {'seconds':>8} {'cpu s':>6} {'matched':>8}"
    f" {'unmatched':>9} {'total':>8} {'peak MiB':>9}"
)


def slope(xs: list[int], ys: list[float]) -> float:
    """The slope of the least-squares line through (log x, log y)."""
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    num = sum((x - mx) * (y - my) for x, y in zip(lx, ly, strict=True))
    return num / sum((x - mx) ** 2 for x in lx)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help="TRAINEESxMENTORS,...")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [tuple(int(v) for v in size.split("x")) for size in args.sizes.split(",")]

    print(HEADER)
    times: dict[Prefer, list[tuple[int, float, float]]] = {prefer: [] for prefer in Prefer}
    for trainees, mentors in sizes:
        needs, offers = pool(trainees, mentors)
        capacity = sum(offer.capacity for offer in offers)
        for prefer in Prefer:
            seconds, cpu, peak, result = measure(needs, offers, prefer, args.repeat)
            times[prefer].append((trainees, seconds, cpu))
            figures = (seconds, cpu, peak)
            print(row(f"{trainees}x{mentors}", prefer, capacity, figures, result), flush=True)

    for prefer, points in times.items():
        if len(points) >= 2:
            counts = [n for n, _, _ in points]
            wall = slope(counts, [s for _, s, _ in points])
            cpu = slope(counts, [c for _, _, c in points])
            print(
                f"growth ({prefer.value}): seconds ~ trainees^{wall:.2f},"
                f" cpu ~ trainees^{cpu:.2f} (log-log fit, mentors = trainees / 10)"
            )

    print(f"\ntarget: 10000 trainees x 1000 mentors in under {TARGET_SECONDS:.0f} s")
    print(HEADER)
    worst = 0.0
    for name, capacity_range in (("ample", (8, 15)), ("tight", (5, 12))):
        needs, offers = pool(10_000, 1_000, seed=11, capacity=capacity_range)
        capacity = sum(offer.capacity for offer in offers)
        for prefer in Prefer:
            seconds, cpu, peak, result = measure(needs, offers, prefer, args.repeat)
            worst = max(worst, seconds)
            print(row(f"10k {name}", prefer, capacity, (seconds, cpu, peak), result), flush=True)
    verdict = "met" if worst < TARGET_SECONDS else "MISSED"
    print(f"slowest {worst:.3f} s: target {verdict} ({TARGET_SECONDS:.0f} s)")
    return 0 if worst < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
