"""Keeping a standby: attaching a node to the primary (replicated, or rebuilt from a dump when it holds
transactions the primary lacks) and bringing dead nodes back, read-only, on their own data directories.

Every node (re)start after start-up happens on one long-lived worker thread: a child process is tied to
the *thread* that spawned it (PR_SET_PDEATHSIG), so a short-lived thread's mariadbd would be killed the
moment that thread ended.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from lakefront.control.database.heartbeat import Heartbeat
from lakefront.control.database.nodes import REPL_USER, DbNode, repl_password
from lakefront.control.database.roles import Roles, gtid_json
from lakefront.servers.base import HOST
from lakefront.servers.mariadb import MariaDBError
from lakefront.servers.replication import diverged

log = logging.getLogger("lakefront.control")

REPLAY_LIMIT = 1000  # an empty standby replays up to this many transactions; beyond, it is rebuilt from a dump


class Standby:
    def __init__(self, roles: Roles, heartbeat: Heartbeat) -> None:
        self.roles = roles
        self.heartbeat = heartbeat
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db-nodes")

    def recover_later(self, node: DbNode) -> None:
        """Queue recover(node) on the nodes worker; the caller has marked the node busy."""
        self._worker.submit(self.recover, node)

    def rejoin_on_worker(self, node: DbNode) -> None:
        """rejoin(node) on the nodes worker, waited for: a rebuild starts a mariadbd that must outlive the call."""
        self._worker.submit(self.rejoin, node).result()

    def shutdown(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)

    def rejoin(self, node: DbNode) -> None:
        """Make `node` the standby of the current primary: replicate, or rebuild if it diverged."""
        roles = self.roles
        s, primary = roles.settings, roles.nodes[roles.primary]
        try:
            if not node.alive():
                node.needs_rejoin = True
                return
            theirs, ours = node.repl.gtid_binlog_state(), primary.repl.gtid_history()
            how = "replicated"
            if diverged(theirs, ours) or (not theirs and sum(ours.values()) > REPLAY_LIMIT):
                # Diverged: replicating on top would fork history. Empty beside a primary with history:
                # a dump is faster than replaying the primary's whole binlog (a new system replays it).
                log.warning("database: %s holds transactions %s lacks or is empty (%s vs %s); rebuilding it "
                            "from %s", node.name, primary.name, gtid_json(theirs), gtid_json(ours), primary.name)
                node.repl.rebuild_from(primary.server, repl_user=REPL_USER, repl_password=repl_password(s),
                                       db_name=s.db.name, app_user=s.db.user,
                                       app_password=s.db.password.get_secret_value(), timeout=900)
                how = "rebuilt"
            else:
                node.repl.replicate_from(HOST, primary.port, REPL_USER, repl_password(s),
                                         use_gtid="current_pos" if theirs else "slave_pos")
                node.repl.wait_replicating(timeout=30)
            primary.repl.set_semi_sync_master(True, roles.semi_sync_timeout_ms)
            node.needs_rejoin = node.busy = False  # before changed(): the saved state must not say rejoining
            roles.readers = [node.name]
            roles.publish()
            log.info("database: %s is the standby of %s (%s)", node.name, primary.name, how)
            for event in roles.events:
                if event.old_primary == node.name and not event.old_primary_rejoined:
                    event.old_primary_rejoined = how
            roles.changed()
        except MariaDBError as exc:
            node.needs_rejoin = True
            log.error("database: %s could not join as the standby: %s", node.name, exc)

    def recover(self, node: DbNode) -> None:
        """On the nodes worker: restart a dead node (read-only), then make it the standby again, or (when
        failing over was refused) the primary again."""
        roles = self.roles
        try:
            if not node.alive():
                pid, node.server.proc = node.server.pid, None
                log.warning("database: %s (pid %s) exited; restarting it read-only on its data directory",
                            node.name, pid if pid is not None else "killed at failover")
                try:
                    node.server.start(roles.settings.log_dir / f"mariadb-{node.name}.log")
                    node.server.wait_ready(timeout=120)
                except MariaDBError as exc:
                    log.error("database: %s did not come back: %s", node.name, exc)
                    node.server.proc = None
                    return
                node.restarts += 1
                node.needs_rejoin = node.name != roles.primary
                roles.changed()
            with roles.lock:
                if node.name == roles.primary:
                    # Failing over was impossible or refused: it has every acknowledged commit; writable again.
                    node.repl.promote()
                    if roles.readers:
                        node.repl.set_semi_sync_master(True, roles.semi_sync_timeout_ms)
                    roles.restart_in_place = False
                    self.heartbeat.close()
                    roles.publish()
                    log.warning("database: %s restarted in place as the primary", node.name)
                    roles.changed()
                elif node.needs_rejoin:
                    self.rejoin(node)
        finally:
            node.busy = False
