"""serving-chaos's native load engine (Rust): the event loop behind ``--engine native``."""

FAILURES: list[str]
__version__: str

class Engine:
    def __init__(
        self,
        *,
        address: str,
        port: int,
        start_line: bytes,
        content_type: str,
        always_length: bool,
        head: bool,
        body: str,
        data: bytes,
        samples: list[bytes],
        records: int,
        keyspace: int,
        predictions: int | None,
        timeout_s: float,
        max_connections: int,
        t0: float,
        duration_s: float,
        prepare: int,
        ceiling: int | None = None,
        users: int | None = None,
        first: int = 0,
        step: int = 1,
        stream: bool = False,
    ) -> None: ...
    def feed(self, indices: bytes, offsets: bytes, last: bool) -> None: ...
    def queued(self) -> int: ...
    def start(self) -> None: ...
    def take(
        self,
    ) -> tuple[
        tuple[bytes, bytes, bytes, bytes, bytes, bytes, bytes, bytes],
        tuple[bytes, bytes, bytes, bytes, bytes, bytes, bytes, bytes],
    ]: ...
    def inflight(self) -> int: ...
    def counts(self) -> tuple[int, int, int]: ...
    def finished(self) -> bool: ...
    def error(self) -> str | None: ...
    def stop(self) -> None: ...
    def join(self) -> None: ...

def records_body(index: int, records: int, keyspace: int) -> bytes: ...
def predictions_invalid(records: int, status: int, body: bytes) -> bool: ...
def sse_summary(
    pieces: list[bytes], arrived: list[float], intended: float
) -> tuple[float, float, list[float], int, bool, float, int]: ...
