"""The daemon's command line, as an OpenSIPS user runs it: -c, -V, -h, bad options."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "opensipsg", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def test_check_accepts_the_default_config():
    result = run("-c", "-f", "etc/opensipsg.cfg")
    assert result.returncode == 0, result.stderr
    assert "config file ok" in result.stderr


def test_check_names_file_line_and_column_of_a_syntax_error(tmp_path):
    cfg = tmp_path / "broken.cfg"
    cfg.write_text('loadmodule "sl.so"\nroute {\n    sl_send_reply("200", "OK")\n    exit;\n}\n')
    result = run("-c", "-f", str(cfg))
    assert result.returncode != 0
    first = result.stderr.strip().splitlines()[0]
    assert first.startswith(f"{cfg}:4:5: "), result.stderr


def test_check_names_an_unknown_function(tmp_path):
    cfg = tmp_path / "unknown.cfg"
    cfg.write_text('loadmodule "sl.so"\nroute {\n    sl_send_replyy("200", "OK");\n}\n')
    result = run("-c", "-f", str(cfg))
    assert result.returncode != 0
    assert result.stderr.startswith(f"{cfg}:3:5: "), result.stderr
    assert "sl_send_replyy" in result.stderr


def test_check_refuses_numbers_as_module_function_parameters(tmp_path):
    cfg = tmp_path / "numbers.cfg"
    cfg.write_text('loadmodule "sl.so"\nroute {\n    sl_send_reply(404, "Not here");\n}\n')
    result = run("-c", "-f", str(cfg))
    assert result.returncode != 0
    assert f"{cfg}:3:" in result.stderr and "quoted" in result.stderr


def test_check_refuses_a_modparam_of_the_wrong_type(tmp_path):
    cfg = tmp_path / "modparam.cfg"
    cfg.write_text('loadmodule "tm.so"\nmodparam("tm", "fr_timer", "10")\nroute {\n    exit;\n}\n')
    result = run("-c", "-f", str(cfg))
    assert result.returncode != 0
    assert f"{cfg}:2:" in result.stderr


def test_missing_config_file_is_a_clear_error(tmp_path):
    result = run("-c", "-f", str(tmp_path / "none.cfg"))
    assert result.returncode != 0
    assert "none.cfg" in result.stderr and "Traceback" not in result.stderr


def test_version_and_help():
    version = run("-V")
    assert version.returncode == 0 and "opensipsg" in version.stdout
    usage = run("-h")
    assert usage.returncode == 0 and "-f file" in usage.stdout


def test_unknown_option_fails():
    result = run("-Z")
    assert result.returncode != 0 and "Usage" in result.stderr
