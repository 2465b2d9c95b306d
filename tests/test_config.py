"""A bad config.toml is a clear message naming the key and the fix, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from digest.config import ConfigError, load_config

from .conftest import ROOT, SEEDS


def _write(tmp_path, text):
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_project_config_loads_with_defaults():
    config = load_config(ROOT / "config.toml")
    assert config.digest.timezone == "Asia/Shanghai"
    assert config.paths.output == ROOT / "out"


@pytest.mark.parametrize("text,needle", [
    ("[email]\nhots = 'x'\n", "email.hots: unknown key in [email]; did you mean 'host'?"),
    ("[rank]\nsentences = 'three'\n", "rank.sentences: expected a whole number"),
    ("[text]\ntokenizer = 'pkuseg'\n", "text.tokenizer: 'pkuseg' is not one of jieba, rjieba"),
    ("[paths]\ntemplates = 'nowhere'\n", "paths.templates: folder"),
    ("[digest]\ntimezone = 'Mars/Base'\n", "digest.timezone: unknown time zone"),
    ("[schedule]\ndigest_time = '25:00'\n", "schedule.digest_time"),
    ("colour = 1\n", "colour: unknown key in the top level"),
    ("[rank\n", "not valid TOML"),
])
def test_bad_config_names_key_and_fix(tmp_path, text, needle):
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, text))
    assert needle in str(info.value)


def test_relative_paths_are_relative_to_the_config(tmp_path, monkeypatch):
    monkeypatch.delenv("DIGEST_HOME")
    config = load_config(_write(tmp_path, "[paths]\noutput = 'site'\nstate = 'st'\n"))
    assert config.paths.output == tmp_path / "site"
    assert config.paths.state == tmp_path / "st"


def test_state_folder_env_override(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGEST_HOME", str(tmp_path / "elsewhere"))
    assert load_config(_write(tmp_path, "")).paths.state == tmp_path / "elsewhere"


def test_cli_reports_bad_config_without_traceback(tmp_path):
    path = _write(tmp_path, "[rank]\nmode = 'magic'\n")
    result = subprocess.run([sys.executable, "-m", "digest.cli", "--config", str(path), "parse",
                             str(SEEDS / "000_99462eab35f477a6.txt")],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2
    assert "rank.mode: 'magic' is not one of default, textrank4zh" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_plain_config_is_read_without_pydantic(monkeypatch):
    """The project's config.toml and the defaults are vouched for by the quick reader of the
    rules, so `digest status` does not import pydantic (tests/test_cli_start.py); pydantic
    is asked only about files that quick check is not sure of."""
    import tomllib

    from digest import config as cfg

    monkeypatch.delenv("DIGEST_HOME")
    for raw in ({}, tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))):
        for section in cfg._SECTIONS:
            raw.setdefault(section, {})
        quick = cfg.quick_config(raw, ROOT)
        assert quick is not None
        assert repr(quick) == repr(cfg._validator().validate_python(raw,
                                                                    context={"base": ROOT}))


def test_every_value_has_one_rule_first_in_its_metadata():
    """pydantic builds a Rule's schema afresh from the bare type (Rule.__get_pydantic_core_
    schema__), so metadata before it would be dropped: one Rule a value, first."""
    import dataclasses
    import typing

    from digest import config as cfg

    def check(tp, where):
        if typing.get_origin(tp) is typing.Annotated:
            rules = [i for i, m in enumerate(tp.__metadata__) if isinstance(m, cfg.Rule)]
            assert rules in ([], [0]), where
            return check(tp.__origin__, where)
        for arg in typing.get_args(tp):
            check(arg, where)
        if dataclasses.is_dataclass(tp):
            for f in dataclasses.fields(tp):
                check(f.type, f"{tp.__name__}.{f.name}")

    check(cfg.Config, "Config")
