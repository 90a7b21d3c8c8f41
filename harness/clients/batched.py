"""The batching client: the records of concurrent calls go out together, as one request.

What it shows: client-side micro-batching, the trade the serving side usually makes, made by
the caller instead. Calls arriving within ``MAX_WAIT_S`` of each other are sent as one
``dataframe_records`` request of up to ``MAX_RECORDS`` records (a single larger call goes out
alone), to the URL of the first call in the batch; the ``predictions`` come back split to each
caller in order. Fewer, larger requests cost less per record and fewer connections, but every
call waits for its batch, and one error fails every call in the batch.

A daemon thread, started by the first call, forms the batches; a small pool sends them, so a
slow batch does not hold up the next one. Callers wait for their share at most
``CALLER_TIMEOUT_S``.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.adapters import HTTPAdapter

__all__ = ["Batcher", "call"]

MAX_RECORDS = 16
MAX_WAIT_S = 0.020
SENDERS = 8
TIMEOUT_S = (1.0, 5.0)
# Past the longest a batch can take: its wait, then one request's connect and read timeouts.
CALLER_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class _Waiting:
    url: str
    records: list[Any]
    answer: Future[Any] = field(default_factory=Future)


class Batcher:
    """Batches the calls made to ``call`` from any number of threads. It owns a queue, the
    thread that drains it into batches (started on first use) and the pool that sends them."""

    def __init__(self, *, max_records: int = MAX_RECORDS, max_wait_s: float = MAX_WAIT_S) -> None:
        if max_records < 1:
            raise ValueError(f"expected max_records >= 1 but got max_records={max_records!r}")
        self._max_records, self._max_wait_s = max_records, max_wait_s
        self._queue: queue.Queue[_Waiting] = queue.Queue()
        self._lock = threading.Lock()
        self._flusher: threading.Thread | None = None
        self._senders = ThreadPoolExecutor(SENDERS, thread_name_prefix="batched-send")
        self._session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=SENDERS)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

    def call(self, url: str, payload: dict[str, Any]) -> Any:
        """Score ``payload``'s records in the next batch; ``{"predictions": [...]}`` with this
        call's own predictions, or the batch's error."""
        records = payload.get("dataframe_records")
        if not isinstance(records, list):
            raise ValueError(
                "expected a payload with a list under 'dataframe_records' but got "
                f"keys={sorted(payload)!r}"
            )
        waiting = _Waiting(url, records)
        self._start_flusher()
        self._queue.put(waiting)
        return waiting.answer.result(timeout=CALLER_TIMEOUT_S)

    def _start_flusher(self) -> None:
        with self._lock:
            if self._flusher is None:
                self._flusher = threading.Thread(
                    target=self._flush_forever, name="batched-flusher", daemon=True
                )
                self._flusher.start()

    def _flush_forever(self) -> None:
        carried: _Waiting | None = None
        while True:
            batch = [carried or self._queue.get()]
            carried = None
            count = len(batch[0].records)
            deadline = time.monotonic() + self._max_wait_s
            while count < self._max_records:
                try:
                    waiting = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if count + len(waiting.records) > self._max_records:
                    carried = waiting  # it opens the next batch rather than overfill this one
                    break
                batch.append(waiting)
                count += len(waiting.records)
            self._senders.submit(self._send, batch)

    def _send(self, batch: list[_Waiting]) -> None:
        records = [record for waiting in batch for record in waiting.records]
        try:
            response = self._session.post(
                batch[0].url, json={"dataframe_records": records}, timeout=TIMEOUT_S
            )
            response.raise_for_status()
            body = response.json()
            predictions = body.get("predictions") if isinstance(body, dict) else None
            if not isinstance(predictions, list) or len(predictions) != len(records):
                raise ValueError(
                    f"expected {len(records)} predictions for a batch of {len(records)} "
                    f"records but got predictions={predictions!r:.200}"
                )
        except Exception as exc:  # every caller of the batch gets the batch's error
            for waiting in batch:
                waiting.answer.set_exception(exc)
            return
        start = 0
        for waiting in batch:
            end = start + len(waiting.records)
            waiting.answer.set_result({"predictions": predictions[start:end]})
            start = end


_BATCHER = Batcher()


def call(url: str, payload: dict[str, Any]) -> Any:
    """Score ``payload`` in a batch with the calls made at the same time, by any thread."""
    return _BATCHER.call(url, payload)
