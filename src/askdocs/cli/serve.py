"""`askdocs serve` and `askdocs keys`: the HTTP service and its API keys."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from askdocs.access.keys import SCOPES
from askdocs.container import Container
from askdocs.errors import ConfigurationError

# How `serve --model` tells its worker processes which registered configuration to load.
MODEL_ENV = "ASKDOCS_SERVE_MODEL"

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)


def register(app: typer.Typer, container: Callable[[], Container]) -> None:
    """Adds `serve` and `keys` to the CLI; ``container`` builds the services from settings."""

    @app.command()
    def serve(
        host: Annotated[str | None, typer.Option(help="address to listen on")] = None,
        port: Annotated[int | None, typer.Option(help="port")] = None,
        workers: Annotated[int | None, typer.Option(help="worker processes")] = None,
        no_auth: Annotated[
            bool, typer.Option("--no-auth", help="no API keys (loopback addresses only)")
        ] = False,
        model: Annotated[
            str | None,
            typer.Option(help="answer with a registered configuration, models:/NAME@champion"),
        ] = None,
    ) -> None:
        """Run the HTTP API and the web UI."""
        import uvicorn

        from askdocs.api.guards import is_loopback

        settings = container().settings
        host = host or settings.server.host
        port = port or settings.server.port
        workers = workers or settings.server.workers
        auth = settings.server.auth and not no_auth
        if not auth and not is_loopback(host):
            raise ConfigurationError(
                f"refusing to serve without API keys on {host}: anyone who can reach it could "
                "read and delete every file. Turn auth on, or listen on 127.0.0.1."
            )
        if model:
            from askdocs.evaluation import load_registered_settings

            load_registered_settings(model, settings)  # fail here, not in every worker
            os.environ[MODEL_ENV] = model
        # Worker processes build their own settings from the environment.
        os.environ["ASKDOCS_DATA_DIR"] = str(settings.data_dir)
        os.environ["ASKDOCS_SERVER__AUTH"] = "true" if auth else "false"
        # The app checks it listens on loopback before it serves without keys.
        os.environ["ASKDOCS_SERVER__HOST"] = host
        err.print(f"askdocs serving on http://{host}:{port} (API docs at /docs)")
        uvicorn.run(
            "askdocs.api.app:app_from_settings",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_config=None,
            timeout_graceful_shutdown=5,
        )

    @keys_app.command("create")
    def create(
        name: Annotated[str, typer.Option(help="what the key is for")],
        scope: Annotated[str, typer.Option(help=f"one of {', '.join(SCOPES)}")] = "read",
        collection: Annotated[
            list[str] | None, typer.Option(help="limit to this collection (repeatable)")
        ] = None,
        principal: Annotated[
            list[str] | None,
            typer.Option(
                help="act for this principal, e.g. user:alice or group:eng (repeatable): the "
                "key sees documents open to everyone and those whose access list names one of "
                "its principals; without any, a read or write key sees only documents open to "
                "everyone, an admin key every document"
            ),
        ] = None,
        replace: Annotated[
            bool, typer.Option(help="revoke live keys with the same name first")
        ] = False,
        quiet: Annotated[bool, typer.Option(help="print only the key")] = False,
    ) -> None:
        """Create a key; it is shown once and stored only as a hash."""
        store = container().keys
        if replace:
            for key in store.all():
                if key.name == name and key.revoked is None:
                    store.revoke(key.key_id)
        secret, info = store.create(name, scope, collection or [], principal or [])
        if quiet:
            out.print(secret)
            return
        out.print(f"key {info.key_id} ({info.scope}) created; copy it now, it is not shown again:")
        out.print(secret)

    @keys_app.command("list")
    def list_keys(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
        """Keys, without their secrets."""
        keys = container().keys.all()
        if as_json:
            out.print_json(
                json.dumps(
                    [
                        {
                            "id": k.key_id,
                            "name": k.name,
                            "scope": k.scope,
                            "collections": list(k.collections),
                            "principals": list(k.principals),
                            "revoked": k.revoked is not None,
                        }
                        for k in keys
                    ]
                )
            )
            return
        table = Table(
            "id", "name", "scope", "collections", "principals", "created", "last used", "revoked"
        )
        for k in keys:
            table.add_row(
                k.key_id,
                k.name,
                k.scope,
                ", ".join(k.collections) or "all",
                ", ".join(k.principals) or ("all documents" if k.scope == "admin" else "-"),
                _when(k.created),
                _when(k.last_used),
                _when(k.revoked),
            )
        out.print(table)

    @keys_app.command("revoke")
    def revoke(key: Annotated[str, typer.Argument(help="key id, or name")]) -> None:
        """Revoke a key (by id, or every live key with that name)."""
        ids = container().keys.revoke(key)
        out.print(f"revoked {', '.join(ids)}")

    app.add_typer(keys_app, name="keys")


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M")
