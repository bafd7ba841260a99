"""`lakefront backup`, `archive-binlogs` and `restore`: the RDS backup role, into the backups bucket."""

from __future__ import annotations

import typer

from lakefront.cli.common import UserError, settings_from_cli


def register(app: typer.Typer) -> None:
    @app.command("backup")
    def backup_cmd(
        keep_expired: bool = typer.Option(False, "--keep-expired", help="Do not delete backups past retention."),
    ) -> None:
        """Take a consistent full backup of the database into the backups bucket (gzipped, sha256, manifest)."""
        from lakefront.control.backup import BackupError
        from lakefront.control.backup.run import backup
        from lakefront.servers.base import ServerError

        settings = settings_from_cli()
        try:
            manifest = backup(settings, progress=lambda line: typer.echo(f"backup: {line}"),
                              retention=not keep_expired)
        except (BackupError, ServerError) as exc:
            raise UserError(str(exc)) from None
        typer.echo(f"backup: {manifest.key}, {manifest.size} bytes, sha256 {manifest.sha256}, "
                   f"taken {manifest.taken_at}" + (f", GTID {manifest.gtid}" if manifest.gtid else ""))

    @app.command("archive-binlogs")
    def archive_cmd(
        every: float = typer.Option(5.0, "--every", min=0.5, help="Seconds between passes."),
    ) -> None:
        """Archive the primary's binary logs into the backups bucket every few seconds, until stopped."""
        from lakefront.control.backup import BackupError
        from lakefront.control.backup.run import archive_forever
        from lakefront.servers.base import ServerError

        try:
            archive_forever(settings_from_cli(), every, log=lambda line: typer.echo(f"archive-binlogs: {line}"))
        except (BackupError, ServerError) as exc:
            raise UserError(str(exc)) from None

    @app.command("restore")
    def restore_cmd(
        to: str | None = typer.Option(None, "--to", help="UTC time (ISO 8601) to restore to, to the second."),
        latest: bool = typer.Option(False, "--latest", help="Restore to the last archived transaction."),
        into: str | None = typer.Option(None, "--into", help="New directory (services) or file (embedded)."),
        port: int | None = typer.Option(None, "--port", help="services: port of the new node (default: a free one)."),
    ) -> None:
        """Rebuild the database, as of --to or --latest, as a NEW database; the running one is never touched."""
        from pathlib import Path

        from lakefront.control.backup import BackupError, parse_time
        from lakefront.control.backup.run import restore
        from lakefront.servers.base import ServerError

        if (to is None) == (not latest):
            raise UserError("give exactly one of --to TIME or --latest")
        settings = settings_from_cli()
        try:
            manifest, where = restore(settings, to=parse_time(to) if to else None,
                                      into=Path(into) if into else None, port=port,
                                      progress=lambda line: typer.echo(f"restore: {line}"))
        except (BackupError, ServerError) as exc:
            raise UserError(str(exc)) from None
        typer.echo(f"restore: from {manifest.key} ({manifest.taken_at}); the restored database: {where}")
