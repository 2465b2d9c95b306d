"""Fast start: commands that do not rank must not import the heavy stages' libraries.

Checked on the real command in a fresh interpreter with ``-X importtime``, which lists every
module imported; timings are for `make bench`, not for tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("numba", "numpy", "scipy", "jieba", "rjieba", "llvmlite")


def imported_modules(*args: str, cwd: Path) -> tuple[subprocess.CompletedProcess, set[str]]:
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "digest.cli", *args],
                          capture_output=True, text=True, cwd=cwd, env=os.environ.copy(),
                          timeout=120)
    modules = {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines()
               if line.startswith("import time:") and "|" in line}
    return done, modules


@pytest.mark.parametrize("args", [("--help",), ("--version",), ("status",),
                                  ("summarize", "--help")])
def test_light_commands_do_not_import_numba_numpy_scipy_or_jieba(args, tmp_path):
    done, modules = imported_modules(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "digest.cli" in modules or "click" in modules  # the probe sees imports at all
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert not heavy, f"digest {' '.join(args)} imported {heavy[:5]}"


@pytest.mark.parametrize("args", [("--help",), ("--version",)])
def test_help_and_version_do_not_even_read_the_config(args, tmp_path):
    done, modules = imported_modules(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "digest.config" not in modules and "pydantic" not in modules


def test_status_reads_a_plain_config_without_pydantic(tmp_path):
    """The config is validated in full, but a file that passes the quick reader of the rules
    (digest/config.py: `_quick`) needs no pydantic; nor does status need the stages that
    build, render or mail."""
    config = tmp_path / "config.toml"
    config.write_text((ROOT / "config.toml").read_text(encoding="utf-8"), encoding="utf-8")
    done, modules = imported_modules("--config", str(config), "status", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "digest.config" in modules
    unneeded = sorted(m for m in modules if m.split(".")[0] in ("pydantic", "jinja2", "css_inline")
                      or m in ("digest.pipeline", "digest.render", "digest.parse", "digest.themes"))
    assert not unneeded, unneeded


def test_summarize_does_import_the_ranker(tmp_path, seed_files):
    """The probe can tell: a command that ranks shows numba in the same listing."""
    done, modules = imported_modules("summarize", str(seed_files[0]), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert {"numba", "numpy", "rjieba"} <= modules


def test_summarize_ranks_without_scipy(tmp_path, seed_files):
    """numba is imported with scipy hidden (digest/jit.py: numba only checks its version);
    scipy stays importable afterwards for the stages that use it."""
    probe = ("import sys\n"
             "from digest.cli import main\n"
             "try:\n    main(['summarize', sys.argv[1]])\n"
             "except SystemExit as exc:\n    assert not exc.code, exc.code\n"
             "print('scipy' in sys.modules, 'numba' in sys.modules, file=sys.stderr)\n"
             "import scipy.sparse\n")
    done = subprocess.run([sys.executable, "-c", probe, str(seed_files[0])], capture_output=True,
                          text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr.split()[-2:] == ["False", "True"], done.stderr[-2000:]


def test_version_names_the_package():
    from importlib.metadata import version

    done = subprocess.run([sys.executable, "-m", "digest.cli", "--version"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == f"digest, version {version('digest')}"


def run_entry(code: str, cwd: Path) -> subprocess.CompletedProcess:
    """`code`, then the installed command's entry point (digest.cli:entry) on sys.argv."""
    return subprocess.run([sys.executable, "-c", code + "\nfrom digest.cli import entry\nentry()"],
                          capture_output=True, text=True, cwd=cwd, timeout=120)


def test_quick_exit_flushes_output_runs_exit_hooks_and_keeps_the_status(tmp_path):
    """The command leaves without tearing the interpreter down (digest/cli.py: `leave`), but
    what it printed arrives, exit hooks run, and the status is the command's."""
    hook = ("import atexit, sys\n"
            "atexit.register(lambda: print('hook ran', file=sys.stderr))\n"
            "sys.stdout.write('x' * 100000)\n")  # more than a pipe's buffer, unflushed
    done = run_entry(hook + "sys.argv = ['digest', '--version']", tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("x" * 100000) and "digest, version" in done.stdout
    assert done.stderr.strip().endswith("hook ran")
    (tmp_path / "bad.toml").write_text("[digest\n", encoding="utf-8")
    done = run_entry(hook + "sys.argv = ['digest', '--config', 'bad.toml', 'status']", tmp_path)
    assert done.returncode == 2 and "bad config" in done.stderr and "hook ran" in done.stderr


def test_quick_exit_waits_for_a_thread_still_at_work(tmp_path):
    """With another thread alive, the normal exit, which lets it finish."""
    late = ("import sys, threading, time\n"
            "def finish():\n    time.sleep(0.5)\n    open('done', 'w').close()\n"
            "threading.Thread(target=finish).start()\n"
            "sys.argv = ['digest', '--version']")
    done = run_entry(late, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "done").exists()
