"""The failover monitor's probe: a real write (the heartbeat row) through the primary, as the application's
user, so a fenced node refuses it too; and the count of consecutive failures that declares the primary dead.

The heartbeat's age on the standby is also its replication lag (pt-heartbeat's method): data/routing.py
and `lakefront status` read it there.

A probe whose write times out while the primary still answers (its root socket) with sessions waiting for the
standby's semi-sync acknowledgement is not a failure: with db.standby_loss=wait that is what every commit
does while the standby is away (orders stop, by choice); the primary is not dead, and failing over or
restarting it would only fail the waiting commits. A frozen or hung primary does not answer at all.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from lakefront.control.database.nodes import WAIT_FOREVER_MS
from lakefront.control.database.roles import Roles
from lakefront.servers.base import HOST

log = logging.getLogger("lakefront.control")


class Heartbeat:
    def __init__(self, roles: Roles) -> None:
        self.roles = roles
        self.failures = 0
        """Consecutive failed probes of the current primary."""
        self.first_failure = 0.0
        """When the current run of failures began (epoch seconds): where a failover's duration starts."""
        self._conn: Any = None
        self.waiting_for_standby = False
        """The last probe timed out only because the primary's commits wait for the standby."""

    def close(self) -> None:
        """Drop the connection: the next probe connects to whichever node is primary then."""
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def reset(self) -> None:
        """A new primary: a new connection, and no failures counted against it."""
        self.close()
        self.failures = 0

    def probe(self) -> bool:
        """Rewrite the heartbeat through the primary; False when that fails."""
        import pymysql

        db, primary, timeout_ms = self.roles.settings.db, self.roles.primary, self.roles.semi_sync_timeout_ms
        try:
            if self._conn is None:
                # A commit may wait up to the semi-sync timeout for the standby; that is not a failure.
                wait_s = timeout_ms / 1000 if timeout_ms < WAIT_FOREVER_MS else 3.0
                self._conn = pymysql.connect(
                    host=HOST, port=self.roles.nodes[primary].port, user=db.user,
                    password=db.password.get_secret_value(), database=db.name, autocommit=True,
                    connect_timeout=1, read_timeout=2 + wait_s, write_timeout=2)
            with self._conn.cursor() as cur:
                try:
                    cur.execute("REPLACE INTO lf_heartbeat (id, beat_at, node) VALUES (1, UTC_TIMESTAMP(6), %s)",
                                (primary,))
                except pymysql.err.ProgrammingError as exc:
                    if exc.args[0] != 1146:  # no such table: not migrated yet
                        raise
                    cur.execute("SELECT 1")
            self.waiting_for_standby = False
            return True
        except pymysql.MySQLError as exc:
            timed_out = isinstance(exc, pymysql.err.OperationalError) and exc.args[0] == 2013
            if timed_out and self._commits_wait_for_standby(primary):
                self.close()
                if not self.waiting_for_standby:
                    log.warning("database: primary %s answers but its commits wait for the standby's "
                                "acknowledgement; not a failure", primary)
                self.waiting_for_standby = True
                return True
            if self.failures == 0:
                log.warning("database: probe of primary %s failed: %s", primary, str(exc)[:160])
            self.close()
            return False

    def _commits_wait_for_standby(self, name: str) -> bool:
        """True when node `name` answers over its root socket and has sessions waiting for a semi-sync ack."""
        import pymysql

        try:
            conn = self.roles.nodes[name].server.connect_root(connect_timeout=1, read_timeout=2)
            with conn, conn.cursor() as cur:
                cur.execute("SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_wait_sessions'")
                row = cur.fetchone()
        except pymysql.MySQLError:
            return False
        return row is not None and int(row[1]) > 0
