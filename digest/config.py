"""Load and validate config.toml.

The schema is the dataclasses below: their fields are the keys, their annotations the types,
their defaults the defaults. A wrong file never produces a traceback: `ConfigError` names
the key and says how to fix it. The validator is hand-written over the dataclasses (about
sixty lines) rather than pydantic, because the messages must name the TOML key and the fix,
and the rest of the project already speaks frozen dataclasses.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import string
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

CONFIG_ENV = "DIGEST_CONFIG"  # path of config.toml
HOME_ENV = "DIGEST_HOME"  # overrides [paths].state (tests run in a temp dir)


class ConfigError(Exception):
    """A config problem, phrased for the person who edits config.toml."""


@dataclass(frozen=True)
class PathsConfig:
    inbox: Path = Path("inbox")
    archive: Path = Path("archive")
    failed: Path = Path("failed")
    output: Path = Path("out")
    state: Path = Path(".digest")
    templates: Path | None = None  # a folder whose files override templates/


@dataclass(frozen=True)
class TextConfig:
    tokenizer: str = "rjieba"
    user_dict: Path | None = None
    stopwords: Path | None = None
    min_sentence_chars: int = 6


@dataclass(frozen=True)
class RankConfig:
    mode: str = "default"  # "default" or "textrank4zh"
    sentences: int = 3
    ratio: float | None = None  # fraction of sentences; overrides `sentences` when set
    char_budget: int | None = None  # max characters of key sentences; applied last
    keywords: int = 8


@dataclass(frozen=True)
class ThemeConfig:
    name: str
    keywords: list[str]
    exclude: list[str] = field(default_factory=list)


# The default taxonomy for Chinese local-government news. config.toml ships the same list
# (tests/test_themes.py checks they agree); it applies when a config has no [[themes]]
# (`themes = []` turns named themes off: every article is grouped automatically).
DEFAULT_THEMES: tuple[ThemeConfig, ...] = (
    ThemeConfig("文明城市创建",
                ["文明城市", "创城", "文明创建", "创建工作", "下沉点位", "创建成果", "网格",
                 "文明实践", "背街小巷", "老旧小区"],
                exclude=["质量强区"]),
    ThemeConfig("安全生产",
                ["安全生产", "安全隐患", "隐患排查", "消防", "应急管理", "防汛", "危险化学品",
                 "燃气", "事故"]),
    ThemeConfig("疫情防控",
                ["疫情防控", "疫情", "核酸", "新冠", "防疫", "隔离", "疫苗"]),
    ThemeConfig("项目建设与经济",
                ["重点项目", "项目建设", "招商引资", "产业", "企业", "经济", "营商环境", "金融",
                 "市场主体", "制造业", "质量强区", "数字化", "产业园", "投资", "纾困", "消费"]),
    ThemeConfig("科技与人才",
                ["科技", "人才", "创新", "专家", "院士", "高校", "校地合作", "青年发展", "科技活动周",
                 "英才"]),
    ThemeConfig("乡村振兴",
                ["乡村振兴", "农民", "农村", "村集体", "防返贫", "返贫", "帮扶", "耕地", "农业",
                 "合作社", "三资", "增收", "驻村", "消费帮扶", "协作"]),
    ThemeConfig("生态环境",
                ["生态环境", "生态补偿", "生态保护", "环境保护", "大气污染", "污染防治", "河长",
                 "水质", "绿色发展"]),
    ThemeConfig("党建与理论学习",
                ["理论学习", "集体学习", "中心组", "党建", "党史学习", "主题教育", "党代会",
                 "从严治党", "党史", "红色教育", "党员", "少先队", "共青团"]),
    ThemeConfig("人大政协与政务",
                ["人大常委会", "人大代表", "政协", "政务公开", "履诺", "主席会议", "主任会议",
                 "依法履职", "议案", "提案"]),
    ThemeConfig("民生服务",
                ["民生", "便民", "群众", "社区", "志愿", "养老", "就业", "营业厅", "政务公开",
                 "诉求", "办实事", "关爱", "微治理"]),
)


@dataclass(frozen=True)
class ClusteringConfig:
    similarity: float = 0.18  # cosine similarity that links two unclaimed articles
    min_size: int = 2  # smaller groups go to 其他
    label_keywords: int = 3


@dataclass(frozen=True)
class DedupeConfig:
    similarity: float = 0.5  # Jaccard similarity of character shingles for "same story"
    shingle: int = 5


@dataclass(frozen=True)
class DigestConfig:
    title: str = "每周要闻摘要"
    timezone: str = "Asia/Shanghai"
    base_url: str = ""  # where out/ is published; used for links in feed.xml


@dataclass(frozen=True)
class ScheduleConfig:
    scan_seconds: int = 60
    stable_seconds: float = 5.0
    digest_day: str = "mon"
    digest_time: str = "08:00"
    misfire_grace_seconds: int = 6 * 3600
    # Inbox names never taken: files still being written by someone else, and hidden files.
    ignore: list[str] = field(default_factory=lambda: ["*.part", "*.tmp", "~$*", ".*"])


@dataclass(frozen=True)
class IngestConfig:
    workers: int = 0  # processes that decode, parse and rank; 0 = one per core


@dataclass(frozen=True)
class EmailConfig:
    enabled: bool = False
    host: str = "localhost"
    port: int = 587
    security: str = "starttls"  # "starttls", "tls" or "none"
    username: str | None = None
    password_env: str = "DIGEST_SMTP_PASSWORD"
    sender: str = "digest@localhost"
    subject: str = "{title} {week}"
    unsubscribe: str = ""  # mailto: or https: URL for List-Unsubscribe
    timeout_seconds: float = 30.0
    max_attempts: int = 8
    retry_base_seconds: int = 300
    retry_max_seconds: int = 6 * 3600  # the backoff doubles up to this
    catch_up_weeks: int = 4  # weeks that ended longer ago are built but not mailed
    ca_file: Path | None = None  # extra CA bundle, e.g. for a private relay


@dataclass(frozen=True)
class SubscriberConfig:
    email: str
    name: str = ""
    themes: list[str] = field(default_factory=list)  # empty: every theme


@dataclass(frozen=True)
class Config:
    paths: PathsConfig = field(default_factory=PathsConfig)
    text: TextConfig = field(default_factory=TextConfig)
    rank: RankConfig = field(default_factory=RankConfig)
    digest: DigestConfig = field(default_factory=DigestConfig)
    clustering: ClusteringConfig = field(default_factory=ClusteringConfig)
    dedupe: DedupeConfig = field(default_factory=DedupeConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    email: EmailConfig = field(default_factory=EmailConfig)
    themes: list[ThemeConfig] = field(default_factory=lambda: list(DEFAULT_THEMES))
    subscribers: list[SubscriberConfig] = field(default_factory=list)
    source: Path | None = None  # the file this came from

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.digest.timezone)


_CHOICES = {
    "text.tokenizer": ("jieba", "rjieba"),
    "rank.mode": ("default", "textrank4zh"),
    "email.security": ("starttls", "tls", "none"),
    "schedule.digest_day": ("mon", "tue", "wed", "thu", "fri", "sat", "sun"),
}


def _type_name(tp: object) -> str:
    names = {str: "a string", int: "a whole number", float: "a number", bool: "true or false",
             Path: "a path string", list: "a list"}
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp) if a is not type(None))
    if origin is list:
        return "a list of " + _type_name(typing.get_args(tp)[0]).removeprefix("a ") + "s"
    if dataclasses.is_dataclass(tp):
        return "a table"
    return names.get(tp, str(tp))


def _convert(value: object, tp: object, key: str) -> object:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        for option in options:
            try:
                return _convert(value, option, key)
            except ConfigError:
                continue
        raise ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r}")
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r}; "
                              f"write it as [\"...\", \"...\"]")
        (item_tp,) = typing.get_args(tp)
        return [_convert(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a table ([{key}]), got {value!r}")
        return _build(tp, value, key)
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif tp is Path:
        if isinstance(value, str) and value:
            return Path(value)
    raise ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r}")


def _build(cls: type, table: dict, prefix: str) -> object:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "source"}
    kwargs = {}
    for key, value in table.items():
        full = f"{prefix}.{key}" if prefix else key
        if key not in fields:
            close = difflib.get_close_matches(key, fields, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            where = f"[{prefix}]" if prefix else "the top level"
            raise ConfigError(f"{full}: unknown key in {where}; {hint}"
                              f"known keys: {', '.join(sorted(fields))}")
        kwargs[key] = _convert(value, hints[key], full)
        choices = _CHOICES.get(full)
        if choices and kwargs[key] not in choices:
            raise ConfigError(f"{full}: {value!r} is not one of {', '.join(choices)}")
    for name, f in fields.items():
        if (name not in kwargs and f.default is dataclasses.MISSING
                and f.default_factory is dataclasses.MISSING):
            raise ConfigError(f"{prefix}.{name}: required key is missing; add {name} = ...")
    return cls(**kwargs)


def _resolve(path: Path | None, base: Path) -> Path | None:
    if path is None:
        return None
    path = path.expanduser()
    return path if path.is_absolute() else (base / path)


def _check(config: Config) -> None:
    try:
        ZoneInfo(config.digest.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"digest.timezone: unknown time zone {config.digest.timezone!r}; "
                          f"use an IANA name such as \"Asia/Shanghai\"") from None
    hh, _, mm = config.schedule.digest_time.partition(":")
    if not (hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60):
        raise ConfigError(f"schedule.digest_time: {config.schedule.digest_time!r} is not HH:MM, "
                          f"e.g. \"08:00\"")
    _check_service(config)
    if config.ingest.workers < 0:
        raise ConfigError("ingest.workers: must be 0 (one per core) or a number of processes")
    if config.rank.sentences < 1:
        raise ConfigError("rank.sentences: must be at least 1")
    if config.rank.ratio is not None and not 0 < config.rank.ratio <= 1:
        raise ConfigError("rank.ratio: must be in (0, 1], e.g. 0.2")
    names = [t.name for t in config.themes]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"themes: the name {name!r} is used twice; theme names must differ")
    for i, theme in enumerate(config.themes):
        if not theme.keywords:
            raise ConfigError(f"themes[{i}].keywords: theme {theme.name!r} needs at least one "
                              f"keyword")
    for i, sub in enumerate(config.subscribers):
        if "@" not in sub.email or any(c in sub.email for c in "\r\n<>,; "):
            raise ConfigError(f"subscribers[{i}].email: {sub.email!r} is not a plain address "
                              f"like name@example.org")
        unknown = [t for t in sub.themes if t not in names]
        if unknown:
            raise ConfigError(f"subscribers[{i}].themes: no theme named {unknown[0]!r}; "
                              f"known themes: {', '.join(names)}")
    for folder in ("templates",):
        value = getattr(config.paths, folder)
        if value is not None and not value.is_dir():
            raise ConfigError(f"paths.{folder}: folder {str(value)!r} does not exist; "
                              f"create it or remove the key")
    for key in ("user_dict", "stopwords"):
        value = getattr(config.text, key)
        if value is not None and not value.is_file():
            raise ConfigError(f"text.{key}: file {str(value)!r} does not exist; "
                              f"create it or remove the key")


# Placeholders that email.subject / email.unsubscribe may use (see digest/deliver.py).
SUBJECT_FIELDS = ("title", "week", "start", "end", "stories", "name", "headline")
UNSUBSCRIBE_FIELDS = ("email",)


def _check_template(key: str, template: str, allowed: tuple[str, ...]) -> None:
    try:
        fields = [name for _, name, spec, conv in string.Formatter().parse(template)
                  if name is not None]
    except ValueError as exc:
        raise ConfigError(f"{key}: {template!r} is not a valid template ({exc}); write "
                          f"placeholders as {{week}} and a literal brace as {{{{") from None
    for name in fields:
        if name not in allowed:
            raise ConfigError(f"{key}: unknown placeholder {{{name}}}; use "
                              + ", ".join(f"{{{a}}}" for a in allowed))


def _check_service(config: Config) -> None:
    """[schedule] and [email]: the unattended service's settings."""
    schedule, email = config.schedule, config.email
    minimums = {"schedule.scan_seconds": (schedule.scan_seconds, 1),
                "schedule.stable_seconds": (schedule.stable_seconds, 0),
                "schedule.misfire_grace_seconds": (schedule.misfire_grace_seconds, 1),
                "email.timeout_seconds": (email.timeout_seconds, 1),
                "email.max_attempts": (email.max_attempts, 1),
                "email.retry_base_seconds": (email.retry_base_seconds, 1),
                "email.retry_max_seconds": (email.retry_max_seconds, email.retry_base_seconds),
                "email.catch_up_weeks": (email.catch_up_weeks, 1)}
    for key, (value, least) in minimums.items():
        if value < least:
            raise ConfigError(f"{key}: {value!r} is too small; use {least} or more")
    if not 0 < email.port < 65536:
        raise ConfigError(f"email.port: {email.port} is not a TCP port; use 587 for starttls, "
                          f"465 for tls or 25 for none")
    if "@" not in email.sender or any(c in email.sender for c in "\r\n<>,; "):
        raise ConfigError(f"email.sender: {email.sender!r} is not a plain address like "
                          f"digest@example.org")
    if not email.password_env.isidentifier():
        raise ConfigError(f"email.password_env: {email.password_env!r} is not an environment "
                          f"variable name; use e.g. \"DIGEST_SMTP_PASSWORD\"")
    _check_template("email.subject", email.subject, SUBJECT_FIELDS)
    _check_template("email.unsubscribe", email.unsubscribe, UNSUBSCRIBE_FIELDS)
    if email.unsubscribe and not email.unsubscribe.startswith(("mailto:", "https://",
                                                               "http://")):
        raise ConfigError(f"email.unsubscribe: {email.unsubscribe!r} must be a mailto: or "
                          f"https:// URL, e.g. \"mailto:editor@example.org?subject=unsubscribe\"")
    seen: set[str] = set()
    for i, sub in enumerate(config.subscribers):
        if sub.email.lower() in seen:
            raise ConfigError(f"subscribers[{i}].email: {sub.email!r} is listed twice; keep one "
                              f"[[subscribers]] block per address")
        seen.add(sub.email.lower())
    if email.ca_file is not None and not email.ca_file.is_file():
        raise ConfigError(f"email.ca_file: file {str(email.ca_file)!r} does not exist; "
                          f"point it at a PEM bundle or remove the key")


def default_config_path() -> Path:
    return Path(os.environ.get(CONFIG_ENV) or "config.toml")


def load_config(path: Path | None = None, *, must_exist: bool = False) -> Config:
    """Read config.toml (or defaults when it is absent and not required)."""
    path = Path(path) if path is not None else default_config_path()
    if path.is_file():
        try:
            with path.open("rb") as fh:
                raw = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc}); fix the syntax there") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from None
        base = path.resolve().parent
    elif must_exist or path != Path("config.toml"):
        raise ConfigError(f"{path}: config file not found; pass --config FILE or create it "
                          f"(the project's config.toml is a commented example)")
    else:
        raw, base = {}, Path.cwd()
    try:
        config = _build(Config, raw, "")
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    paths = config.paths
    state = Path(os.environ[HOME_ENV]) if os.environ.get(HOME_ENV) else paths.state
    paths = PathsConfig(
        inbox=_resolve(paths.inbox, base), archive=_resolve(paths.archive, base),
        failed=_resolve(paths.failed, base), output=_resolve(paths.output, base),
        state=_resolve(state, base), templates=_resolve(paths.templates, base))
    text = dataclasses.replace(config.text, user_dict=_resolve(config.text.user_dict, base),
                               stopwords=_resolve(config.text.stopwords, base))
    email = dataclasses.replace(config.email, ca_file=_resolve(config.email.ca_file, base))
    config = dataclasses.replace(config, paths=paths, text=text, email=email, source=path)
    try:
        _check(config)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return config
