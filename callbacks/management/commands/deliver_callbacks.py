"""python manage.py deliver_callbacks [--once] [--interval S] [--concurrency N]

The decision-callback worker. `make run` and `make serve` start one next to the web server
(youlab/gunicorn.conf.py supervises it under gunicorn). It polls the outbox table (an indexed
query every --interval seconds), claims due deliveries (conflict-safe on Dolt, so several
workers, e.g. one per app server, never send the same attempt twice at once), POSTs them from a
small thread pool, and records each attempt. SIGTERM / SIGINT: finish the attempts in flight
(each bounded by its timeouts), then exit.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import uuid
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, close_old_connections, connections

from callbacks import services

logger = logging.getLogger("callbacks.worker")
MAX_ERROR_PAUSE = 30.0


class Command(BaseCommand):
    help = (
        "Deliver decision callbacks: POST each decided diff, signed, to the callback_url its "
        "proposal gave, retrying with backoff. Runs until stopped (make run / make serve start it)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true",
                            help="Deliver what is due now (one round, waiting for its attempts) and exit.")
        parser.add_argument("--interval", type=float, default=0.5,
                            help="Seconds between polls of the outbox (default 0.5).")
        parser.add_argument("--concurrency", type=int, default=4,
                            help="Attempts in flight at once (default 4): a slow receiver does not hold up the others.")

    def handle(self, *args, once=False, interval=0.5, concurrency=4, **options):
        if interval <= 0 or concurrency < 1:
            raise CommandError("--interval must be > 0 and --concurrency >= 1")
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.stopping = threading.Event()
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, lambda *_: self.stopping.set())
        if options["verbosity"] >= 1:
            self.stdout.write(f"deliver_callbacks: worker {self.worker} polling every {interval}s")
            self.stdout.flush()
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="callback") as pool:
            if once:
                self._once(pool, concurrency)
            else:
                self._loop(pool, concurrency, interval)
        connections.close_all()

    def _loop(self, pool, concurrency, interval):
        in_flight: dict = {}
        pause = interval
        while not self.stopping.is_set() or in_flight:
            try:
                self._round(pool, concurrency, in_flight, interval)
                pause = interval
            except DatabaseError as exc:
                # Dolt restarting, a fail-over, a table not there yet: keep going, back off.
                logger.warning("callback worker: database error (%s); retrying in %.1fs", type(exc).__name__, pause)
                close_old_connections()
                connections.close_all()
                self.stopping.wait(pause)
                pause = min(pause * 2, MAX_ERROR_PAUSE)

    def _once(self, pool, concurrency):
        """Rounds until nothing is due (a retry scheduled for later ends it)."""
        while not self.stopping.is_set():
            claimed = services.claim_due(worker=self.worker, limit=concurrency)
            if not claimed:
                return
            futures = {pool.submit(services.send, delivery=d, body=services.body_for(delivery=d)): d for d in claimed}
            self._record([(delivery, future.result()) for future, delivery in futures.items()])

    def _round(self, pool, concurrency, in_flight, timeout):
        # Claim up to two rounds' worth: a burst of decisions goes out in parallel, and the
        # attempts that finish together are recorded in one transaction.
        free = concurrency * 2 - len(in_flight)
        if free > 0 and not self.stopping.is_set():
            for delivery in services.claim_due(worker=self.worker, limit=free):
                in_flight[pool.submit(services.send, delivery=delivery, body=services.body_for(delivery=delivery))] = delivery
        if not in_flight:
            self.stopping.wait(timeout)
            return
        done, _ = wait(list(in_flight), timeout=timeout, return_when=FIRST_COMPLETED)
        if done:
            self._record([(in_flight.pop(future), future.result()) for future in done])

    def _record(self, attempts):
        for delivery in services.record_attempts(attempts=attempts, worker=self.worker):
            logger.info("callback %s for diff %s (%s): attempt %s: %s", delivery.pk, delivery.diff_id,
                        delivery.event, delivery.attempts, delivery.status if not delivery.last_error
                        else delivery.last_error)
