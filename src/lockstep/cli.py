"""``lockstep``: every operation a person runs. Errors are one clear line and a non-zero exit.

Commands call the runtime, flows and repositories; they hold no business logic of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import shutil
import sys
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from lockstep import logs
from lockstep.config import ConfigError, Settings, get_settings, load_config_dir, redact
from lockstep.queue.worker import DEFAULT_CONCURRENCY
from lockstep.store.db import DatabaseUnavailable

console = Console()
err = Console(stderr=True)

app = typer.Typer(
    name="lockstep",
    help="Keeps Centra (storefront, orders) and Deposco (warehouses, stock) in step, for many brands.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
jobs_app = typer.Typer(help="Inspect and manage the durable job queue.", no_args_is_help=True)
exc_app = typer.Typer(help="Exceptions: what needs a person, by owner team.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(jobs_app, name="jobs")
app.add_typer(exc_app, name="exceptions")
orders_app = typer.Typer(help="Orders: their whole story, and releasing them from quarantine.", no_args_is_help=True)
app.add_typer(orders_app, name="orders")
sim_app = typer.Typer(
    help="Local simulators of Centra and Deposco (real HTTP servers on 127.0.0.1).", no_args_is_help=True
)
app.add_typer(sim_app, name="sim")

_state = {"debug": False}


class CliError(Exception):
    """A user-facing failure: printed as one line, exit 1."""


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    config_dir: Annotated[
        Path | None, typer.Option("--config-dir", help="Brand files folder (LOCKSTEP_CONFIG_DIR).")
    ] = None,
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="Database URL (LOCKSTEP_DATABASE_URL).")
    ] = None,
) -> None:
    _state["debug"] = debug
    if config_dir is not None:
        os.environ["LOCKSTEP_CONFIG_DIR"] = str(config_dir)
    if database_url is not None:
        os.environ["LOCKSTEP_DATABASE_URL"] = database_url


def command(fn):
    """Wrap a command: configure logging, run coroutines, and turn failures into one readable line."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            settings = get_settings()
            logs.configure(settings.log_level)
            result = fn(settings, *args, **kwargs)
            if asyncio.iscoroutine(result):
                result = asyncio.run(result)
            return result
        except typer.Exit:
            raise
        except ConfigError as error:
            for problem in error.problems:
                err.print(f"[red]error:[/red] {problem}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except (CliError, DatabaseUnavailable) as error:
            err.print(f"[red]error:[/red] {redact(str(error))}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        except Exception as error:
            if _state["debug"]:
                raise
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            err.print(
                f"[red]error:[/red] {type(error).__name__}: {redact(first)} (run with --debug for details)",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1) from None

    # typer reads the signature: hide the injected settings parameter
    import inspect

    sig = inspect.signature(fn, eval_str=True)
    wrapper.__signature__ = sig.replace(parameters=list(sig.parameters.values())[1:])
    return wrapper


async def _engine(settings: Settings, *, upgrade: bool = False):
    from lockstep.store import migrate
    from lockstep.store.db import check_reachable, create_engine

    engine = create_engine(settings.database_url)
    await check_reachable(engine)
    if upgrade:
        await migrate.upgrade(engine)
    elif not await migrate.is_current(engine):
        await engine.dispose()
        raise CliError("the database schema is not current: run `lockstep db upgrade`")
    return engine


@contextlib.asynccontextmanager
async def _database(settings: Settings):
    """An engine on a current schema for the duration of one command."""
    engine = await _engine(settings)
    try:
        yield engine
    finally:
        await engine.dispose()


# --- configuration ---------------------------------------------------------------------------------------


def _example_file() -> Path:
    packaged = Path(__file__).parent / "config" / "example-brand.yaml"
    if packaged.exists():
        return packaged
    return Path(__file__).resolve().parents[2] / "config" / "example-brand.yaml"


@app.command()
@command
def init(
    settings: Settings,
    directory: Annotated[Path, typer.Argument(help="Folder to create.")] = Path("config"),
    force: Annotated[bool, typer.Option(help="Overwrite an existing example file.")] = False,
) -> None:
    """Write an example brand file to start from."""
    target = directory / "example-brand.yaml"
    if target.exists() and not force:
        raise CliError(f"{target} already exists (use --force to overwrite)")
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_example_file(), target)
    console.print(f"wrote {target}; edit it, then run `lockstep check --config-dir {directory}`")


def print_mapping(topology) -> None:
    table = Table(title=f"{topology.brand} ({topology.name}): stock pool -> facility", title_justify="left")
    for column in ("pool", "Centra warehouse", "facility", "share", "state", "markets", "overrides"):
        table.add_column(column)
    for pool in topology.pools:
        markets = ", ".join(m.id for m in topology.markets if pool.id in m.pools) or "-"
        rows = pool.facilities or ()
        if not rows:
            table.add_row(pool.id, pool.centra_warehouse, "[red]none[/red]", "", "", markets, "")
        for index, entry in enumerate(rows):
            facility = topology.facility(entry.facility)
            state = facility.state if facility.state == "live" else f"[yellow]{facility.state}[/yellow]"
            overrides = ", ".join(
                f"{'/'.join(o.ship_to_countries)} -> {o.facility}"
                for o in topology.routing_overrides
                if o.pool == pool.id and index == 0
            )
            first = index == 0
            table.add_row(
                pool.id if first else "",
                pool.centra_warehouse if first else "",
                facility.code,
                f"{entry.share:g}",
                state,
                markets if first else "",
                overrides,
            )
    console.print(table)
    facilities = Table(title=f"{topology.brand}: facilities", title_justify="left")
    for column in ("facility", "name", "country", "state", "backs pools (share)"):
        facilities.add_column(column)
    for facility in topology.facilities:
        pools = ", ".join(f"{pool} ({share:g})" for pool, share in topology.pools_for_facility(facility.code))
        facilities.add_row(facility.code, facility.name, facility.country, facility.state, pools or "-")
    console.print(facilities)


@app.command()
@command
def check(
    settings: Settings,
    connect: Annotated[
        bool, typer.Option("--connect", help="Also prove credentials, warehouses and facilities against the APIs.")
    ] = False,
) -> None:
    """Validate the brand files (no secrets needed) and print each brand's pool -> facility mapping."""
    from lockstep.flows import build_registry
    from lockstep.runtime import plan_schedules

    result = load_config_dir(settings.config_dir)
    for warning in result.warnings:
        err.print(f"[yellow]warning:[/yellow] {warning}", highlight=False, soft_wrap=True)
    if result.problems:
        for problem in result.problems:
            err.print(f"[red]error:[/red] {problem}", highlight=False, soft_wrap=True)
        err.print(f"{len(result.problems)} problem(s) in {settings.config_dir}", highlight=False)
        raise typer.Exit(1)
    for topology in result.brands.values():
        print_mapping(topology)
    _active, skipped = plan_schedules(result.brands, build_registry())
    for note in skipped:
        console.print(f"note: {note}", highlight=False)
    if connect:
        asyncio.run(_check_connections(settings))
    console.print(f"[green]ok[/green]: {len(result.brands)} brand(s) in {settings.config_dir}")


async def _check_connections(settings: Settings) -> None:
    from lockstep.flows.connectivity import check_brand
    from lockstep.runtime import build_runtime

    runtime = build_runtime(settings, require_secrets=True)  # ConfigError lists every unset secret
    problems = []
    try:
        for brand, topology in runtime.brands.items():
            report = await check_brand(topology, runtime.secrets[brand])
            for line in report.passed:
                console.print(f"[green]ok[/green] {brand}: {line}", highlight=False, soft_wrap=True)
            problems += report.problems
    finally:
        await runtime.close()
    for problem in problems:
        err.print(f"[red]error:[/red] {problem}", highlight=False, soft_wrap=True)
    if problems:
        raise typer.Exit(1)


# --- database --------------------------------------------------------------------------------------------


@db_app.command("upgrade")
@command
async def db_upgrade(settings: Settings) -> None:
    """Create or migrate the schema to the latest revision."""
    from lockstep.config import redact_url
    from lockstep.store import migrate

    engine = await _engine(settings, upgrade=True)
    revision = await migrate.current_revision(engine)
    await engine.dispose()
    console.print(f"database {redact_url(settings.database_url)} at revision {revision}")


@db_app.command("current")
@command
async def db_current(settings: Settings) -> None:
    """Show the schema revision and whether it is the latest."""
    from lockstep.store import migrate
    from lockstep.store.db import check_reachable, create_engine

    engine = create_engine(settings.database_url)
    await check_reachable(engine)
    revision = await migrate.current_revision(engine)
    await engine.dispose()
    head = migrate.head_revision()
    console.print(f"revision {revision or 'none'} (latest {head}){'' if revision == head else ' - upgrade needed'}")


# --- serving ---------------------------------------------------------------------------------------------


async def _serve(settings: Settings, **parts) -> None:
    from lockstep.runtime import build_runtime, install_stop_signals, serve

    runtime = build_runtime(settings, require_secrets=True)
    runtime.engine = await _engine(settings, upgrade=parts.pop("upgrade", False))
    stop = asyncio.Event()
    install_stop_signals(stop)
    try:
        await serve(runtime, stop, **parts)
    finally:
        await runtime.close()


@app.command()
@command
async def run(
    settings: Settings,
    concurrency: Annotated[int, typer.Option(min=1, help="Jobs run at once by this process.")] = DEFAULT_CONCURRENCY,
) -> None:
    """API + workers + scheduler in one process (the single-machine default). Upgrades the database first."""
    await _serve(settings, upgrade=True, concurrency=concurrency)


@app.command()
@command
async def worker(
    settings: Settings,
    concurrency: Annotated[int, typer.Option(min=1, help="Jobs run at once by this process.")] = DEFAULT_CONCURRENCY,
    brand: Annotated[list[str] | None, typer.Option(help="Only these brands (repeatable).")] = None,
    scheduler: Annotated[bool, typer.Option(help="Also fire cron schedules (safe in every process).")] = True,
    lease: Annotated[
        float, typer.Option(min=1, help="Seconds a job stays claimed without a heartbeat before others retry it.")
    ] = 30.0,
) -> None:
    """Workers only, for scale-out: start as many processes as you like against PostgreSQL."""
    await _serve(settings, api=False, scheduler=scheduler, concurrency=concurrency, brands=brand or None, lease_s=lease)


@app.command()
@command
async def api(settings: Settings) -> None:
    """The HTTP app only (health, readiness, metrics; webhooks and admin API in later versions)."""
    await _serve(settings, workers=False, scheduler=False)


# --- jobs ------------------------------------------------------------------------------------------------


def _ago(moment) -> str:
    from lockstep.clock import utcnow

    if moment is None:
        return "-"
    seconds = (utcnow() - moment).total_seconds()
    if seconds < 0:
        return f"in {_duration(-seconds)}"
    return f"{_duration(seconds)} ago"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 5400:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


@jobs_app.command("list")
@command
async def jobs_list(
    settings: Settings,
    brand: Annotated[str | None, typer.Option(help="Filter by brand.")] = None,
    status: Annotated[str | None, typer.Option(help="pending | running | done | dead")] = None,
    task: Annotated[str | None, typer.Option(help="Filter by task name.")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
) -> None:
    """Recent jobs, newest first, with queue totals."""
    from lockstep.queue import jobs as q

    async with _database(settings) as engine, engine.connect() as conn:
        rows = await q.list_jobs(conn, brand=brand, status=status, task=task, limit=limit)
        totals = await q.counts(conn, brand=brand)
        oldest = await q.oldest_pending_age_s(conn, brand=brand)
    table = Table()
    for column in ("id", "brand", "task", "status", "prio", "lane", "attempts", "run at", "last error"):
        table.add_column(column)
    for job in rows:
        table.add_row(
            str(job.id),
            job.brand,
            job.task,
            job.status,
            str(job.priority),
            job.lane or "",
            f"{job.attempts}/{job.max_attempts}",
            _ago(job.run_at),
            (job.last_error or "")[:60],
        )
    console.print(table)
    summary = ", ".join(f"{k} {v}" for k, v in totals.items())
    console.print(f"{summary}; oldest ready job waiting {_duration(oldest) if oldest is not None else '-'}")


@jobs_app.command("show")
@command
async def jobs_show(settings: Settings, job_id: int) -> None:
    """Everything about one job, as JSON."""
    from dataclasses import asdict

    from lockstep.queue import jobs as q

    async with _database(settings) as engine, engine.connect() as conn:
        job = await q.get(conn, job_id)
    if job is None:
        raise CliError(f"no job {job_id}")
    console.print_json(json.dumps(asdict(job), default=str))


@jobs_app.command("retry")
@command
async def jobs_retry(settings: Settings, job_id: int) -> None:
    """Run a dead (or waiting) job again now, with a fresh set of attempts."""
    from lockstep.queue import jobs as q
    from lockstep.store import audit

    async with _database(settings) as engine, engine.begin() as conn:
        job = await q.get(conn, job_id)
        if job is None or not await q.retry_now(conn, job_id):
            raise CliError(f"job {job_id} is not dead or pending (nothing to retry)")
        await audit.record(
            conn,
            brand=job.brand,
            actor=audit.cli_actor(),
            action="job.retry",
            entity_type="job",
            entity_id=str(job_id),
            details={"task": job.task, "previous_status": job.status},
        )
    console.print(f"job {job_id} queued to run now")


@jobs_app.command("purge")
@command
async def jobs_purge(
    settings: Settings,
    older_than_days: Annotated[float, typer.Option(min=0, help="Finished at least this long ago.")] = 7,
    dead: Annotated[bool, typer.Option(help="Also purge dead-lettered jobs.")] = False,
    brand: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Delete finished jobs (never pending or running ones)."""
    from lockstep.queue import jobs as q

    statuses = (q.DONE, q.DEAD) if dead else (q.DONE,)
    async with _database(settings) as engine, engine.begin() as conn:
        removed = await q.purge(conn, older_than=timedelta(days=older_than_days), statuses=statuses, brand=brand)
    console.print(f"purged {removed} job(s)")


# --- exceptions ------------------------------------------------------------------------------------------


@exc_app.command("list")
@command
async def exceptions_list(
    settings: Settings,
    brand: Annotated[str | None, typer.Option()] = None,
    team: Annotated[str | None, typer.Option(help="ops | ecom | finance | cx | tech")] = None,
    kind: Annotated[str | None, typer.Option()] = None,
    status: Annotated[str | None, typer.Option(help="open | acknowledged | resolved")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Include resolved ones.")] = False,
    limit: Annotated[int, typer.Option(min=1)] = 100,
) -> None:
    """Exceptions, most recent first (unresolved only unless --all or --status)."""
    from lockstep.store import exceptions as exc_store

    async with _database(settings) as engine, engine.connect() as conn:
        rows = await exc_store.list_exceptions(
            conn,
            brand=brand,
            team=team,
            kind=kind,
            status=status,
            active_only=not all_ and status is None,
            limit=limit,
        )
    table = Table()
    for column in ("id", "brand", "kind", "team", "sev", "status", "count", "first seen", "last seen", "summary"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            str(r.id),
            r.brand,
            r.kind,
            r.owner_team,
            r.severity,
            r.status,
            str(r.occurrences),
            _ago(r.first_seen),
            _ago(r.last_seen),
            r.summary[:80],
        )
    console.print(table)


@exc_app.command("show")
@command
async def exceptions_show(settings: Settings, exception_id: int) -> None:
    """One exception with its evidence and playbook."""
    from dataclasses import asdict

    from lockstep.store import exceptions as exc_store

    async with _database(settings) as engine, engine.connect() as conn:
        record = await exc_store.get(conn, exception_id)
    if record is None:
        raise CliError(f"no exception {exception_id}")
    data = asdict(record)
    data["playbook"] = f"docs/playbooks/{record.playbook}.md"
    console.print_json(json.dumps(data, default=str))


async def _transition(settings: Settings, exception_id: int, action: str) -> None:
    from lockstep.store import audit
    from lockstep.store import exceptions as exc_store

    change = exc_store.acknowledge if action == "ack" else exc_store.resolve
    async with _database(settings) as engine, engine.begin() as conn:
        record = await exc_store.get(conn, exception_id)
        if record is None:
            raise CliError(f"no exception {exception_id}")
        if not await change(conn, exception_id):
            raise CliError(f"exception {exception_id} is {record.status}; cannot {action} it")
        await audit.record(
            conn,
            brand=record.brand,
            actor=audit.cli_actor(),
            action=f"exception.{action}",
            entity_type="exception",
            entity_id=str(exception_id),
            details={"kind": record.kind},
        )
    console.print(f"exception {exception_id}: {'acknowledged' if action == 'ack' else 'resolved'}")


@exc_app.command("ack")
@command
async def exceptions_ack(settings: Settings, exception_id: int) -> None:
    """Acknowledge: someone is on it (stops repeat alerts until it escalates)."""
    await _transition(settings, exception_id, "ack")


@exc_app.command("resolve")
@command
async def exceptions_resolve(settings: Settings, exception_id: int) -> None:
    """Resolve by hand (most kinds also resolve themselves when the condition clears)."""
    await _transition(settings, exception_id, "resolve")


# --- sync ------------------------------------------------------------------------------------------------

sync_app = typer.Typer(
    help="Run a sync now, in this process (the workers run them on their schedules).", no_args_is_help=True
)
app.add_typer(sync_app, name="sync")


_PHASES = {"centra": "reading Centra sizes", "deposco": "reading Deposco items", "upsert": "upserting items"}


@sync_app.command("items")
@command
async def sync_items(
    settings: Settings,
    full: Annotated[bool, typer.Option("--full", help="Compare every item on both sides, not only changes.")] = False,
    brand: Annotated[list[str] | None, typer.Option(help="Only these brands (repeatable).")] = None,
) -> None:
    """Push new and changed Centra sizes to the Deposco item master; --full also finds items missing in Centra."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from lockstep.flows.items import sync_items as run_sync
    from lockstep.runtime import build_runtime
    from lockstep.store import audit

    runtime = build_runtime(settings, require_secrets=True)
    unknown = sorted(set(brand or ()) - set(runtime.brands))
    if unknown:
        await runtime.close()
        raise CliError(f"unknown brand(s): {', '.join(unknown)} (configured: {', '.join(runtime.brands) or 'none'})")
    await runtime.engine.dispose()
    runtime.engine = await _engine(settings)  # one that checked the schema is current
    interrupted = []
    try:
        for name in brand or list(runtime.brands):
            with Progress(
                TextColumn(f"{name}: {{task.description}}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err,
                transient=True,
            ) as bar:
                tasks: dict[str, object] = {}

                def progress(phase: str, done: int, total: int | None, bar=bar, tasks=tasks) -> None:
                    if phase not in tasks:
                        tasks[phase] = bar.add_task(_PHASES.get(phase, phase), total=total)
                    bar.update(tasks[phase], advance=done, total=total)

                report = await run_sync(runtime, name, full=full, progress=progress, actor=audit.cli_actor())
            _print_item_report(report)
            if report.interrupted:
                interrupted.append(f"{name}: stopped early: {report.interrupted}")
    finally:
        await runtime.close()
    if interrupted:
        raise CliError("; ".join(interrupted))


def _print_item_report(report) -> None:
    missing_centra = "not checked (use --full)" if report.missing_in_centra is None else str(report.missing_in_centra)
    console.print(
        f"{report.brand}: {'full' if report.full else 'incremental'} item sync: {report.centra_sizes} Centra size(s)"
        f"{'' if report.deposco_items is None else f', {report.deposco_items} Deposco item(s)'}; "
        f"created {report.created}, updated {report.updated}, unchanged {report.unchanged}, "
        f"skipped (inactive) {report.skipped}, refused {report.refused}, failed {report.failed}; "
        f"missing in Deposco {report.missing_in_deposco}, missing in Centra {missing_centra}; "
        f"{report.upserts} upsert(s) sent",
        highlight=False,
        soft_wrap=True,
    )


# --- orders ----------------------------------------------------------------------------------------------


def _only_brand(settings: Settings, brand: str | None) -> str:
    if brand:
        return brand
    brands = list(load_config_dir(settings.config_dir).brands)
    if len(brands) != 1:
        raise CliError(f"several brands are configured ({', '.join(brands)}): pass --brand")
    return brands[0]


@orders_app.command("show")
@command
async def orders_show(
    settings: Settings,
    number: Annotated[str, typer.Argument(help="The Centra order number.")],
    brand: Annotated[str | None, typer.Option(help="Brand (needed when several are configured).")] = None,
) -> None:
    """An order's whole story: Centra state, routing and why, carriers, Deposco orders, exceptions, audit."""
    from lockstep.flows.orders import carrier_plan
    from lockstep.store import audit
    from lockstep.store import exceptions as exc_store
    from lockstep.store import orders as order_store

    brand = _only_brand(settings, brand)
    async with _database(settings) as engine, engine.connect() as conn:
        record = await order_store.get(conn, brand, number)
        if record is None:
            raise CliError(f"order {number} of {brand} is not known to Lockstep (not yet detected?)")
        units = await order_store.units(conn, brand, number)
        sales = await order_store.sales_orders_of(conn, brand, number)
        related = [
            r
            for r in await exc_store.list_exceptions(conn, brand=brand, limit=1000)
            if r.entity_id == number or r.evidence.get("latest_order") == number or r.evidence.get("order") == number
        ]
        history = [e for e in await audit.recent(conn, brand=brand, limit=1000) if e.entity_id == number]
    snap = record.snapshot
    console.print(
        f"[bold]order {number}[/bold] ({brand}): Lockstep state [bold]{record.state}[/bold] since "
        f"{_ago(record.state_since)}; Centra {record.centra_status}"
        f"{', on hold' if snap.get('is_on_hold') else ''}"
        f"{', waiting for payment' if snap.get('is_waiting_for_payment') else ''}; "
        f"market {record.market or '-'}, ships to {record.ship_country or '-'}",
        highlight=False,
    )
    option = snap.get("shipping_option") or {}
    console.print(
        f"shipping option: {option.get('uri') or '-'} ({option.get('name') or 'none in Centra'})", highlight=False
    )
    lines = Table(title="Centra lines and allocations", title_justify="left")
    for column in ("line", "sku", "qty", "cancelled", "allocated in"):
        lines.add_column(column)
    for line in snap.get("lines", []):
        allocated = ", ".join(f"{a['warehouse']} x{a['quantity']}" for a in line.get("allocations", []))
        lines.add_row(
            str(line["line_id"]), line["sku"], str(line["quantity"]), str(line["cancelled_quantity"]), allocated
        )
    console.print(lines)
    if record.causes:
        console.print("[red]quarantined because:[/red]")
        for cause in record.causes:
            console.print(f"  - {cause['kind']}: {cause['detail']}", highlight=False)
    if units:
        routed = Table(title="routing", title_justify="left")
        for column in ("line", "sku", "pool", "facility", "units", "Deposco order"):
            routed.add_column(column)
        for unit in units:
            routed.add_row(str(unit.line_id), unit.sku, unit.pool, unit.facility, str(unit.quantity), unit.sales_order)
        console.print(routed)
        topology = load_config_dir(settings.config_dir).brands.get(brand)
        if topology is not None:
            numbers = {unit.facility: unit.sales_order for unit in units}
            carriers = Table(title="carrier (ship via / carrier / service)", title_justify="left")
            for column in ("Deposco order", "facility", "carrier", "why"):
                carriers.add_column(column)
            for decision in carrier_plan(topology, snap, set(numbers)):
                carrier = str(decision.service) if decision.ok else "[red]not covered: held[/red]"
                carriers.add_row(numbers[decision.facility], decision.facility, carrier, decision.why)
            console.print(carriers)
    for sale in sales:
        state = (
            "confirmed" if sale.confirmed_at else ("attempted, outcome uncertain" if sale.attempted_at else "to send")
        )
        console.print(
            f"Deposco {sale.number} at {sale.facility}: {state}; status {sale.deposco_status or '-'}"
            f"{'; cancelled' if sale.cancelled_at else ''}",
            highlight=False,
        )
    for note in record.notes:
        console.print(f"note: {note}", highlight=False)
    for r in related:
        console.print(f"exception #{r.id} {r.kind} ({r.status}, team {r.owner_team}): {r.summary}", highlight=False)
    for entry in history:
        console.print(f"audit {entry.at:%Y-%m-%d %H:%M} {entry.actor} {entry.action} {entry.details}", highlight=False)


@orders_app.command("release")
@command
async def orders_release(
    settings: Settings,
    numbers: Annotated[list[str] | None, typer.Argument(help="Order numbers to release.")] = None,
    cause: Annotated[
        str | None, typer.Option(help="Release every quarantined order with this cause, e.g. facility_not_live.")
    ] = None,
    brand: Annotated[str | None, typer.Option(help="Brand (needed when several are configured).")] = None,
) -> None:
    """Re-evaluate quarantined orders (after fixing the mapping or the item master); workers pick them up."""
    from lockstep.queue import enqueue
    from lockstep.store import audit
    from lockstep.store import orders as order_store

    if not numbers and not cause:
        raise CliError("name order numbers or --cause")
    brand = _only_brand(settings, brand)
    async with _database(settings) as engine, engine.begin() as conn:
        held = await order_store.in_state(conn, brand, [order_store.QUARANTINED], limit=100_000)
        chosen = [
            r
            for r in held
            if (numbers and r.number in numbers) or (cause and any(c["kind"] == cause for c in r.causes))
        ]
        unknown = sorted(set(numbers or []) - {r.number for r in held})
        for record in chosen:
            await enqueue(
                conn,
                brand=brand,
                task="orders.fetch",
                payload={"number": record.number},
                dedupe_key=f"fetch:{record.number}",
                priority=5,
            )
            await audit.record(
                conn,
                brand=brand,
                actor=audit.cli_actor(),
                action="order.release",
                entity_type="order",
                entity_id=record.number,
                details={"causes": [c["kind"] for c in record.causes]},
            )
    for number in unknown:
        err.print(f"[yellow]warning:[/yellow] order {number} is not quarantined", highlight=False)
    console.print(f"released {len(chosen)} order(s) for re-evaluation; running workers pick them up")


# --- shipments -------------------------------------------------------------------------------------------

shipments_app = typer.Typer(help="Shipments: Deposco shipments and their Centra confirmation.", no_args_is_help=True)
app.add_typer(shipments_app, name="shipments")


@shipments_app.command("pending")
@command
async def shipments_pending(
    settings: Settings,
    brand: Annotated[str | None, typer.Option(help="Only this brand.")] = None,
) -> None:
    """Shipments shipped by Deposco and not completed in Centra, oldest first, with their age."""
    from lockstep.clock import utcnow
    from lockstep.flows.shipments import age_seconds
    from lockstep.store import shipments as ship_store

    async with _database(settings) as engine, engine.connect() as conn:
        waiting = await ship_store.unconfirmed(conn, brand, limit=10_000)
    if not waiting:
        console.print("no shipment is waiting for its Centra confirmation")
        return
    now = utcnow()
    table = Table(title=f"{len(waiting)} shipment(s) not completed in Centra", title_justify="left")
    for column in ("age", "brand", "Deposco shipment", "order", "facility", "state", "last error"):
        table.add_column(column)
    for record in sorted(waiting, key=lambda r: -age_seconds(r, now)):
        table.add_row(
            _duration(age_seconds(record, now)),
            record.brand,
            record.deposco_number,
            record.order_number,
            record.facility,
            record.state,
            record.last_error or "",
        )
    console.print(table)


@shipments_app.command("show")
@command
async def shipments_show(
    settings: Settings,
    ref: Annotated[str, typer.Argument(help="Lockstep shipment id, Deposco shipment number or Deposco id.")],
    brand: Annotated[str | None, typer.Option(help="Only this brand.")] = None,
) -> None:
    """One shipment's story: Deposco side, each Centra step and when, tracking, exceptions."""
    from lockstep.clock import utcnow
    from lockstep.flows.shipments import age_seconds
    from lockstep.store import exceptions as exc_store
    from lockstep.store import shipments as ship_store

    async with _database(settings) as engine, engine.connect() as conn:
        record = await ship_store.find(conn, ref, brand)
        if record is None:
            raise CliError(f"no shipment {ref} known to Lockstep (not yet detected?)")
        related = [
            r
            for r in await exc_store.list_exceptions(conn, brand=record.brand, limit=1000)
            if r.dedupe_key == record.deposco_number
            and r.kind in ("shipment_unconfirmed", "shipment_rejected", "capture_failed", "over_shipment")
        ]
    age = "" if record.state == ship_store.COMPLETED else f", waiting {_duration(age_seconds(record, utcnow()))}"
    console.print(
        f"[bold]shipment {record.id}[/bold] ({record.brand}): Deposco {record.deposco_number} (id "
        f"{record.deposco_id}) of {record.sales_order} at {record.facility}, order {record.order_number}, pool "
        f"{record.pool}; state [bold]{record.state}[/bold]{age}",
        highlight=False,
    )
    steps = Table(title="steps", title_justify="left")
    for column in ("step", "when"):
        steps.add_column(column)
    for label, when in (
        ("shipped (Deposco)", record.shipped_at),
        ("detected", record.detected_at),
        ("create attempted", record.create_attempted_at),
        ("tagged with the Deposco number", record.tagged_at),
        ("captured", record.captured_at),
        ("completed in Centra", record.completed_at),
        ("capture asked again", record.next_capture_at),
    ):
        steps.add_row(label, _ago(when) if when else "-")
    console.print(steps)
    console.print(
        f"Centra shipment {record.centra_number or '-'} (id {record.centra_id or '-'}); lines "
        f"{', '.join(f'{line} x{units}' for line, units in record.lines) or '-'}; carrier {record.carrier or '-'} "
        f"{record.service}; packages {record.packages}; tracking {', '.join(record.tracking) or '-'}"
        f" (in Centra: {', '.join(record.centra_tracking or []) or '-'}); shipping cost "
        f"{record.shipping_cost if record.shipping_cost is not None else 'not decided yet'}; "
        f"{record.mutations} Centra mutation(s); capture attempts {record.capture_attempts}",
        highlight=False,
    )
    if record.last_error:
        console.print(f"[red]last error:[/red] {record.last_error}", highlight=False)
    for raised in related:
        status = "resolved" if raised.resolved_at else "open"
        console.print(f"exception {raised.id} {raised.kind} ({status}): {raised.summary}", highlight=False)


@shipments_app.command("retry")
@command
async def shipments_retry(
    settings: Settings,
    ref: Annotated[str, typer.Argument(help="Lockstep shipment id, Deposco shipment number or Deposco id.")],
    brand: Annotated[str | None, typer.Option(help="Only this brand.")] = None,
) -> None:
    """Confirm a failed shipment again (after finance or ops fixed the cause); workers pick it up."""
    from lockstep.flows.shipments import NotRetryable, retry
    from lockstep.store import audit
    from lockstep.store import shipments as ship_store

    async with _database(settings) as engine, engine.begin() as conn:
        record = await ship_store.find(conn, ref, brand)
        if record is None:
            raise CliError(f"no shipment {ref} known to Lockstep")
        try:
            await retry(conn, record)
        except NotRetryable as error:
            raise CliError(str(error)) from None
        await audit.record(
            conn,
            brand=record.brand,
            actor=audit.cli_actor(),
            action="shipment.retry",
            entity_type="shipment",
            entity_id=record.deposco_number,
            details={"state": record.state, "last_error": record.last_error},
        )
    console.print(f"shipment {record.deposco_number} queued for confirmation; running workers pick it up")


# --- stock -----------------------------------------------------------------------------------------------

stock_app = typer.Typer(help="Stock: the equation per pool, what Centra holds, and drift.", no_args_is_help=True)
app.add_typer(stock_app, name="stock")


@contextlib.asynccontextmanager
async def _brand_runtime(settings: Settings, brand: str):
    """A runtime with API clients (secrets required) for a command that calls Centra or Deposco for one brand."""
    from lockstep.runtime import build_runtime

    runtime = build_runtime(settings, require_secrets=True)
    if brand not in runtime.brands:
        await runtime.close()
        raise CliError(f"unknown brand {brand} (configured: {', '.join(runtime.brands) or 'none'})")
    await runtime.engine.dispose()
    runtime.engine = await _engine(settings)
    try:
        yield runtime
    finally:
        await runtime.close()


@stock_app.command("show")
@command
async def stock_show(
    settings: Settings,
    sku: Annotated[str, typer.Argument(help="The item (SKU or EAN, per the brand's sku_key).")],
    brand: Annotated[str | None, typer.Option(help="Brand (needed when several are configured).")] = None,
) -> None:
    """Every term of the stock equation per pool, as of now, next to what Centra was last given."""
    from lockstep.flows.inventory.publish import compute_figures
    from lockstep.store import stock as stock_store

    brand = _only_brand(settings, brand)
    topology = load_config_dir(settings.config_dir).brands[brand]
    async with _database(settings) as engine, engine.connect() as conn:
        levels = await stock_store.level_rows(conn, brand, sku)
        published = {r.pool: r for r in await stock_store.published_rows(conn, brand, sku)}
        figures = {p.id: (await compute_figures(conn, topology, p.id, [sku]))[sku] for p in topology.pools}
    if not levels and not published:
        raise CliError(f"no stock reading or published figure for {sku} in {brand} (not scanned yet?)")
    readings = Table(title=f"{sku}: Deposco readings", title_justify="left")
    for column in ("facility", "state", "on hand", "ATP", "read"):
        readings.add_column(column)
    for row in levels:
        try:
            state = topology.facility(row.facility).state
        except KeyError:
            state = "not in topology"
        readings.add_row(row.facility, state, str(row.on_hand), str(row.atp), _ago(row.as_of))
    console.print(readings)
    table = Table(title=f"{sku}: Centra physical per pool (docs/stock-model.md)", title_justify="left")
    for column in (
        "pool",
        "ATP share",
        "+ held open",
        "+ shipped, not completed",
        "- buffer",
        "= now",
        "Centra holds",
        "published",
    ):
        table.add_column(column)
    for pool, figure in figures.items():
        row = published.get(pool)
        live = topology.live_facilities_for_pool(pool)
        shares = ", ".join(f"{f}:{v}" for f, v in figure.per_facility.items())
        if figure.claimed_elsewhere:  # other pools' orders the readings do not net yet came off the ATP first
            shares += f"; less {figure.claimed_elsewhere} of other pools' orders not read yet"
        now = (
            "no live facility"
            if not live
            else (
                str(figure.value) if figure.value is not None else f"unknown (no reading: {', '.join(figure.missing)})"
            )
        )
        table.add_row(
            pool,
            f"{figure.atp_part} ({shares})" if shares else str(figure.atp_part),
            str(figure.held_open),
            str(figure.shipped_unconfirmed),
            str(figure.buffer),
            now,
            str(row.quantity) if row else "-",
            _ago(row.published_at) if row else "never",
        )
    console.print(table)


@stock_app.command("reconcile")
@command
async def stock_reconcile(
    settings: Settings,
    full: Annotated[bool, typer.Option("--full", help="Compare Centra's physical stock (expensive), not FTA.")] = False,
    brand: Annotated[str | None, typer.Option(help="Brand (needed when several are configured).")] = None,
) -> None:
    """Compare Centra with the expected stock now (what the scheduled reconciliation does), correct drift."""
    from lockstep.flows.inventory.reconcile import reconcile

    brand = _only_brand(settings, brand)
    async with _brand_runtime(settings, brand) as runtime:
        report = await reconcile(runtime, brand, full=full)
    table = Table(title=f"{brand}: {'full' if full else 'light'} reconciliation", title_justify="left")
    for column in ("pool", "compared", "drift", "unknown"):
        table.add_column(column)
    for pool, counts in sorted(report.pools.items()):
        table.add_row(pool, *(str(counts.get(k, 0)) for k in ("compared", "drift", "unknown")))
    console.print(table)
    console.print(
        f"{report.drift} drifting, {report.corrected} corrected (rewritten by the publisher), {report.converged} "
        f"back within tolerance; `lockstep stock drift` lists them",
        highlight=False,
    )


@stock_app.command("refresh")
@command
async def stock_refresh(
    settings: Settings,
    skus: Annotated[list[str], typer.Argument(help="Items to re-read (SKU or EAN, per the brand's sku_key).")],
    brand: Annotated[str | None, typer.Option(help="Brand (needed when several are configured).")] = None,
) -> None:
    """Re-read items from Deposco now (after a stock count, say); the running worker publishes what changed."""
    from lockstep.flows.inventory.ingest import refresh_now

    brand = _only_brand(settings, brand)
    async with _brand_runtime(settings, brand) as runtime:
        readings, marked = await refresh_now(runtime, brand, skus)
    if not readings:
        raise CliError(f"Deposco reported none of {', '.join(skus)} at the live facilities of {brand}")
    table = Table(title=f"{brand}: Deposco now", title_justify="left")
    for column in ("item", "facility", "on hand", "ATP"):
        table.add_column(column)
    for r in sorted(readings, key=lambda r: (r.item, r.facility)):
        table.add_row(r.item, r.facility, str(r.on_hand), str(r.atp))
    console.print(table)
    missing = sorted(set(skus) - {r.item for r in readings})
    if missing:
        console.print(f"not reported by Deposco: {', '.join(missing)}", highlight=False)
    console.print(
        f"{marked} (pool, SKU) figure(s) to publish: a running worker (`lockstep run`) writes them to Centra"
        if marked
        else "nothing new to publish (the stored readings were as recent)",
        highlight=False,
    )


@stock_app.command("drift")
@command
async def stock_drift(
    settings: Settings,
    brand: Annotated[str | None, typer.Option(help="Only this brand.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Rows to show, largest difference first.")] = 50,
) -> None:
    """The current drift table from the last reconciliation: expected vs Centra per pool and SKU."""
    from sqlalchemy import func, select

    from lockstep.store.stock import stock_drift as drift

    async with _database(settings) as engine, engine.connect() as conn:
        where = [drift.c.brand == brand] if brand else []
        total = await conn.scalar(select(func.count()).select_from(drift).where(*where))
        rows = (
            await conn.execute(
                select(drift).where(*where).order_by(func.abs(drift.c.difference).desc(), drift.c.sku).limit(limit)
            )
        ).all()
    if not rows:
        console.print("no drift: Centra matches the expected stock within tolerance")
        return
    table = Table(title=f"{total} (pool, SKU) drifting", title_justify="left")
    for column in ("brand", "pool", "SKU", "expected", "Centra", "difference", "since"):
        table.add_column(column)
    for r in rows:
        table.add_row(r.brand, r.pool, r.sku, str(r.expected), str(r.centra), f"{r.difference:+d}", _ago(r.first_seen))
    console.print(table)


# --- demo ------------------------------------------------------------------------------------------------


@app.command()
@command
async def demo(
    settings: Settings,
    seconds: Annotated[float, typer.Option(min=1, help="How long to run the worker and scheduler.")] = 4,
) -> None:
    """Show Lockstep end to end on a fresh SQLite database with the example brand."""
    from lockstep.demo import run_demo

    await run_demo(settings, seconds=seconds, console=console)


def _mount_simulators() -> None:
    """The simulators ship with Lockstep (demo, tests, benchmarks); their commands are plain typer functions."""
    from lockstep.sim.centra.command import centra
    from lockstep.sim.deposco.command import deposco
    from lockstep.sim.scenario.command import scenario

    sim_app.command("centra")(centra)
    sim_app.command("deposco")(deposco)
    sim_app.command("scenario")(scenario)


_mount_simulators()


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
