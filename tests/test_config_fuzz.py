"""Fuzzing config.toml: any file is either refused in one line naming a key (exit 2), or
a config that `digest run` over the seeds completes with; never a traceback. And the quick
reader of the rules (config._quick) vouches only for files pydantic turns into the same
Config.

Every example goes through the CLI's own config loading (click's CliRunner, in process,
with `digest parse` of one seed as the cheap command); a sample of the accepted ones then
does a full `digest run --dry-run` over the five seeds, so the suite stays fast.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import shutil
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digest import config as cfg
from digest import deliver
from digest.cli import main
from digest.config import SubscriberConfig, load_config
from digest.ingest import CLAIM_DIR
from digest.schedule import make_scheduler

from .conftest import SEEDS

SEED_FILES = sorted(SEEDS.glob("*.txt"))
FULL_RUNS = 16  # accepted configs that also do a whole run
EXAMPLES = 320

INT_KEYS = [("text", "min_sentence_chars"), ("rank", "sentences"), ("rank", "char_budget"),
            ("rank", "keywords"), ("clustering", "min_size"), ("clustering", "label_keywords"),
            ("dedupe", "shingle"), ("schedule", "scan_seconds"),
            ("schedule", "misfire_grace_seconds"), ("email", "port"),
            ("email", "max_attempts"), ("email", "retry_base_seconds"),
            ("email", "retry_max_seconds"), ("email", "catch_up_weeks")]
FLOAT_KEYS = [("rank", "ratio"), ("clustering", "similarity"), ("dedupe", "similarity"),
              ("schedule", "stable_seconds"), ("email", "timeout_seconds")]
CHOICE_KEYS = {("text", "tokenizer"): ["rjieba", "jieba", "pkuseg", ""],
               ("rank", "mode"): ["default", "textrank4zh", "magic"],
               ("email", "security"): ["starttls", "tls", "none", "ssl"],
               ("schedule", "digest_day"): ["mon", "sun", "Monday", ""],
               ("digest", "timezone"): ["Asia/Shanghai", "UTC", "Mars/Base", "",
                                        "../../etc/passwd", "Europe/London"],
               ("schedule", "digest_time"): ["08:00", "23:59", "24:00", "8", "08:60", ""],
               ("email", "host"): ["localhost", "127.0.0.1", "", "a b", "smtp\r\nX: y"],
               ("email", "sender"): ["digest@localhost", "x", "a@b\nBcc: c@d", "<a@b>"],
               ("email", "password_env"): ["DIGEST_SMTP_PASSWORD", "1X", "", "A-B"],
               ("email", "username"): ["bot", ""],
               ("digest", "base_url"): ["", "https://example.org/d/", "javascript:x",
                                        "/digest", "http://a b"],
               ("digest", "title"): ["每周要闻摘要", "", "\x1b[31m周报", "{title}"]}
TEMPLATE_KEYS = [("email", "subject"), ("email", "unsubscribe")]
PATH_KEYS = [("paths", "inbox"), ("paths", "archive"), ("paths", "failed"),
             ("paths", "output"), ("paths", "state"), ("paths", "templates"),
             ("text", "user_dict"), ("text", "stopwords"), ("email", "ca_file")]
# Relative names live in the example's folder; absolute ones are all refused, so an
# accepted config never writes outside it.
PATHS = ["inbox", "box2", "deep/new/folder", "a-file", "a-file/sub", "~nouser/x", "~", "/",
         "/etc", "/usr/lib/digest", "/proc/self", "", ".", "binary.dat", "words.txt",
         "latin1.txt", "tpl", "nowhere", "x" * 300, "a" * 5000, "/dev/zero", "link-loop"]
FIELDS = ["{title}", "{week}", "{start}", "{end}", "{stories}", "{name}", "{headline}",
          "{email}", "{stories:>5}", "{stories:d}", "{title:d}", "{title:>99999999}",
          "{title:,}", "{headline!r}", "{name!x}", "{0}", "{}", "{title.__class__}",
          "{title[0]}", "{start:%Y}", "{title:{week}}", "{", "}", "{{", "}}"]

ints = st.one_of(st.integers(-5, 400), st.sampled_from(
    [0, 1, -1, 10**6, 2**63 - 1, -(2**63), 10**12]))
floats = st.one_of(st.floats(-2, 2), st.floats(allow_nan=True, allow_infinity=True),
                   st.sampled_from([0.0, 0.5, 1.0, 1e30, 1e308, -1e308]))
short_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=8)
scalars = st.one_of(ints, floats, st.booleans(), short_text)
any_value = st.one_of(scalars, st.lists(scalars, max_size=3),
                      st.dictionaries(st.sampled_from(["a", "name"]), scalars, max_size=2))
templates = st.lists(st.one_of(st.sampled_from(FIELDS), short_text), max_size=4).map("".join)
words = st.lists(st.one_of(st.sampled_from(["会议", "企业", "", " ", "疫情"]), short_text),
                 max_size=3)


def _value_for(section: str, key: str) -> st.SearchStrategy:
    if (section, key) in INT_KEYS:
        return st.one_of(ints, floats, any_value)
    if (section, key) in FLOAT_KEYS:
        return st.one_of(floats, ints, any_value)
    if (section, key) in CHOICE_KEYS:
        return st.one_of(st.sampled_from(CHOICE_KEYS[(section, key)]), any_value)
    if (section, key) in TEMPLATE_KEYS:
        prefix = "mailto:x@example.org?s=" if key == "unsubscribe" else ""
        return st.one_of(templates.map(lambda t: prefix + t), templates, any_value)
    if (section, key) in PATH_KEYS:
        return st.one_of(st.sampled_from(PATHS), any_value)
    if key == "enabled":
        return st.one_of(st.booleans(), any_value)
    return st.one_of(words, any_value)  # schedule.ignore


KEYS = (INT_KEYS + FLOAT_KEYS + list(CHOICE_KEYS) + TEMPLATE_KEYS + PATH_KEYS
        + [("email", "enabled"), ("schedule", "ignore")])

entries = st.sampled_from(KEYS).flatmap(
    lambda sk: _value_for(*sk).map(lambda v: (sk[0], sk[1], v)))
themes = st.lists(st.fixed_dictionaries(
    {"name": st.one_of(st.sampled_from(["经济", "疫情", ""]), short_text), "keywords": words},
    optional={"exclude": words, "weight": ints}), max_size=2)
subscribers = st.lists(st.fixed_dictionaries(
    {"email": st.sampled_from(["a@example.org", "b@example.org", "bad", "a@example.org"])},
    optional={"themes": st.lists(st.sampled_from(["经济", "疫情", "无此"]), max_size=2),
              "name": short_text}), max_size=2)
# Values a careful admin would write, so that many examples are accepted and run.
GOOD = {**{k: st.integers(1, 30) for k in INT_KEYS},
        ("email", "port"): st.sampled_from([25, 465, 587, 2525]),
        ("email", "retry_base_seconds"): st.integers(1, 300),
        ("email", "retry_max_seconds"): st.integers(300, 86_400),
        ("rank", "char_budget"): st.integers(20, 2000),
        ("schedule", "stable_seconds"): st.floats(0, 3),
        **{k: st.floats(0.01, 1) for k in FLOAT_KEYS if k[1] != "stable_seconds"},
        **{k: st.sampled_from(v[:2]) for k, v in CHOICE_KEYS.items()},
        ("email", "subject"): st.lists(st.sampled_from(FIELDS[:10]), min_size=1,
                                       max_size=3).map(" ".join),
        ("email", "unsubscribe"): st.sampled_from(["", "https://example.org/u?e={email}"]),
        ("paths", "output"): st.sampled_from(["box2", "deep/new/folder"]),
        ("paths", "templates"): st.just("tpl"),
        ("text", "user_dict"): st.just("words.txt"),
        ("text", "stopwords"): st.just("words.txt"),
        ("email", "enabled"): st.booleans(),
        ("schedule", "ignore"): st.lists(st.sampled_from(["*.part", ".*", "x*"]), min_size=1)}
good_entries = st.sampled_from(sorted(GOOD)).flatmap(
    lambda sk: GOOD[sk].map(lambda v: (sk[0], sk[1], v)))
good_themes = st.lists(st.fixed_dictionaries(
    {"name": st.sampled_from(["经济", "疫情", "会议"]),
     "keywords": st.lists(st.sampled_from(["会议", "企业", "疫情", "发展"]), min_size=1)}),
    max_size=2, unique_by=lambda t: t["name"])

# Each example: careful values only (often accepted, then run), or careful values plus one
# hostile entry (so each hostile value is met alone as well as in company).
configs = st.one_of(
    st.tuples(st.lists(good_entries, max_size=6), st.none() | good_themes, st.none(),
              st.none()),
    st.tuples(st.tuples(st.lists(good_entries, max_size=3), entries).map(
        lambda pair: [*pair[0], pair[1]]),
        st.none() | themes, st.none() | subscribers,
        st.sampled_from([None, None, None, ("rank", "sentencs"), ("colour", None)])))


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are valid TOML basic-string escapes
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_text(example) -> str:
    entries, theme_list, subscriber_list, unknown = example
    tables: dict[str, dict[str, object]] = {}
    for section, key, value in entries:
        tables.setdefault(section, {})[key] = value
    lines = []
    if unknown == ("colour", None):
        lines.append("colour = 1")
    elif unknown:
        tables.setdefault(unknown[0], {})[unknown[1]] = 3
    for section, table in tables.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {toml_value(value)}" for key, value in table.items()]
    for name, blocks in (("themes", theme_list), ("subscribers", subscriber_list)):
        for block in blocks or ():
            lines.append(f"[[{name}]]")
            lines += [f"{key} = {toml_value(value)}" for key, value in block.items()]
    return "\n".join(lines) + "\n"


def prepare(folder: Path) -> None:
    """The files the path values may name."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a-file").write_text("not a folder", encoding="utf-8")
    (folder / "binary.dat").write_bytes(b"\x00\x01\x02PK\x03\x04" * 50)
    (folder / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    (folder / "words.txt").write_text("东昌府区\n", encoding="utf-8")
    (folder / "tpl").mkdir(exist_ok=True)
    if not (folder / "link-loop").is_symlink():
        (folder / "link-loop").symlink_to("link-loop")


KEY_IN_MESSAGE = re.compile(r"^digest: bad config: \S+config\.toml: ([a-z_]+(\[\d+\])?"
                            r"(\.[a-z_]+(\[\d+\])?)*: |not UTF-8|not valid TOML)")


@pytest.fixture(scope="module")
def runs() -> dict[str, int]:
    counts = {"tried": 0, "refused": 0, "accepted": 0, "full runs": 0}
    yield counts
    print(f"\nconfig fuzz: {counts}")


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(example=configs)
def test_any_config_is_refused_in_one_line_or_runs(tmp_path_factory, monkeypatch, runs,
                                                     example):
    monkeypatch.delenv("DIGEST_HOME", raising=False)  # [paths].state is under test too
    folder = tmp_path_factory.mktemp("cfg")
    prepare(folder)
    path = folder / "config.toml"
    path.write_text(toml_text(example), encoding="utf-8")
    runs["tried"] += 1

    result = CliRunner().invoke(main, ["--config", str(path), "parse", str(SEED_FILES[0])])

    assert result.exception is None or isinstance(result.exception, SystemExit), \
        f"{type(result.exception).__name__}: {result.exception}"
    assert "Traceback" not in result.output
    if result.exit_code == 2:
        runs["refused"] += 1
        assert result.stderr.count("\n") == 1, result.stderr
        assert KEY_IN_MESSAGE.match(result.stderr), result.stderr
        return
    assert result.exit_code == 0, result.output
    runs["accepted"] += 1
    config = load_config(path)
    service_parts_accept(config)
    entries, theme_list, _, _ = example
    ranked = {"text", "rank", "dedupe", "clustering"} & {section for section, _, _ in entries}
    if runs["full runs"] >= FULL_RUNS or not (ranked or theme_list or runs["accepted"] % 4 == 0):
        return
    runs["full runs"] += 1
    full_run(path, config)


@pytest.fixture(scope="module")
def vouched() -> dict[str, int]:
    counts = {"tried": 0, "accepted by pydantic": 0, "vouched for by _quick": 0}
    yield counts
    print(f"\nquick config check: {counts}")
    assert counts["vouched for by _quick"] >= counts["tried"] // 4  # the check is no no-op


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(example=configs)
def test_the_quick_check_vouches_only_for_what_pydantic_makes_the_same(
        tmp_path_factory, monkeypatch, vouched, example):
    """Same examples: whatever _quick accepts, pydantic accepts and makes the same Config
    of (repr: an int where pydantic makes a float would show); pydantic words every error."""
    from pydantic import ValidationError

    monkeypatch.delenv("DIGEST_HOME", raising=False)
    folder = tmp_path_factory.mktemp("quick")
    prepare(folder)
    try:
        raw = tomllib.loads(toml_text(example))
    except tomllib.TOMLDecodeError:
        return  # refused before any validation (a lone surrogate's escape)
    for section in cfg._SECTIONS:  # as load_config does
        raw.setdefault(section, {})
    vouched["tried"] += 1
    quick = cfg.quick_config(raw, folder)
    vouched["vouched for by _quick"] += quick is not None
    try:
        slow = cfg._validator().validate_python(raw, context={"base": folder})
    except ValidationError as exc:
        assert quick is None, f"_quick accepted what pydantic refuses: {exc.errors()[0]}"
        return
    vouched["accepted by pydantic"] += 1
    assert quick is None or repr(quick) == repr(slow)


def service_parts_accept(config) -> None:
    """The parts `digest run` over the seeds does not reach: the mail of a subscriber (subject
    and List-Unsubscribe templates, header values) and the serve scheduler's triggers."""
    letter = deliver.Letter(week="2022-W34", start=dt.date(2022, 8, 22),
                            end=dt.date(2022, 8, 28), text="正文", html="<p>正文</p>",
                            stories=3, headline="标题")
    for subscriber in config.subscribers or [SubscriberConfig("reader@example.org")]:
        msg = deliver.build_message(config, subscriber, letter)
        assert "\n" not in str(msg["Subject"]) and msg["List-Unsubscribe"].startswith("<")
    scheduler = make_scheduler(config, lambda: None)
    for job in scheduler.get_jobs():
        job.trigger.get_next_fire_time(None, dt.datetime.now(config.tz))
    assert deliver.backoff_seconds(config, config.email.max_attempts) >= 0


def full_run(path: Path, config) -> None:
    inbox = Path(config.paths.inbox)
    # A file is taken once it has not changed for stable_seconds: wait that out for small
    # values (and for any value that is not a number at all); claim ahead for the rest.
    drop = inbox if not config.schedule.stable_seconds > 2 else inbox / CLAIM_DIR
    drop.mkdir(parents=True, exist_ok=True)
    for seed in SEED_FILES:
        shutil.copy2(seed, drop / seed.name)
    result = CliRunner().invoke(main, ["--config", str(path), "run", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert sum(line.startswith("ingested: ") for line in result.stdout.splitlines()) == 5, \
        result.output
    assert (Path(config.paths.output) / "feed.xml").is_file()
