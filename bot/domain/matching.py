"""Mentor matching (导师跟踪制): who should guide whom, over a whole cohort at once.

Pure: no I/O. The service gathers the trainees' needs and the mentors' offers, `propose`
returns an optimal assignment with a reason for every pair.

The contract (implemented by `propose`, checked by tests/unit/test_matching.py):
- the total score of the chosen pairs is the maximum possible under the constraints —
  an optimal assignment (min-cost flow), not a greedy one;
- a mentor never gets more mentees than their capacity;
- a mentor never gets a mentee from their own unit (same normalised unit key);
- with Prefer.COVERAGE the number of matched trainees comes first (as many as the
  capacities and the unit rule allow), the score second; with Prefer.SCORE only the total
  score counts, and a pair with a score of 0 or less is never made;
- ties are broken deterministically (the same input gives the same output).

How `propose` does it (exactly, in about a second for 10,000 trainees x 1,000 mentors; the
figures: bench/matching.py):

1. Classes. Trainees alike in everything that can score (plan area, district, unit type,
   barriers: only the values some mentor has) are interchangeable, unless a mentor shares
   their unit, when the unit is part of their class too. 10,000 trainees make about 4,800
   classes, each with a supply (its size). This is now a transportation problem: classes x
   mentors (capacities), with gain = score, plus for COVERAGE a bonus per pair larger than
   any possible difference in total score (so that one more pair always wins); for SCORE
   pairs scoring 0 are left out.
2. Candidates. Each class starts with its 24 best mentors (equal scores in a fixed
   pseudo-random order, so that classes alike spread over mentors alike).
3. Min-cost flow on the candidates, by successive shortest paths with scipy.sparse.csgraph:
   each phase a Dijkstra on reduced costs, then a maximum flow (Dinic) on the arcs of
   reduced cost 0, which augments along every shortest path at once. Scores are small
   integers, so there are few distinct path lengths: about 15 phases on the bench pools.
4. Certificate. The flow's potentials give every mentor a price v; all pairs of the whole
   pool (not just the candidates) are priced in numpy, a block of classes at a time. By LP
   duality sum(supply x max(0, best gain - price)) + sum(capacity x v) bounds every
   assignment from above; everything is an integer, so when that bound equals the flow's
   total, the flow is optimal for the whole pool. Otherwise the pairs that price out
   (up to 8 per class) join the candidates and the flow is solved again: 1 or 2 rounds on
   the bench pools.
5. Back to trainees: a class's members, in user id order, fill the seats it got, mentor by
   mentor in user id order.

Why this way: on the same 10,000 x 1,000 pool, HiGHS (scipy.optimize.linprog) on the same
classes took 20 s a round with the dual simplex (24 candidates per class), and 1 s with the
interior point method on only 8 candidates per class, against 0.2 s for a whole flow here
(24 per class); the pricing is one matrix product and a few passes over classes x mentors.
It needs numpy and scipy only: OR-Tools' min-cost flow would bring pandas, protobuf, absl-py
and immutabledict along; `lap` (LAPJV) would need a column per seat, per trainee not class.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_array
from scipy.sparse.csgraph import dijkstra, maximum_flow


class Prefer(StrEnum):
    COVERAGE = "coverage"  # nobody left unmatched (as far as possible), then best scores
    SCORE = "score"  # best total score, even if someone is left unmatched


@dataclass(frozen=True, slots=True)
class Weights:
    """Points for each kind of fit; from settings (MATCH_WEIGHTS), never hard-coded."""

    area: int = 5  # the trainee's plan area is one of the mentor's areas
    district: int = 3  # same district
    barrier: int = 2  # per LTSI barrier of the trainee that the mentor's strengths cover
    unit_type: int = 1  # same kind of unit (社区 / 村 / 街道)

    @classmethod
    def parse(cls, text: str) -> Weights:
        """'area=5,district=3,barrier=2,unit_type=1' (any subset; the rest default)."""
        values: dict[str, int] = {}
        known = set(cls.__dataclass_fields__)
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, sep, raw = part.partition("=")
            name = name.strip()
            if not sep or name not in known:
                raise ValueError(f"MATCH_WEIGHTS: unknown weight {name!r} (known: {sorted(known)})")
            try:
                values[name] = int(raw)
            except ValueError:
                raise ValueError(f"MATCH_WEIGHTS: {name} must be a whole number") from None
            if not 0 <= values[name] <= 100:
                raise ValueError(f"MATCH_WEIGHTS: {name} must be between 0 and 100")
        return cls(**values)


@dataclass(frozen=True, slots=True)
class TraineeNeed:
    user_id: int
    unit: str  # normalised unit key (see unit_key)
    unit_type: str | None
    district: str | None  # normalised (see district_key)
    area: str | None  # the plan's work area id, if there is a plan
    barriers: frozenset[str] = frozenset()  # LTSI factor ids below the barrier threshold


@dataclass(frozen=True, slots=True)
class MentorOffer:
    user_id: int
    unit: str
    unit_type: str | None
    district: str | None
    areas: frozenset[str]
    covers: frozenset[str]  # LTSI factor ids their strengths cover
    capacity: int


@dataclass(frozen=True, slots=True)
class Reason:
    """One part of a pair's score, for the plain-words reason shown to the organiser."""

    code: str  # area | district | barrier | unit_type
    points: int
    detail: tuple[str, ...] = ()  # the area id, or the barrier factor ids covered


@dataclass(frozen=True, slots=True)
class Pair:
    trainee_id: int
    mentor_id: int
    score: int
    reasons: tuple[Reason, ...]


@dataclass(frozen=True, slots=True)
class Assignment:
    pairs: tuple[Pair, ...]
    unmatched: tuple[int, ...]  # trainee user ids
    total: int = 0
    load: Mapping[int, int] = field(default_factory=dict)  # mentor id → mentees


def unit_key(name: str | None) -> str:
    """Units compare by name, ignoring case, spaces and full-width forms."""
    import unicodedata

    return "".join(unicodedata.normalize("NFKC", name or "").lower().split())


def district_key(name: str | None) -> str | None:
    key = unit_key(name)
    return key or None


def score(
    need: TraineeNeed, offer: MentorOffer, weights: Weights
) -> tuple[int, tuple[Reason, ...]]:
    """The pair's points and why. Allowed or not is `allowed`'s business."""
    reasons: list[Reason] = []
    if need.area is not None and need.area in offer.areas and weights.area:
        reasons.append(Reason("area", weights.area, (need.area,)))
    if need.district is not None and need.district == offer.district and weights.district:
        reasons.append(Reason("district", weights.district))
    covered = tuple(sorted(need.barriers & offer.covers))
    if covered and weights.barrier:
        reasons.append(Reason("barrier", weights.barrier * len(covered), covered))
    if need.unit_type is not None and need.unit_type == offer.unit_type and weights.unit_type:
        reasons.append(Reason("unit_type", weights.unit_type))
    return sum(r.points for r in reasons), tuple(reasons)


def allowed(need: TraineeNeed, offer: MentorOffer) -> bool:
    return not (need.unit and need.unit == offer.unit)


# -- the solver ------------------------------------------------------------------------------

_CHUNK = 1024  # classes priced at once: a chunk x mentors matrix at a time
_FIRST_EDGES = 24  # candidate mentors per class in the first round
_MORE_EDGES = 8  # at most this many new candidates per class and round
_NEVER = -(1 << 40)  # the gain of a pair that may not be made
_TIE_BITS = 20
_RANKS = (1 << 10) - 1  # a row's values this far below its best rank alike


def propose(
    trainees: Sequence[TraineeNeed],
    mentors: Sequence[MentorOffer],
    weights: Weights,
    prefer: Prefer = Prefer.COVERAGE,
) -> Assignment:
    """The optimal assignment (see the module's contract).

    Pairs are ordered by mentor id, then trainee id; `unmatched` by trainee id; `load` has
    every mentor (0 for those with no mentee).
    """
    if min(weights.area, weights.district, weights.barrier, weights.unit_type) < 0:
        raise ValueError("matching: weights must not be negative")
    needs = sorted(trainees, key=lambda need: need.user_id)
    offers = sorted(mentors, key=lambda offer: offer.user_id)
    for people, kind in ((needs, "trainee"), (offers, "mentor")):
        ids = [person.user_id for person in people]
        if len(set(ids)) != len(ids):
            raise ValueError(f"the same {kind} appears twice")
    load = dict.fromkeys((offer.user_id for offer in offers), 0)
    takers = [offer for offer in offers if offer.capacity > 0]
    if not needs or not takers:
        return Assignment((), tuple(need.user_id for need in needs), 0, load)

    pool = _Pool(needs, takers, weights, prefer)
    pairs = []
    taken = [0] * pool.k  # members of each class placed so far, in user id order
    for klass, mentor, count in pool.solve():
        members = pool.members[klass][taken[klass] : taken[klass] + count]
        taken[klass] += count
        offer = takers[mentor]
        # Members of a class are alike in everything that scores: one score() serves all.
        points, reasons = score(needs[members[0]], offer, weights)
        pairs += [Pair(needs[index].user_id, offer.user_id, points, reasons) for index in members]
        load[offer.user_id] += count
    pairs.sort(key=lambda pair: (pair.mentor_id, pair.trainee_id))
    total = sum(pair.score for pair in pairs)
    if total != pool.score_total:  # the solver's scores and score() must agree
        raise RuntimeError(f"matching: solver total {pool.score_total} != scored {total}")
    placed = {pair.trainee_id for pair in pairs}
    unmatched = tuple(need.user_id for need in needs if need.user_id not in placed)
    return Assignment(tuple(pairs), unmatched, total, load)


class _Pool:
    """The pool as a transportation problem: classes of interchangeable trainees (supply)
    x mentors (capacity), and its solution by column generation with an exact certificate.
    """

    def __init__(
        self,
        needs: list[TraineeNeed],
        offers: list[MentorOffer],
        weights: Weights,
        prefer: Prefer,
    ) -> None:
        # Only what some mentor has can score: the feature columns are the mentors'.
        columns: dict[tuple[str, str], int] = {}
        mentor_columns: list[list[int]] = []
        for offer in offers:
            own: list[tuple[str, str | None]] = []
            if weights.area:
                own += [("area", area) for area in sorted(offer.areas)]
            if weights.district:
                own.append(("district", offer.district))
            if weights.barrier:
                own += [("barrier", factor) for factor in sorted(offer.covers)]
            if weights.unit_type:
                own.append(("unit_type", offer.unit_type))
            mentor_columns.append(
                [columns.setdefault((kind, v), len(columns)) for kind, v in own if v is not None]
            )
        mentor_units: dict[str, list[int]] = {}
        for j, offer in enumerate(offers):
            if offer.unit:
                mentor_units.setdefault(offer.unit, []).append(j)

        # Trainees alike in everything that scores, and in their unit where a mentor shares
        # it, are interchangeable: one class, its members in user id order.
        classes: dict[tuple[object, ...], int] = {}
        self.members: list[list[int]] = []
        class_columns: list[list[tuple[int, int]]] = []
        for index, need in enumerate(needs):
            found: list[tuple[int, int]] = []
            for kind, value, points in (
                ("area", need.area, weights.area),
                ("district", need.district, weights.district),
                ("unit_type", need.unit_type, weights.unit_type),
            ):
                column = columns.get((kind, value)) if value is not None else None
                if column is not None:
                    found.append((column, points))
            for factor in sorted(need.barriers):
                column = columns.get(("barrier", factor))
                if column is not None:
                    found.append((column, weights.barrier))
            unit = need.unit if need.unit in mentor_units else ""
            key = (unit, *found)
            klass = classes.setdefault(key, len(classes))
            if klass == len(self.members):
                self.members.append([])
                class_columns.append(found)
            self.members[klass].append(index)

        self.k, self.m = len(self.members), len(offers)
        best_score = max(sum(points for _, points in found) for found in class_columns)
        # float32 products are exact below 2**24 (100 points x 19 features is 1,900)
        exact = np.float32 if best_score < 2**24 else np.float64
        self.features = np.zeros((self.k, max(1, len(columns))), dtype=exact)
        for klass, found in enumerate(class_columns):
            for column, points in found:
                self.features[klass, column] = points
        self.offers = np.zeros((self.m, max(1, len(columns))), dtype=exact)
        for j, own_columns in enumerate(mentor_columns):
            self.offers[j, own_columns] = 1.0
        self.supply = np.array([len(members) for members in self.members], dtype=np.int64)
        self.capacity = np.array([offer.capacity for offer in offers], dtype=np.int64)

        banned = [
            (klass, j)
            for key, klass in classes.items()
            if key[0]
            for j in mentor_units[str(key[0])]
        ]
        self.banned = np.array(sorted(banned), dtype=np.int64).reshape(-1, 2)

        self.prefer = prefer
        most = min(len(needs), int(self.capacity.sum()))
        # COVERAGE: a bonus per pair above any possible difference in total score (no pair
        # scores more than best_score), so that one more pair always outweighs the scores.
        # SCORE: pairs scoring 0 are never made.
        self.bonus = best_score * most + 1 if prefer is Prefer.COVERAGE else 0
        if self.bonus + best_score >= -_NEVER // 4:
            raise ValueError("matching: the weights are too large")
        self.score_total = 0
        mixed = np.arange(_CHUNK, dtype=np.uint32)[:, None] * np.uint32(1_000_003) + np.arange(
            self.m, dtype=np.uint32
        ) * np.uint32(7_919)
        self.ties = ((mixed * np.uint32(2654435761)) >> np.uint32(32 - _TIE_BITS)).astype(np.int32)

    # -- gains ---------------------------------------------------------------------------------

    def gains(self, lo: int, hi: int) -> NDArray[np.int64]:
        """The gain (score + bonus) of every class in [lo, hi) with every mentor; _NEVER
        for a pair that may not be made."""
        scores = (self.features[lo:hi] @ self.offers.T).astype(np.int64)
        if self.prefer is Prefer.SCORE:
            scores[scores <= 0] = _NEVER
        else:
            scores += self.bonus
        inside = (self.banned[:, 0] >= lo) & (self.banned[:, 0] < hi)
        scores[self.banned[inside, 0] - lo, self.banned[inside, 1]] = _NEVER
        return scores

    def top(
        self, values: NDArray[np.int64], lo: int, hi: int, count: int
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """The `count` best values of each row that are above _NEVER: their edge keys
        (class * m + mentor) and values. Equal values in a fixed pseudo-random order of the
        mentors, different for neighbouring classes, so that classes alike spread over
        mentors alike.
        """
        count = min(count, self.m)
        if count < self.m:
            # rank within the row (values far below the row's best all rank 0), then ties
            rank = values - values.max(axis=1, keepdims=True) + _RANKS
            np.clip(rank, 0, _RANKS, out=rank)
            keyed = (rank.astype(np.int32) << _TIE_BITS) | self.ties[(np.arange(lo, hi) % _CHUNK)]
            part = np.argpartition(keyed, -count, axis=1)[:, -count:]
        else:
            part = np.broadcast_to(np.arange(self.m), values.shape)
        rows = np.broadcast_to(np.arange(hi - lo)[:, None], part.shape)
        chosen = values[rows, part]
        keep = chosen > _NEVER // 2
        return (rows[keep] + lo) * self.m + part[keep], chosen[keep]

    # -- solving -------------------------------------------------------------------------------

    def solve(self) -> list[tuple[int, int, int]]:
        """(class, mentor, how many) of an optimal assignment, by class then mentor."""
        chunks = [(lo, min(lo + _CHUNK, self.k)) for lo in range(0, self.k, _CHUNK)]
        edges, gains = _merge(
            [self.top(self.gains(lo, hi), lo, hi, _FIRST_EDGES) for lo, hi in chunks]
        )
        everything = False
        self.rounds = 0
        while True:
            self.rounds += 1
            flow, u, v = self.flow(edges, gains)
            primal = int(flow @ gains)
            # Price every pair of the whole pool: with these mentor prices v, a class is worth
            # u* = max(0, best gain - price); sum(supply * u*) + sum(capacity * v) bounds every
            # assignment from above (LP duality). All integers: when it equals the flow's
            # total, the flow is optimal on the whole pool, not just on the candidates.
            dual = int(v @ self.capacity)
            more = [(edges, gains)]
            for lo, hi in chunks:
                chunk = self.gains(lo, hi)
                reduced = chunk - v[None, :]
                best = reduced.max(axis=1)
                dual += int(np.maximum(best, 0) @ self.supply[lo:hi])
                short = np.flatnonzero(best > u[lo:hi])
                if len(short):
                    # pairs worth more than their class's value: candidates next round
                    slack = reduced[short] - u[lo + short][:, None]
                    slack[slack <= 0] = _NEVER
                    found, _ = self.top(slack, 0, len(short), _MORE_EDGES)
                    rows, cols = short[found // self.m], found % self.m
                    more.append(((rows + lo) * self.m + cols, chunk[rows, cols]))
            if dual == primal:
                break
            grown = _merge(more)
            if len(grown[0]) == len(edges):
                if everything:  # cannot happen: the certificate is exact; never loop
                    raise RuntimeError("matching: no optimality certificate")
                everything = True  # solve on every pair that may be made
                more += [self.top(self.gains(lo, hi), lo, hi, self.m) for lo, hi in chunks]
                grown = _merge(more)
            edges, gains = grown

        used = np.flatnonzero(flow)
        self.score_total = int(flow[used] @ (gains[used] - self.bonus))
        return [
            (int(e // self.m), int(e % self.m), int(n))
            for e, n in zip(edges[used], flow[used], strict=True)
        ]

    def flow(
        self, edges: NDArray[np.int64], gains: NDArray[np.int64]
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
        """A min-cost flow (cost = -gain) on the candidate edges, by successive shortest
        paths: each phase a Dijkstra on reduced costs (the potentials keep them >= 0), then a
        maximum flow on the arcs of reduced cost 0, i.e. along every shortest path at once.
        A class may send trainees straight to the sink at cost 0 (unmatched), so the flow
        ends when every trainee is placed or left out. Returns the flows and the duals that
        the potentials give: class values u >= 0 and mentor prices v >= 0."""
        k, m = self.k, self.m
        source, sink, nodes = 0, k + m + 1, k + m + 2
        classes, mentors = np.arange(1, k + 1), np.arange(k + 1, k + m + 1)
        starts, ends = edges // m + 1, edges % m + k + 1  # the edges' nodes
        unbounded = int(self.supply.sum())  # more than any arc ever carries
        x = np.zeros(len(edges), dtype=np.int64)
        left = self.supply.copy()
        load = np.zeros(m, dtype=np.int64)
        potential = np.zeros(nodes, dtype=np.int64)
        best_gain = np.zeros(m, dtype=np.int64)
        np.maximum.at(best_gain, edges % m, gains)
        potential[mentors] = -best_gain
        potential[sink] = min(0, int(potential[mentors].min()))
        self.phases = 0
        while left.any():
            self.phases += 1
            arcs = _Arcs()
            arcs.add(source, classes[left > 0], left[left > 0], 0)
            arcs.add(starts, ends, unbounded, -gains)  # a class takes a mentor's seat
            back = x > 0
            arcs.add(ends[back], starts[back], x[back], gains[back])  # or gives it back
            arcs.add(classes, sink, unbounded, 0)  # a trainee left unmatched
            room = load < self.capacity
            arcs.add(mentors[room], sink, (self.capacity - load)[room], 0)
            tails, heads, caps, costs = arcs.arrays()
            reduced = costs + potential[tails] - potential[heads]
            graph = csr_array((reduced.astype(np.float64), (tails, heads)), shape=(nodes, nodes))
            distance = dijkstra(graph, directed=True, indices=source)
            # capped at the sink's distance (unreached nodes too): reduced costs stay >= 0
            step = np.rint(np.minimum(distance, distance[sink])).astype(np.int64)
            potential += step
            tight = reduced + step[tails] - step[heads] == 0
            admissible = csr_array(
                (caps[tight].astype(np.int32), (tails[tight], heads[tight])), shape=(nodes, nodes)
            )
            pushed = _Flows(maximum_flow(admissible, source, sink).flow, nodes)
            x += pushed.on(starts, ends)  # net: seats taken less seats given back
            left -= pushed.on(np.full(k, source), classes)
            load = np.bincount(edges % m, x, m).astype(np.int64)
        if (load > self.capacity).any() or x.min(initial=0) < 0:
            raise RuntimeError("matching: the flow broke a capacity")
        u = potential[classes] - potential[sink]
        v = np.maximum(potential[sink] - potential[mentors], 0)
        return x, u, v


class _Arcs:
    """Arcs of the residual graph, gathered in groups of arrays."""

    def __init__(self) -> None:
        self.groups: list[tuple[NDArray[np.int64], ...]] = []

    def add(
        self,
        tails: int | NDArray[np.int64],
        heads: int | NDArray[np.int64],
        caps: int | NDArray[np.int64],
        costs: int | NDArray[np.int64],
    ) -> None:
        """Arcs tails -> heads with capacities and costs; scalars apply to all."""
        values = [np.asarray(value, dtype=np.int64) for value in (tails, heads, caps, costs)]
        shape = np.broadcast_shapes(*(value.shape for value in values))
        self.groups.append(tuple(np.broadcast_to(value, shape) for value in values))

    def arrays(self) -> tuple[NDArray[np.int64], ...]:
        return tuple(np.concatenate([group[i] for group in self.groups]) for i in range(4))


def _merge(
    parts: list[tuple[NDArray[np.int64], NDArray[np.int64]]],
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Edge keys and their gains, sorted by key, each key once."""
    keys = np.concatenate([part[0] for part in parts])
    values = np.concatenate([part[1] for part in parts])
    order = np.argsort(keys, kind="stable")
    keys, values = keys[order], values[order]
    first = np.ones(len(keys), dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    return keys[first], values[first]


class _Flows:
    """The net flows of a maximum_flow result, looked up by arc."""

    def __init__(self, flows: csr_array, nodes: int) -> None:
        found = flows.tocoo()
        keys = found.row.astype(np.int64) * nodes + found.col
        order = np.argsort(keys)
        self.keys, self.values = keys[order], np.asarray(found.data, dtype=np.int64)[order]
        self.nodes = nodes

    def on(self, tails: NDArray[np.int64], heads: NDArray[np.int64]) -> NDArray[np.int64]:
        wanted = tails * self.nodes + heads
        at = np.minimum(np.searchsorted(self.keys, wanted), max(len(self.keys) - 1, 0))
        if not len(self.keys):
            return np.zeros(len(wanted), dtype=np.int64)
        return np.where(self.keys[at] == wanted, self.values[at], 0)
