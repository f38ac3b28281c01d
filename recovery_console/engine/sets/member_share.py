"""One member's share of a set job's progress: several members (on worker threads) report into one reporter."""

from __future__ import annotations

from recovery_console.engine.progress import CancelToken, Phase, Reporter


class MemberShare(Reporter):
    """A member's view of the set's reporter: its bytes add to the set's, and it stops when the set stops."""

    def __init__(self, parent: Reporter, abort: CancelToken, count: bool = True) -> None:
        super().__init__(token=parent.token)
        self._parent, self._abort, self._count = parent, abort, count

    def start(self, phase: Phase, total: int | None = None) -> None:
        self.check()

    def advance(self, nbytes: int) -> None:
        if self._count:
            self._parent.advance(nbytes)
        self.check()

    def finish(self) -> None:
        self.check()

    def check(self) -> None:
        self._parent.check()
        self._abort.raise_if_cancelled()
