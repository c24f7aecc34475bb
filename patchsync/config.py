"""The configuration: TOML in, frozen and validated dataclasses out.

Every default lives here, and every key is checked when the file loads, so
the rest of the code never meets an unknown key, a wrong type or a missing
value: it reads attributes, not dictionaries.
"""

from __future__ import annotations

import dataclasses
import os
import re
import string
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.errors import HeaderParseError
from email.headerregistry import Address, HeaderRegistry
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from .errors import ConfigError
from .names import branch_problem, control_problem
from .statedir import DEFAULT_SOURCE

DEFAULT_CONFIG_PATH = Path("/etc/patchsync/patchsync.toml")
CONFIG_ENV = "PATCHSYNC_CONFIG"

GIB = 1024**3
MAX_SOURCE_NAME = 64


# Placeholders a subject template may use; anything else is refused at load
# time so a typo never reaches a commit message.
SUBJECT_FIELDS = frozenset({"name", "previous_name", "package", "version", "release"})

# git check-ref-format, applied to one component: enough to keep a target
# name usable as refs/heads/patchsync/<name> and refs/patchsync/backup/<name>.
#: A full commit id (SHA-1 or SHA-256): a ``base`` that needs no fetch.
_COMMIT_ID = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
_REF_COMPONENT = re.compile(r"^(?!\.)(?!.*\.\.)(?!.*\.lock$)(?!.*@\{)[^\x00-\x20\x7f~^:?*\[\\/]+(?<!\.)$")


@dataclass(frozen=True)
class SourceConfig:
    """Where the KOTD src.rpms come from and what to take out of them."""

    #: Names the source in targets, state and reports; a git ref component.
    name: str = DEFAULT_SOURCE
    url: str = ""
    package: str = "kernel-source"
    tarball: str = "patches.xen.tar.bz2"
    max_bytes: int = 2 * GIB
    series_symbols: tuple[str, ...] = ("xen",)
    timeout_seconds: float = 30.0
    retries: int = 5
    #: Every transfer of one fetch (listing, probe, download, retries and
    #: resumes) ends by then; a cycle ends by twice this.
    deadline_seconds: float = 1800.0
    #: OpenPGP certificate files; the KOTD's header signature must be by one of them (none: not checked).
    keys: tuple[str, ...] = ()


def _default_state_dir() -> str:
    # systemd's StateDirectory= sets $STATE_DIRECTORY; outside systemd follow
    # the XDG base directory spec like any other per-user tool.
    if os.environ.get("STATE_DIRECTORY"):
        return os.environ["STATE_DIRECTORY"].split(":")[0]
    xdg = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(xdg, "patchsync")


@dataclass(frozen=True)
class StateConfig:
    """The cache and run history."""

    dir: str = field(default_factory=_default_state_dir)
    #: ``postgresql://...`` for state two machines share; empty: SQLite in ``dir``.
    database: str = ""
    retain_srpms: int = 2
    retain_backups: int = 10


Mode = Literal["released", "development"]


@dataclass(frozen=True)
class TargetConfig:
    """One kernel tree branch kept in step with the KOTD."""

    name: str
    repo: str
    branch: str
    #: The ``[[source]]`` this tree follows; filled in at load time when there is one source.
    source: str = ""
    base: str = ""
    patches_dir: str = "debian.ec2/patches"
    mode: Mode = "released"
    strip: int = 1
    hold: tuple[str, ...] = ()
    review_branch: str = ""
    update_branch: bool = False
    #: The team's git server (a remote of ``repo``): fetched before compare, pushed to after sync.
    remote: str = ""
    #: The old name of ``remote``; the config loader makes the two equal.
    push_remote: str = ""
    author: str = ""
    committer: str = ""
    signoff: bool = False
    buglink: str = ""
    subject_update: str = "UBUNTU: [Xen] {name}: update from {package} {version}-{release}"
    subject_add: str = "UBUNTU: [Xen] {name}: add from {package} {version}-{release}"
    subject_remove: str = "UBUNTU: [Xen] {name}: remove, dropped from {package} {version}-{release}"
    subject_rename: str = "UBUNTU: [Xen] {name}: rename from {previous_name} in {package} {version}-{release}"

    @property
    def review_ref(self) -> str:
        """The full ref sync writes its result to."""
        return "refs/heads/" + (self.review_branch or f"patchsync/{self.name}")

    @property
    def branch_ref(self) -> str:
        """The ref compared and synced onto: the fetched server branch when there is a ``remote``."""
        return self.tracking_ref("refs/heads/" + self.branch) if self.remote else "refs/heads/" + self.branch

    @property
    def base_rev(self) -> str:
        """The ``base`` to read: as given, or with a ``remote`` the fetched one (a commit id stays as given)."""
        if not self.remote or not self.base or _COMMIT_ID.match(self.base):
            return self.base
        return self.tracking_ref(self.base)

    def tracking_ref(self, ref: str) -> str:
        """Where the fetch keeps the server's ``refs/heads/X`` (or a ``base`` name): ``refs/remotes/<remote>/X``."""
        return f"refs/remotes/{self.remote}/{ref.removeprefix('refs/heads/')}"


@dataclass(frozen=True)
class ScheduleConfig:
    """When the daemon runs a cycle: a crontab line, or a fixed interval."""

    cron: str = "30 */6 * * *"
    interval_seconds: int = 0
    jitter_seconds: int = 300


@dataclass(frozen=True)
class ReportConfig:
    """Where the emailed diff reports go."""

    to: tuple[str, ...]
    from_: str
    smtp_host: str = "localhost"
    smtp_port: int = 25
    starttls: bool = False
    ssl: bool = False
    username: str = ""
    password_file: str = ""
    only_on_change: bool = True


@dataclass(frozen=True)
class Config:
    """The whole configuration file."""

    path: str
    #: In config order; a single ``[source]`` table is one source named ``default``.
    sources: tuple[SourceConfig, ...] = (SourceConfig(),)
    state: StateConfig = field(default_factory=StateConfig)
    targets: tuple[TargetConfig, ...] = ()
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    report: ReportConfig | None = None
    #: Problems that do not stop a run (a source no target follows), for the caller to log.
    warnings: tuple[str, ...] = ()

    @property
    def source(self) -> SourceConfig:
        """The first source: the only one in a single-source config."""
        return self.sources[0]

    def source_named(self, name: str) -> SourceConfig:
        """The source called ``name``; an error naming the known ones otherwise."""
        for source in self.sources:
            if source.name == name:
                return source
        known = ", ".join(s.name for s in self.sources)
        raise ConfigError(f"no source named {name!r} (known: {known})", where=self.path)

    def source_name_of(self, target: TargetConfig) -> str:
        """The name of the source ``target`` follows (a target built in code may leave it to the first)."""
        return target.source or self.sources[0].name

    def targets_of(self, source: SourceConfig) -> tuple[TargetConfig, ...]:
        """The targets following ``source``, in config order."""
        return tuple(t for t in self.targets if self.source_name_of(t) == source.name)

    def target(self, name: str) -> TargetConfig:
        """The target called ``name``; an error naming the known ones otherwise."""
        for target in self.targets:
            if target.name == name:
                return target
        known = ", ".join(t.name for t in self.targets) or "none"
        raise ConfigError(f"no target named {name!r} (known: {known})", where=self.path)


def resolve_path(explicit: str | None) -> Path:
    """``--config``, then ``$PATCHSYNC_CONFIG``, then the system-wide file."""
    if explicit:
        return Path(explicit)
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    return DEFAULT_CONFIG_PATH


def load(path: str | os.PathLike[str]) -> Config:
    """Read and validate a config file; every problem is a :class:`ConfigError`."""
    where = os.fspath(path)
    try:
        with open(where, "rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError("no such config file", where=where) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", where=where) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", where=where) from None
    return parse(raw, where)


def parse(raw: Mapping[str, Any], where: str = "<config>") -> Config:
    """Validate an already-decoded TOML document."""
    _check_keys(raw, {"source", "state", "target", "schedule", "report"}, "", where)
    sources = _sources(raw.get("source", {}), where)
    state = _build(StateConfig, raw.get("state", {}), "state", where)
    schedule = _build(ScheduleConfig, raw.get("schedule", {}), "schedule", where)
    report = None
    if "report" in raw:
        table = dict(_table(raw["report"], "report", where))
        if "from" in table:
            table["from_"] = table.pop("from")
        report = _build(ReportConfig, table, "report", where)
    targets_raw = raw.get("target", [])
    if not isinstance(targets_raw, list):
        raise ConfigError("'target' must be an array of tables ([[target]])", where=where)
    targets = tuple(
        _with_source(
            _remote_alias(_build(TargetConfig, t, f"target[{i}]", where), f"target[{i}]", where),
            sources,
            f"target[{i}]",
            where,
        )
        for i, t in enumerate(targets_raw)
    )
    followed = {t.source for t in targets}
    warnings = tuple(
        f"{where}: source {s.name!r} is followed by no target" for s in sources if targets and s.name not in followed
    )
    config = Config(
        path=where,
        sources=sources,
        state=state,
        targets=targets,
        schedule=schedule,
        report=report,
        warnings=warnings,
    )
    _validate(config)
    return config


def _remote_alias(target: TargetConfig, key: str, where: str) -> TargetConfig:
    """``push_remote`` is the old name of ``remote``: make them one value."""
    if target.push_remote and target.remote and target.push_remote != target.remote:
        raise ConfigError(
            f"'{key}.push_remote' is the old name of '{key}.remote'; they differ "
            f"({target.push_remote!r}, {target.remote!r}): keep 'remote' only",
            where=where,
        )
    name = target.remote or target.push_remote
    return dataclasses.replace(target, remote=name, push_remote=name)


def _sources(value: Any, where: str) -> tuple[SourceConfig, ...]:
    """``[source]`` (one source, named ``default`` unless it says) or ``[[source]]``."""
    # A file holding both a [source] table and [[source]] tables is already
    # refused by the TOML parser, which cannot make one key both.
    if isinstance(value, list):
        if not value:
            raise ConfigError("'source' must hold at least one [[source]] table", where=where)
        sources = tuple(_build(SourceConfig, t, f"source[{i}]", where) for i, t in enumerate(value))
    else:
        sources = (_build(SourceConfig, value, "source", where),)
    seen: set[str] = set()
    for i, source in enumerate(sources):
        key = "source" if not isinstance(value, list) else f"source[{i}]"
        # The name becomes a file name in state.dir and a key in the database.
        if not _REF_COMPONENT.match(source.name) or len(source.name) > MAX_SOURCE_NAME:
            raise ConfigError(
                f"'{key}.name' {source.name!r} is not a valid git ref component"
                f" of at most {MAX_SOURCE_NAME} characters",
                where=where,
            )
        if source.name in seen:
            raise ConfigError(f"'{key}.name' {source.name!r} is used twice", where=where)
        seen.add(source.name)
    return sources


def _with_source(target: TargetConfig, sources: tuple[SourceConfig, ...], key: str, where: str) -> TargetConfig:
    """``target`` naming the source it follows, which must exist."""
    names = [s.name for s in sources]
    if not target.source:
        if len(sources) > 1:
            raise ConfigError(
                f"'{key}.source' is required when there are several sources (one of: {', '.join(names)})",
                where=where,
            )
        return dataclasses.replace(target, source=names[0])
    if target.source not in names:
        raise ConfigError(f"'{key}.source' {target.source!r} names no source (known: {', '.join(names)})", where=where)
    return target


def _validate(config: Config) -> None:  # noqa: PLR0912  a flat list of checks, one per key
    where = config.path
    for i, src in enumerate(config.sources):
        _validate_source(src, "source" if len(config.sources) == 1 else f"source[{i}]", where)
    if config.state.retain_srpms < 1 or config.state.retain_backups < 0:
        raise ConfigError("'state.retain_srpms' must be >= 1 and 'state.retain_backups' >= 0", where=where)
    check_database_url(config.state.database, where)
    sched = config.schedule
    if sched.interval_seconds < 0 or sched.jitter_seconds < 0:
        raise ConfigError("'schedule' intervals must not be negative", where=where)
    if not sched.interval_seconds and len(sched.cron.split()) != 5:
        raise ConfigError(f"'schedule.cron' must have 5 fields, got {sched.cron!r}", where=where)
    if config.report is not None:
        if not config.report.to:
            raise ConfigError("'report.to' must name at least one address", where=where)
        for i, address in enumerate(config.report.to):
            _check_address(address, f"report.to[{i}]", where)
        _check_address(config.report.from_, "report.from", where)
        if config.report.ssl and config.report.starttls:
            raise ConfigError("'report.ssl' and 'report.starttls' exclude each other", where=where)
    seen: set[str] = set()
    for i, target in enumerate(config.targets):
        key = f"target[{i}]"
        if not _REF_COMPONENT.match(target.name):
            raise ConfigError(f"'{key}.name' {target.name!r} is not a valid git ref component", where=where)
        if target.name in seen:
            raise ConfigError(f"'{key}.name' {target.name!r} is used twice", where=where)
        seen.add(target.name)
        if target.mode not in ("released", "development"):
            raise ConfigError(f"'{key}.mode' must be 'released' or 'development', not {target.mode!r}", where=where)
        if target.mode == "development" and not target.base:
            raise ConfigError(f"'{key}.base' is required for a development target", where=where)
        if target.remote:
            _check_remote(target, key, where)
        _check_branches(target, key, where)
        if target.strip < 0:
            raise ConfigError(f"'{key}.strip' must not be negative", where=where)
        if not target.patches_dir or target.patches_dir.startswith("/") or ".." in target.patches_dir.split("/"):
            raise ConfigError(f"'{key}.patches_dir' must be a relative path inside the tree", where=where)
        for attr in ("subject_update", "subject_add", "subject_remove", "subject_rename"):
            _check_template(getattr(target, attr), f"{key}.{attr}", where)


#: URL schemes ``state.database`` accepts (libpq's two spellings).
DATABASE_SCHEMES = ("postgresql", "postgres")


def check_database_url(url: str, where: str, key: str = "'state.database'") -> None:
    """A PostgreSQL URL with a database name, or empty; no password (libpq's files hold it)."""
    if not url:
        return
    parts = urlsplit(url)
    if parts.scheme not in DATABASE_SCHEMES:
        raise ConfigError(f"{key} must be a postgresql://[user@]host[:port]/dbname URL, not {url!r}", where=where)
    if not parts.path.strip("/"):
        raise ConfigError(f"{key} must name a database (postgresql://host/dbname)", where=where)
    if parts.password is not None:
        # The config file is often world-readable; libpq's password file
        # and the systemd credential are not.
        raise ConfigError(
            f"{key} must not hold a password: use ~/.pgpass, PGPASSFILE or the credential 'db-password'",
            where=where,
        )
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ConfigError(f"{key} has a bad port: {url!r}", where=where) from None


def _check_remote(target: TargetConfig, key: str, where: str) -> None:
    problem = branch_problem(target.remote)
    if problem or "/" in target.remote:
        raise ConfigError(f"'{key}.remote' {target.remote!r} is not a remote name", where=where)
    if target.mode == "development" and target.update_branch:
        # A development sync rewrites base..branch; on the server that
        # would rewrite history everyone else has fetched.
        raise ConfigError(
            f"'{key}.update_branch' would rewrite the server's branch in development mode; "
            "review and merge the review branch by hand",
            where=where,
        )


def _validate_source(src: SourceConfig, key: str, where: str) -> None:
    if src.max_bytes <= 0:
        raise ConfigError(f"'{key}.max_bytes' must be positive", where=where)
    if src.retries < 0:
        raise ConfigError(f"'{key}.retries' must not be negative", where=where)
    if src.timeout_seconds <= 0:
        raise ConfigError(f"'{key}.timeout_seconds' must be positive", where=where)
    if src.url.rstrip("/").endswith(".rpm"):
        # Discovery would list "<file>/" and answer 404, which says nothing.
        raise ConfigError(
            f"'{key}.url' {src.url!r} names an rpm file, not the folder that lists the src.rpms "
            "(set it to that folder, e.g. the KOTD's src/; one file is `--src-rpm FILE`)",
            where=where,
        )
    if src.deadline_seconds < src.timeout_seconds:
        raise ConfigError(f"'{key}.deadline_seconds' must be at least '{key}.timeout_seconds'", where=where)
    if not src.tarball or "/" in src.tarball:
        raise ConfigError(f"'{key}.tarball' must be a file name", where=where)
    if src.keys:
        from .rpm.signature import load_keyring

        # Names the key file that is missing, unreadable or holds no certificate.
        load_keyring(src.keys)


def _check_branches(target: TargetConfig, key: str, where: str) -> None:
    """``branch`` and ``review_branch`` by ``git check-ref-format --branch``, and apart."""
    for attr in ("branch", "review_branch"):
        value = getattr(target, attr)
        if attr == "review_branch" and not value:
            continue
        problem = branch_problem(value)
        if problem:
            raise ConfigError(f"'{key}.{attr}': {problem}", where=where)
    if target.review_ref == "refs/heads/" + target.branch:
        raise ConfigError(
            f"'{key}.review_branch' must differ from 'branch' ({target.branch!r}): sync writes its result there",
            where=where,
        )


#: Parses To:/From: values the way the email package will when it builds a report.
_HEADERS = HeaderRegistry()


def _check_address(value: str, key: str, where: str) -> None:
    """One RFC 5322 mailbox (``user@host`` or ``Name <user@host>``), nothing more."""
    problem = control_problem(value)
    if problem:
        raise ConfigError(f"'{key}': {problem}", where=where)
    try:
        header = _HEADERS("To", value)
        addresses: tuple[Address, ...] = tuple(getattr(header, "addresses", ()))
        defects: tuple[object, ...] = tuple(getattr(header, "defects", ()))
    except (HeaderParseError, ValueError, IndexError) as exc:
        raise ConfigError(f"'{key}' {value!r} is not an email address: {exc}", where=where) from None
    if defects or len(addresses) != 1 or not addresses[0].username or not addresses[0].domain:
        reason = f" ({defects[0]})" if defects else ""
        raise ConfigError(f"'{key}' {value!r} is not one email address like 'user@example.org'{reason}", where=where)


def _check_template(template: str, key: str, where: str) -> None:
    try:
        names = {fname for _, fname, _, _ in string.Formatter().parse(template) if fname is not None}
    except ValueError as exc:
        raise ConfigError(f"'{key}' is not a valid template: {exc}", where=where) from None
    unknown = names - SUBJECT_FIELDS
    if unknown:
        allowed = ", ".join("{" + n + "}" for n in sorted(SUBJECT_FIELDS))
        raise ConfigError(
            f"'{key}' uses unknown placeholder {{{sorted(unknown)[0]}}} (allowed: {allowed})", where=where
        )


def _table(value: Any, key: str, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"'{key}' must be a table", where=where)
    return value


def _check_keys(table: Mapping[str, Any], allowed: set[str], prefix: str, where: str) -> None:
    for name in table:
        if name not in allowed:
            full = f"{prefix}.{name}" if prefix else name
            expected = ", ".join(sorted(allowed))
            raise ConfigError(f"unknown key '{full}' (expected one of: {expected})", where=where)


def _toml_name(field_name: str) -> str:
    return field_name.rstrip("_")


_T = typing.TypeVar("_T")


def _build(cls: type[_T], value: Any, key: str, where: str) -> _T:
    table = _table(value, key, where)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    _check_keys(
        {_toml_name(k) if k in fields else k: v for k, v in table.items()},
        {_toml_name(n) for n in fields},
        key,
        where,
    )
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        if name not in table:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"missing required key '{key}.{_toml_name(name)}'", where=where)
            continue
        kwargs[name] = _coerce(table[name], hints[name], f"{key}.{_toml_name(name)}", where)
    return cls(**kwargs)


def _coerce(value: Any, hint: Any, key: str, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            raise ConfigError(f"'{key}' must be one of {', '.join(map(repr, choices))}, not {value!r}", where=where)
        return value
    if origin is tuple:
        (item,) = typing.get_args(hint)[:1]
        if not isinstance(value, list):
            raise ConfigError(f"'{key}' must be a list of {_type_name(item)}", where=where)
        return tuple(_coerce(v, item, f"{key}[{i}]", where) for i, v in enumerate(value))
    if origin in (typing.Union, types.UnionType):
        raise AssertionError("optional config fields are built explicitly")
    if hint is str and isinstance(value, str):
        # No config string may add a line to a ref, a commit message or a
        # mail header; a tab is harmless (a crontab line may hold one).
        problem = control_problem(value.replace("\t", " "))
        if problem:
            raise ConfigError(f"'{key}': {problem}", where=where)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    # bool is a subclass of int: `retries = true` must not pass as 1.
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise ConfigError(f"'{key}' must be {_type_name(hint)}, not {type(value).__name__}", where=where)
    return value


def _type_name(hint: Any) -> str:
    return {str: "a string", int: "an integer", bool: "a boolean (true/false)", float: "a number"}.get(
        hint, getattr(hint, "__name__", str(hint))
    )
