"""Load and validate config.toml, completely, at load.

The schema is the frozen dataclasses below: their fields are the keys, their annotations the
types *and the rules* (a `Rule` each: strict types, ranges, finite numbers, lengths, checks
such as templates compiled against their fields and paths resolved), their defaults the
defaults. The rest of the program only ever sees the plain frozen dataclasses.
A wrong file never produces a traceback: `ConfigError` names the key, the value and the fix
in one line (`email.hots: unknown key in [email]; did you mean 'host'?`), and the CLI exits
with status 2. Checks that relate two keys (retry_max_seconds >= retry_base_seconds, a
subscriber's themes exist, distinct folders) follow in `_check`.

Two readers of the same rules: pydantic v2 (`Rule.__get_pydantic_core_schema__`), which
decides every doubtful file and words every error, and `_quick`, a walk over the
annotations that only ever says "valid, and this is the Config" or "not sure". Importing
pydantic and building its validator costs about 0.15 s, more than all the rest of
`digest status`; a plain config.toml is valid, so pydantic is imported only for the file
`_quick` cannot vouch for (tests/test_config_fuzz.py checks that both agree).
"""

import dataclasses
import math
import os
import re
import string
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from pydantic import TypeAdapter, ValidationInfo

CONFIG_ENV = "DIGEST_CONFIG"  # path of config.toml
HOME_ENV = "DIGEST_HOME"  # overrides [paths].state (tests run in a temp dir)


class ConfigError(Exception):
    """A config problem, phrased for the person who edits config.toml."""


# -- field rules ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Hint:
    """What a valid value looks like, for error messages ("a whole number from 1 to 100")."""

    text: str


@dataclass(frozen=True)
class Rule:
    """The rules of one value, the first item of its Annotated metadata (one Rule a value).

    strict: only the value's own type (no "3" for 3; for a float, a TOML integer too);
    bounds and lengths as pydantic's Field has them; `checks`: functions run in order on the
    value, each returning it (possibly resolved, like a path) or raising ValueError, and
    taking the validation info (its `.context["base"]`) when they have a second parameter.
    """

    strict: bool = False
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    finite: bool = False
    min_length: int | None = None
    max_length: int | None = None
    checks: tuple[typing.Callable, ...] = ()

    def __get_pydantic_core_schema__(self, source: object, handler) -> object:
        """The same rules in pydantic's terms (Strict, Field, AfterValidator), in this order."""
        from pydantic import AfterValidator, Field, Strict

        limits = {name: getattr(self, name) for name in ("ge", "gt", "le", "min_length",
                                                           "max_length")
                  if getattr(self, name) is not None}
        if self.finite:
            limits["allow_inf_nan"] = False
        metadata = [*([Strict()] if self.strict else []), *([Field(**limits)] if limits else []),
                    *(AfterValidator(check) for check in self.checks)]
        return handler.generate_schema(Annotated[source, *metadata] if metadata else source)


def whole(lo: int, hi: int) -> object:
    return Annotated[int, Rule(strict=True, ge=lo, le=hi),
                     Hint(f"a whole number from {lo} to {hi}")]


def number(lo: float, hi: float, *, above: bool = False) -> object:
    """A finite number in [lo, hi] (or (lo, hi] with `above`); TOML integers are accepted."""
    low = {"gt": lo} if above else {"ge": lo}
    span = f"above {lo:g} and at most {hi:g}" if above else f"from {lo:g} to {hi:g}"
    return Annotated[float, Rule(strict=True, le=hi, finite=True, **low),
                     Hint(f"a number {span}")]


def _words(value: list[str]) -> list[str]:
    for i, word in enumerate(value):
        if not word.strip():
            raise ValueError(f"item {i} is empty; every word must have characters")
    return value


def _name(value: str) -> str:
    if not value.strip():
        raise ValueError(f"{value!r} is blank; give it a name with characters")
    return value


def words(min_items: int | None = None) -> object:
    return Annotated[list[Annotated[str, Rule(strict=True)]],
                     Rule(min_length=min_items, checks=(_words,)),
                     Hint('a list of non-empty strings, e.g. ["word", "other"]')]


Name = Annotated[str, Rule(strict=True, min_length=1, max_length=200, checks=(_name,)),
                 Hint("a non-empty string")]
Words = words()
Flag = Annotated[bool, Rule(strict=True), Hint("true or false")]

# The one-line message of each pydantic error type, where the generic one would not help.
_TYPE_WORDS = {"int_type": "a whole number", "int_parsing": "a whole number",
               "int_from_float": "a whole number", "float_type": "a number",
               "float_parsing": "a number", "bool_type": "true or false",
               "bool_parsing": "true or false", "string_type": "a string",
               "path_type": "a path string", "list_type": "a list"}

# Folders that are the system's, never a place to move or write files. A folder *inside*
# most of them (say /var/lib/digest, /srv/news) is fine; inside these few it is not.
_SYSTEM_FOLDERS = {Path(p) for p in ("/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib",
                                     "/lib32", "/lib64", "/media", "/mnt", "/opt", "/proc",
                                     "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr",
                                     "/var", "/usr/local", "/var/lib", "/var/tmp")}
_SYSTEM_TREES = tuple(Path(p) for p in ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32",
                                        "/lib64", "/proc", "/sbin", "/sys", "/usr/bin",
                                        "/usr/lib", "/usr/sbin"))


def _os_errors_are_values(check: typing.Callable) -> typing.Callable:
    """A path the system refuses to look at (too long, a loop of links) is a bad value too:
    pydantic turns only ValueError into a message, anything else would be a traceback."""
    def wrapped(path: Path, info: "ValidationInfo") -> Path:  # two parameters: gets the info
        try:
            return check(path, info)
        except OSError as exc:
            raise ValueError(f"{_shown(str(path))} cannot be used ({exc.strerror or exc}); "
                             f"give a plain path") from None
    return wrapped


def _expand(path: Path, info: "ValidationInfo") -> Path:
    """`~` and relative paths: relative to the config file's folder."""
    if any(len(os.fsencode(part)) > 255 for part in path.parts) or len(str(path)) > 1024:
        raise ValueError(f"{_shown(str(path))} is too long for a path; give a shorter one")
    if str(path) == ".":  # what Path("") becomes too
        raise ValueError("an empty path or \".\" (the config file's own folder, config.toml and "
                         "all); give a folder name such as \"inbox\"")
    try:
        path = path.expanduser()
    except RuntimeError:
        user = str(path).split("/", 1)[0]
        raise ValueError(f"{str(path)!r}: {user} is not a user on this machine; write the "
                         f"full path instead") from None
    base = (info.context or {}).get("base", Path.cwd())
    return Path(os.path.normpath(path if path.is_absolute() else base / path))


def _work_folder(path: Path, info: "ValidationInfo") -> Path:
    """A folder digest creates and writes into: not a file, not a system folder."""
    path = _expand(path, info)
    real = Path(os.path.realpath(path))
    for candidate in (path, real):
        if (candidate in _SYSTEM_FOLDERS or candidate == Path.home()
                or any(candidate.is_relative_to(tree) for tree in _SYSTEM_TREES)):
            raise ValueError(f"{str(path)!r} is a system folder (or inside one); digest moves "
                             f"and writes files there: give a folder of its own")
    for part in (path, *path.parents):
        if part.is_symlink() and not part.exists():
            raise ValueError(f"{str(part)!r} is a broken symbolic link (or a loop of them); "
                             f"fix or remove it, or name another folder")
    if path.exists() and not path.is_dir():
        raise ValueError(f"{str(path)!r} is a file, not a folder; name a folder (it is created "
                         f"when missing)")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"{str(path)!r} cannot be created: {str(parent)!r} is a file; name a "
                         f"folder elsewhere")
    return path


def _read_folder(path: Path, info: "ValidationInfo") -> Path:
    path = _expand(path, info)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{str(path)!r} is a file, not a folder; name a folder or remove the "
                         f"key")
    if not path.is_dir():
        raise ValueError(f"folder {str(path)!r} does not exist; create it or remove the key")
    return path


def _file(path: Path, info: "ValidationInfo") -> Path:
    path = _expand(path, info)
    if path.exists() and not path.is_file():
        raise ValueError(f"{str(path)!r} is not a regular file; name a file or remove the key")
    if not path.is_file():
        raise ValueError(f"file {str(path)!r} does not exist; create it or remove the key")
    if not os.access(path, os.R_OK):
        raise ValueError(f"file {str(path)!r} cannot be read; fix its permissions")
    return path


_MAX_WORD_FILE = 64 << 20


def _word_file(path: Path, info: "ValidationInfo") -> Path:
    """A word list (user dictionary, stopwords): UTF-8 text, one entry a line."""
    path = _file(path, info)
    if path.stat().st_size > _MAX_WORD_FILE:
        raise ValueError(f"file {str(path)!r} is over 64 MiB; a word list is far smaller")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"file {str(path)!r} is not UTF-8 text (byte 0x{data[exc.start]:02x} "
                         f"at offset {exc.start}); save it as UTF-8") from None
    if re.search("[\x00-\x08\x0e-\x1f\x7f]", text):
        raise ValueError(f"file {str(path)!r} holds control characters: not a text word list; "
                         f"give one word (jieba: `word [freq] [tag]`) per line")
    return path


def _path(check: typing.Callable, hint: str) -> object:
    return Annotated[Path, Rule(checks=(_os_errors_are_values(check),)), Hint(hint)]


WorkFolder = _path(_work_folder, "a folder path")
ReadFolder = _path(_read_folder, "a folder path")
WordFile = _path(_word_file, "a UTF-8 text file path")
PemFile = _path(_file, "a file path")


def _timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {name!r}; use an IANA name such as "
                         f"\"Asia/Shanghai\"") from None
    return name


def _clock(value: str) -> str:
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
        raise ValueError(f"{value!r} is not HH:MM, e.g. \"08:00\"")
    return value


_ADDRESS = re.compile(r"[^\s@<>,;\"'()\[\]\\\x00-\x1f\x7f]+@[^\s@<>,;\"'()\[\]\\\x00-\x1f\x7f]+")


def _address(value: str) -> str:
    if not _ADDRESS.fullmatch(value) or len(value) > 254:
        raise ValueError(f"{value!r} is not a plain address like name@example.org")
    return value


def _host(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9._:\-\[\]]{1,253}", value):
        raise ValueError(f"{value!r} is not a host name or address; use e.g. "
                         f"\"smtp.example.org\" or \"localhost\"")
    return value


def _env_name(value: str) -> str:
    if not value.isidentifier() or not value.isascii():
        raise ValueError(f"{value!r} is not an environment variable name; use e.g. "
                         f"\"DIGEST_SMTP_PASSWORD\"")
    return value


def _link(schemes: tuple[str, ...], example: str, unsafe: str = r"[\s\"'<>\\\x00-\x1f\x7f]"
          ) -> typing.Callable[[str], str]:
    """A check for a URL that goes into pages and mail headers: empty, or starting with one
    of ``schemes`` and holding none of ``unsafe`` (spaces, quotes, brackets, controls)."""
    def check(value: str) -> str:
        if value and (not value.startswith(schemes) or re.search(unsafe, value)):
            raise ValueError(f"{value!r} must start with {' or '.join(schemes)} and hold no "
                             f"spaces, quotes or brackets; use e.g. {example} or leave it "
                             f"empty")
        return value
    return check


_base_url = _link(("https://", "http://", "/"), '"https://example.org/digest/"')
# A mailto: subject may hold an apostrophe; it goes into a header, not an HTML attribute.
_unsubscribe = _link(("mailto:", "https://", "http://"),
                     '"mailto:editor@example.org?subject=unsubscribe"',
                     r"[\s<>\"\\\x00-\x1f\x7f]")


# Placeholders that email.subject / email.unsubscribe may use (see digest/deliver.py), with a
# sample value to compile a template once at load; deliver fills every one in as a string.
SUBJECT_FIELDS = ("title", "week", "start", "end", "stories", "name", "headline")
UNSUBSCRIBE_FIELDS = ("email",)
_SAMPLES = {"title": "每周要闻摘要", "week": "2022-W34", "start": "2022-08-22",
            "end": "2022-08-28", "stories": "12", "name": "编辑部", "headline": "标题",
            "email": "editor@example.org"}
_MAX_WIDTH = 200  # a wider field is a typo, and a huge one exhausts memory at send time


def _template(allowed: tuple[str, ...]) -> typing.Callable[[str], str]:
    def check(template: str) -> str:
        try:
            parts = list(string.Formatter().parse(template))
        except ValueError as exc:
            raise ValueError(f"{template!r} is not a valid template ({exc}); write "
                             f"placeholders as {{week}} and a literal brace as {{{{") from None
        for _, name, spec, _conversion in parts:
            if name is None:
                continue
            if name not in allowed:
                raise ValueError(f"unknown placeholder {{{name}}} in {template!r}; use "
                                 + ", ".join(f"{{{a}}}" for a in allowed))
            if "{" in (spec or "") or any(int(n) > _MAX_WIDTH for n in
                                          re.findall(r"\d+", spec or "")):
                raise ValueError(f"format {{{name}:{spec}}} in {template!r}: widths above "
                                 f"{_MAX_WIDTH} and nested fields are not allowed; write "
                                 f"{{{name}}}")
        try:
            template.format_map(_SAMPLES)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            raise ValueError(f"{template!r} cannot be filled in ({exc}); write placeholders "
                             f"plainly, e.g. {{{allowed[0]}}}") from None
        return template
    return check


def _rule(*checks: typing.Callable, max_length: int | None = None) -> object:
    """A string that `checks` accept."""
    return Annotated[str, Rule(strict=True, max_length=max_length, checks=checks)]


# pydantic's ConfigDict (a plain dict): forbid: an unknown key is an error (with a
# did-you-mean); validate_default: the default paths are resolved and checked like written
# ones. `_quick` does both as well.
_STRICT = {"extra": "forbid", "validate_default": True}


@dataclass(frozen=True)
class PathsConfig:
    __pydantic_config__ = _STRICT
    inbox: WorkFolder = Path("inbox")
    archive: WorkFolder = Path("archive")
    failed: WorkFolder = Path("failed")
    output: WorkFolder = Path("out")
    state: WorkFolder = Path(".digest")
    templates: ReadFolder | None = None  # a folder whose files override templates/


@dataclass(frozen=True)
class TextConfig:
    __pydantic_config__ = _STRICT
    tokenizer: Literal["jieba", "rjieba"] = "rjieba"
    user_dict: WordFile | None = None
    stopwords: WordFile | None = None
    min_sentence_chars: whole(1, 1000) = 6


@dataclass(frozen=True)
class RankConfig:
    __pydantic_config__ = _STRICT
    mode: Literal["default", "textrank4zh"] = "default"
    sentences: whole(1, 100) = 3
    ratio: number(0, 1, above=True) | None = None  # fraction of sentences; overrides `sentences`
    char_budget: whole(1, 100_000) | None = None  # max characters of key sentences; applied last
    keywords: whole(1, 100) = 8


@dataclass(frozen=True)
class ThemeConfig:
    __pydantic_config__ = _STRICT
    name: Name
    keywords: words(min_items=1)
    exclude: Words = field(default_factory=list)


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
    __pydantic_config__ = _STRICT
    similarity: number(0, 1) = 0.2  # least cosine (LSA space) of a story to its group's centre
    min_size: whole(1, 10_000) = 2  # smaller groups go to 其他
    label_keywords: whole(1, 20) = 3
    max_groups: whole(1, 1000) = 15  # themes in a digest, named ones included (>= 2 automatic)
    dimensions: whole(2, 1000) = 100  # LSA dimensions


@dataclass(frozen=True)
class DedupeConfig:
    __pydantic_config__ = _STRICT
    # Jaccard similarity of character shingles for "same story"; 0 would merge everything.
    similarity: number(0, 1, above=True) = 0.5
    shingle: whole(1, 50) = 5


@dataclass(frozen=True)
class DigestConfig:
    __pydantic_config__ = _STRICT
    title: Name = "每周要闻摘要"
    timezone: _rule(_timezone) = "Asia/Shanghai"
    base_url: _rule(_base_url) = ""  # where out/ is published; used for links in feed.xml


@dataclass(frozen=True)
class ScheduleConfig:
    __pydantic_config__ = _STRICT
    scan_seconds: whole(1, 86_400) = 60
    stable_seconds: number(0, 86_400) = 5.0
    digest_day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    digest_time: _rule(_clock) = "08:00"
    misfire_grace_seconds: whole(1, 7 * 86_400) = 6 * 3600
    # Inbox names never taken: files still being written by someone else, and hidden files.
    ignore: Words = field(default_factory=lambda: ["*.part", "*.tmp", "~$*", ".*"])


@dataclass(frozen=True)
class IngestConfig:
    __pydantic_config__ = _STRICT
    workers: whole(0, 1024) = 0  # processes that decode, parse and rank; 0 = one per core


@dataclass(frozen=True)
class EmailConfig:
    __pydantic_config__ = _STRICT
    enabled: Flag = False
    host: _rule(_host) = "localhost"
    port: whole(1, 65_535) = 587
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: Name | None = None
    password_env: _rule(_env_name) = "DIGEST_SMTP_PASSWORD"
    sender: _rule(_address) = "digest@localhost"
    subject: _rule(_template(SUBJECT_FIELDS), max_length=500) = "{title} {week}"
    # mailto: or https: URL for List-Unsubscribe
    unsubscribe: _rule(_unsubscribe, _template(UNSUBSCRIBE_FIELDS), max_length=2000) = ""
    timeout_seconds: number(1, 3600) = 30.0
    max_attempts: whole(1, 1000) = 8
    retry_base_seconds: whole(1, 86_400) = 300
    retry_max_seconds: whole(1, 30 * 86_400) = 6 * 3600  # the backoff doubles up to this
    catch_up_weeks: whole(1, 100_000) = 4  # weeks that ended longer ago are built but not mailed
    ca_file: PemFile | None = None  # extra CA bundle, e.g. for a private relay


@dataclass(frozen=True)
class SubscriberConfig:
    __pydantic_config__ = _STRICT
    email: _rule(_address)
    name: Annotated[str, Rule(strict=True, max_length=200)] = ""
    themes: Words = field(default_factory=list)  # empty: every theme


@dataclass(frozen=True)
class Config:
    __pydantic_config__ = _STRICT
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


_SECTIONS = ("paths", "text", "rank", "digest", "clustering", "dedupe", "schedule", "ingest",
             "email")
_adapter: "TypeAdapter | None" = None


def _validator() -> "TypeAdapter":
    global _adapter
    if _adapter is None:  # built on first use: about 50 ms, and most loads do not need it
        from pydantic import TypeAdapter

        _adapter = TypeAdapter(Config)
    return _adapter


# -- the quick reader of the rules ----------------------------------------------------------

class _Unsure(Exception):
    """`_quick` cannot vouch for a value: pydantic decides, and words any error."""


# Types whose values TOML gives as themselves; a strict one takes no other (bool is no int).
_EXACT = {int: (int,), float: (int, float), bool: (bool,), str: (str,)}


def _quick(tp: object, value: object, info: types.SimpleNamespace) -> object:
    """`value` validated against annotation `tp` as pydantic would (strict types, Literal,
    `X | None`, lists, dataclasses from tables, paths from strings, then the Rule), or
    _Unsure for anything else: a wrong value, a type this walk does not know."""
    rule = Rule()
    if typing.get_origin(tp) is Annotated:
        rules = [item for item in tp.__metadata__ if isinstance(item, Rule)]
        rule = rules[0] if rules else rule
        tp = tp.__origin__
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        arms = [arm for arm in typing.get_args(tp) if arm is not type(None)]
        if rule != Rule() or len(arms) != 1:
            raise _Unsure
        return None if value is None else _quick(arms[0], value, info)
    if origin is Literal:
        if type(value) is not str or value not in typing.get_args(tp):
            raise _Unsure
    elif origin is list:
        if type(value) is not list:
            raise _Unsure
        value = [_quick(typing.get_args(tp)[0], item, info) for item in value]
    elif dataclasses.is_dataclass(tp):
        value = _quick_table(tp, value, info)
    elif tp in _EXACT and rule.strict:
        if type(value) not in _EXACT[tp]:
            raise _Unsure
        value = float(value) if tp is float else value
    elif tp is Path and not rule.strict:
        if type(value) is str:
            value = Path(value)
        elif not isinstance(value, Path):
            raise _Unsure
    else:
        raise _Unsure
    return _quick_rule(rule, value, info)


def _quick_rule(rule: Rule, value: object, info: types.SimpleNamespace) -> object:
    for limit, holds in ((rule.ge, lambda v, n: v >= n), (rule.gt, lambda v, n: v > n),
                         (rule.le, lambda v, n: v <= n)):
        if limit is not None and not holds(value, limit):  # NaN holds none
            raise _Unsure
    if rule.finite and not math.isfinite(value):
        raise _Unsure
    if rule.min_length is not None and len(value) < rule.min_length:
        raise _Unsure
    if rule.max_length is not None and len(value) > rule.max_length:
        raise _Unsure
    for check in rule.checks:
        try:
            value = check(value, info) if check.__code__.co_argcount == 2 else check(value)
        except Exception:  # noqa: BLE001 - whatever it is, pydantic says it the same way
            raise _Unsure from None
    return value


def _quick_table(cls: type, value: object, info: types.SimpleNamespace) -> object:
    if type(value) is cls:  # a default such as DEFAULT_THEMES: pydantic checks it again too
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(cls)}
    if type(value) is not dict:
        raise _Unsure
    fields = dataclasses.fields(cls)
    if not value.keys() <= {f.name for f in fields}:
        raise _Unsure  # an unknown key
    given = {}
    for f in fields:  # validate_default: defaults go through the rules as well
        if f.name in value:
            item = value[f.name]
        elif f.default is not dataclasses.MISSING:
            item = f.default
        elif f.default_factory is not dataclasses.MISSING:
            item = f.default_factory()
        else:
            raise _Unsure  # a required key is missing
        given[f.name] = _quick(f.type, item, info)
    return cls(**given)


def quick_config(raw: dict, base: Path) -> Config | None:
    """`raw` (a parsed config.toml, paths relative to `base`) as the Config pydantic would
    make of it, or None when `_quick` cannot vouch for it."""
    try:  # `info.context`: what the checks read of pydantic's ValidationInfo
        return _quick(Config, raw, types.SimpleNamespace(context={"base": base}))
    except _Unsure:
        return None


# -- error messages -------------------------------------------------------------------------

def _key(loc: tuple) -> str:
    key = ""
    for part in loc:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    return key


def _unwrap(tp: object) -> tuple[object, list]:
    """(the bare type, the Annotated metadata) of an annotation, None stripped."""
    metadata: list = []
    while True:
        if typing.get_origin(tp) is Annotated:
            metadata += list(tp.__metadata__)
            tp = tp.__origin__
        elif typing.get_origin(tp) in (typing.Union, types.UnionType):
            tp = next(a for a in typing.get_args(tp) if a is not type(None))
        else:
            return tp, metadata


def _annotation_at(loc: tuple) -> object:
    """The annotation of the key at `loc` (e.g. ('themes', 0, 'keywords')), or None."""
    tp: object = Config
    for part in loc:
        bare, _ = _unwrap(tp)
        if isinstance(part, int):
            args = typing.get_args(bare)
            if typing.get_origin(bare) is not list or not args:
                return None
            tp = args[0]
        elif dataclasses.is_dataclass(bare):
            hints = typing.get_type_hints(bare, include_extras=True)
            if part not in hints:
                return None
            tp = hints[part]
        else:
            return None
    return tp


def _hint(loc: tuple) -> str:
    tp = _annotation_at(loc)
    if tp is None:
        return ""
    bare, metadata = _unwrap(tp)
    for item in metadata:
        if isinstance(item, Hint):
            return item.text
    if dataclasses.is_dataclass(bare):
        return "a table"
    if typing.get_origin(bare) is list:
        return "a list"
    return ""


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _message(error: dict) -> str:
    loc = tuple(error["loc"])
    kind, value = error["type"], error.get("input")
    key = _key(loc)
    hint = _hint(loc)
    if kind in ("unexpected_keyword_argument", "extra_forbidden"):
        owner = _unwrap(_annotation_at(loc[:-1]))[0]
        fields = [f.name for f in dataclasses.fields(owner) if f.name != "source"]
        import difflib  # errors only

        close = difflib.get_close_matches(str(loc[-1]), fields, n=1)
        did_you_mean = f"did you mean '{close[0]}'? " if close else ""
        where = f"[{_key(loc[:-1])}]" if len(loc) > 1 else "the top level"
        return (f"{key}: unknown key in {where}; {did_you_mean}"
                f"known keys: {', '.join(sorted(fields))}")
    if kind in ("missing", "missing_argument"):
        return f"{key}: required key is missing; add {loc[-1]} = ..."
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", error.get("ctx", {}).get("expected", ""))
        return f"{key}: {_shown(value)} is not one of {', '.join(choices)}"
    blocks = loc[0] in ("themes", "subscribers") and len(loc) <= 2
    if kind in ("dataclass_type", "dict_type", "model_type", "dataclass_args_type"):
        table = f"[[{loc[0]}]] block" if blocks else f"[{key}]"
        return f"{key}: expected a table ({table}), got {_shown(value)}"
    if kind == "list_type":
        how = (f"write each as a [[{loc[0]}]] block" if blocks
               else "write it as [\"...\", \"...\"]")
        return f"{key}: expected {hint or 'a list'}, got {_shown(value)}; {how}"
    if kind in _TYPE_WORDS:
        return f"{key}: expected {_TYPE_WORDS[kind]}, got {_shown(value)}" + (
            f"; use {hint}" if hint and hint != "a string" else "")
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal",
                "finite_number"):
        return f"{key}: {_shown(value)} is out of range; use {hint or 'a smaller number'}"
    if kind == "too_short":
        return f"{key}: must not be empty; give at least one item"
    if kind == "too_long":
        return f"{key}: has too many items; shorten it"
    if kind in ("string_too_short",):
        return f"{key}: must not be empty; use {hint or 'a non-empty string'}"
    if kind in ("string_too_long",):
        limit = error.get("ctx", {}).get("max_length")
        return f"{key}: {_shown(value)} is too long; use at most {limit} characters"
    if kind in ("value_error", "assertion_error"):
        return f"{key}: {error.get('ctx', {}).get('error', error['msg'])}"
    return f"{key}: {_shown(value)}: {error['msg']}" + (f"; use {hint}" if hint else "")


# -- checks across keys ---------------------------------------------------------------------

def _check(config: Config) -> None:
    email = config.email
    if email.retry_max_seconds < email.retry_base_seconds:
        raise ConfigError(f"email.retry_max_seconds: {email.retry_max_seconds!r} is too small; "
                          f"use {email.retry_base_seconds} (email.retry_base_seconds) or more")
    paths = config.paths
    moving = {"inbox": paths.inbox, "archive": paths.archive, "failed": paths.failed}
    for key, folder in moving.items():
        for other_key, other in {**moving, "output": paths.output,
                                 "state": paths.state}.items():
            if key != other_key and Path(os.path.realpath(folder)) == Path(
                    os.path.realpath(other)):
                raise ConfigError(f"paths.{key}: {str(folder)!r} is also paths.{other_key}; "
                                  f"give each its own folder")
    names = [t.name for t in config.themes]
    for i, name in enumerate(names):
        if names.index(name) != i:
            raise ConfigError(f"themes[{i}].name: the name {name!r} is used twice; theme names "
                              f"must differ")
    seen: set[str] = set()
    for i, sub in enumerate(config.subscribers):
        if sub.email.lower() in seen:
            raise ConfigError(f"subscribers[{i}].email: {sub.email!r} is listed twice; keep one "
                              f"[[subscribers]] block per address")
        seen.add(sub.email.lower())
        unknown = [t for t in sub.themes if t not in names]
        if unknown:
            raise ConfigError(f"subscribers[{i}].themes: no theme named {unknown[0]!r}; "
                              f"known themes: {', '.join(names)}")


# -- loading --------------------------------------------------------------------------------

def default_config_path() -> Path:
    return Path(os.environ.get(CONFIG_ENV) or "config.toml")


def _read_toml(path: Path) -> dict:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                          f"{exc.start}); save the file as UTF-8") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the syntax there") from None


def load_config(path: Path | None = None, *, must_exist: bool = False) -> Config:
    """Read config.toml (or defaults when it is absent and not required), checked in full."""
    path = Path(path) if path is not None else default_config_path()
    if path.is_file():
        raw = _read_toml(path)
        base = path.resolve().parent
    elif must_exist or path != Path("config.toml"):
        raise ConfigError(f"{path}: config file not found; pass --config FILE or create it "
                          f"(the project's config.toml is a commented example)")
    else:
        raw, base = {}, Path.cwd()
    if "source" in raw:  # a field of ours, not a key
        fields = sorted(f.name for f in dataclasses.fields(Config) if f.name != "source")
        raise ConfigError(f"{path}: source: unknown key in the top level; known keys: "
                          f"{', '.join(fields)}")
    # Absent sections are validated as empty tables, so their default paths are resolved too.
    for section in _SECTIONS:
        raw.setdefault(section, {})
    if os.environ.get(HOME_ENV) and isinstance(raw["paths"], dict):
        raw["paths"] = {**raw["paths"], "state": os.environ[HOME_ENV]}
    config = quick_config(raw, base)
    if config is None:  # an error, or something unusual: pydantic decides and explains
        from pydantic import ValidationError

        try:
            config = _validator().validate_python(raw, context={"base": base})
        except ValidationError as exc:
            error = exc.errors()[0]
            origin = (f" (the value comes from ${HOME_ENV})" if os.environ.get(HOME_ENV)
                      and tuple(error["loc"][:2]) == ("paths", "state") else "")
            raise ConfigError(f"{path}: {_message(error)}{origin}") from None
    config = dataclasses.replace(config, source=path)
    try:
        _check(config)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return config
