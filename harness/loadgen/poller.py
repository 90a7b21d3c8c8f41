"""The wait under the self-paced engines (curl, http1): one epoll set, timed to the microsecond."""

from __future__ import annotations

import select

__all__ = ["Poller"]


class Poller:
    """An epoll set whose waits are timed to the microsecond."""

    def __init__(self) -> None:
        self.epoll = select.epoll()
        self._fds = [self.epoll.fileno()]

    def wait(self, timeout: float, max_events: int) -> list[tuple[int, int]]:
        """Ready (fd, events) pairs, waiting at most ``timeout`` seconds for the first."""
        # epoll's own timeout is whole milliseconds rounded up; select() on the epoll descriptor
        # takes microseconds, so a send due in 300 us is not woken 1 ms late.
        if timeout > 0 and not select.select(self._fds, (), (), timeout)[0]:
            return []
        return self.epoll.poll(0, max_events)

    def close(self) -> None:
        self.epoll.close()
