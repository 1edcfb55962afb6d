"""Per-socket storage for several programs: behind pointers, inline, or shared (LWN, BPF sk storage).

The seed: at LSFMM+BPF 2025, Martin Lau showed that ``bpf_sk_storage_get()`` spends its time
in two pointer dereferences (socket -> storage -> per-program data), both cache misses.
His fix reserves ~100 bytes inside the socket itself for the data of the programs in use,
falling back to the map when it fills up, and saves 64 bytes of map overhead per socket.
The discussion added a third layout: when 500,000 sockets share only 500 distinct values,
each socket could hold a small index into a table of those values.

Variants: ``indirect`` (the socket points to a storage object holding a dict of program ->
value object), ``inline`` (two programs' fields in reserved slots of the socket object, the
map beyond that), ``shared`` (per program a reference to an interned record in a table of
the distinct values).

What tells them apart: ``open.net_bytes_per_op``, the bytes each open socket holds with its
storage, and ``alloc_count_per_op`` of the ``churn`` phase (sockets opened and closed).
"""

from __future__ import annotations

from typing import Any

import harness
from harness import churn

socket_storage = harness.family("socket_storage", "socket-local storage for several programs")

#: Programs a socket can hold data for in every variant (inline reserves room for two).
MAX_PROGRAMS = 4
RESERVED = 2


class _Value:
    """One program's data for one socket (what the BPF map's value holds)."""

    __slots__ = ("klass", "policy")

    def __init__(self) -> None:
        self.policy = 0
        self.klass = 0


class _Storage:
    """The socket's storage: program -> value, allocated on the first set."""

    __slots__ = ("values",)

    def __init__(self) -> None:
        self.values: dict[int, _Value] = {}

    def set(self, program: int, policy: int, klass: int) -> None:
        value = self.values.get(program)
        if value is None:
            value = self.values[program] = _Value()
        value.policy = policy
        value.klass = klass


class _IndirectSocket:
    __slots__ = ("fd", "storage")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.storage: _Storage | None = None


@socket_storage.variant("indirect")
class IndirectStorage:
    """socket -> storage object -> dict of program -> value object: two dereferences per get."""

    def open(self, fd: int) -> _IndirectSocket:
        return _IndirectSocket(fd)

    def set(self, sock: _IndirectSocket, program: int, policy: int, klass: int) -> None:
        if sock.storage is None:
            sock.storage = _Storage()
        sock.storage.set(program, policy, klass)

    def get(self, sock: _IndirectSocket, program: int) -> int:
        assert sock.storage is not None
        return sock.storage.values[program].policy

    def close(self, sock: _IndirectSocket) -> None:
        sock.storage = None


class _InlineSocket:
    __slots__ = ("fd", "overflow", "p0_class", "p0_policy", "p1_class", "p1_policy")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.p0_policy = self.p0_class = self.p1_policy = self.p1_class = 0
        self.overflow: _Storage | None = None


_INLINE_FIELDS = (("p0_policy", "p0_class"), ("p1_policy", "p1_class"))


@socket_storage.variant("inline")
class InlineStorage:
    """The first two programs' fields in reserved slots of the socket; later programs in a map."""

    def open(self, fd: int) -> _InlineSocket:
        return _InlineSocket(fd)

    def set(self, sock: _InlineSocket, program: int, policy: int, klass: int) -> None:
        if program < RESERVED:
            policy_field, class_field = _INLINE_FIELDS[program]
            setattr(sock, policy_field, policy)
            setattr(sock, class_field, klass)
            return
        if sock.overflow is None:
            sock.overflow = _Storage()
        sock.overflow.set(program, policy, klass)

    def get(self, sock: _InlineSocket, program: int) -> int:
        if program < RESERVED:
            return int(getattr(sock, _INLINE_FIELDS[program][0]))
        assert sock.overflow is not None
        return sock.overflow.values[program].policy

    def close(self, sock: _InlineSocket) -> None:
        sock.overflow = None


class _SharedSocket:
    __slots__ = ("fd", "v0", "v1", "v2", "v3")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.v0 = self.v1 = self.v2 = self.v3 = None


_SHARED_FIELDS = ("v0", "v1", "v2", "v3")


@socket_storage.variant("shared")
class SharedStorage:
    """Per program, a reference to one interned record of a table of the distinct values."""

    def __init__(self) -> None:
        self.records: dict[tuple[int, int], tuple[int, int]] = {}

    def open(self, fd: int) -> _SharedSocket:
        return _SharedSocket(fd)

    def set(self, sock: _SharedSocket, program: int, policy: int, klass: int) -> None:
        record = (policy, klass)  # temporary: dropped when an equal record is already interned
        setattr(sock, _SHARED_FIELDS[program], self.records.setdefault(record, record))

    def get(self, sock: _SharedSocket, program: int) -> int:
        record: tuple[int, int] = getattr(sock, _SHARED_FIELDS[program])
        return record[0]

    def close(self, sock: _SharedSocket) -> None:
        sock.v0 = sock.v1 = sock.v2 = sock.v3 = None


@socket_storage.workload(
    params={"sockets": [1_500], "programs": [2], "distinct": [15]},
    goal=["open.net_bytes_per_op", "churn.alloc_count_per_op"],
    bounds={"open.peak_bytes": "8 MiB"},
)
def socket_churn(trial: harness.Trial, new_storage: Any, sockets: int, programs: int, distinct: int) -> None:
    """Open ``sockets`` sockets, each with data for ``programs`` programs drawn from ``distinct``
    values; then sockets opened and closed under steady churn with per-socket gets and sets."""
    if not 1 <= programs <= MAX_PROGRAMS:
        raise ValueError(f"programs must be within 1..{MAX_PROGRAMS}")
    rng = trial.rng
    values = [(rng.getrandbits(20) | 1 << 20, rng.getrandbits(20) | 1 << 20) for _ in range(distinct)]
    program_ids = tuple(range(programs))
    plan = churn.steady(rng, sockets, 3 * sockets, lookup_fraction=0.8)
    # What each opened socket stores, and what each lookup step reads (a program) or updates.
    opened = {fd: tuple(rng.choice(values) for _ in program_ids) for fd in plan.warmup}
    opened.update({fd: tuple(rng.choice(values) for _ in program_ids) for op, fd in plan.ops if op == churn.INSERT})
    steps = [(op, fd, rng.choice(program_ids), rng.choice(values)) for op, fd in plan.ops]
    storage = trial.keep(new_storage())
    table: dict[int, Any] = trial.keep({})
    with trial.phase("open"):
        for fd in plan.warmup:
            sock = table[fd] = storage.open(fd)
            for program, (policy, klass) in zip(program_ids, opened[fd], strict=True):
                storage.set(sock, program, policy, klass)
        trial.ops(sockets)
    with trial.phase("churn"):
        for op, fd, program, (policy, klass) in steps:
            if op == churn.LOOKUP:
                if storage.get(table[fd], program) != policy:
                    storage.set(table[fd], program, policy, klass)
            elif op == churn.INSERT:
                sock = table[fd] = storage.open(fd)
                for program_id, (first, second) in zip(program_ids, opened[fd], strict=True):
                    storage.set(sock, program_id, first, second)
            else:
                storage.close(table.pop(fd))
        trial.ops(len(steps))
