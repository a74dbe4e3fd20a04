import stat
from pathlib import Path

import pytest
from fakeserver import OBSERVER_TOKEN, FakeServer
from obsclient.cli import main
from obsclient.config import load_config


def init_config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "obsclient.yaml"
    assert (
        main(
            [
                "-c",
                str(path),
                "init",
                "--url",
                url,
                "--name",
                "Backyard 8in",
                "--latitude",
                "34.05",
                "--longitude",
                "-118.24",
                "--elevation",
                "100",
                "--timezone",
                "America/Los_Angeles",
            ]
        )
        == 0
    )
    return path


def test_register_stores_the_key_privately_and_the_site_id_in_the_config(
    tmp_path: Path, fake_server: FakeServer
) -> None:
    path = init_config(tmp_path, fake_server.url)
    assert main(["-c", str(path), "register", "--token", OBSERVER_TOKEN]) == 0

    [sent] = fake_server.registered
    assert sent["name"] == "Backyard 8in" and sent["latitude"] == 34.05 and sent["longitude"] == -118.24
    assert sent["timezone"] == "America/Los_Angeles" and sent["filters"] == ["V", "R", "Clear"]
    key_file = tmp_path / "site.key"
    assert key_file.read_text().strip() == fake_server.site_key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    text = path.read_text()
    assert f"  site_id: {fake_server.site_id}\n" in text
    assert "# obsclient configuration" in text  # comments survive
    config = load_config(path)
    assert config.site.site_id == fake_server.site_id and config.api_key_value() == fake_server.site_key

    # A second registration would make a duplicate site: refused.
    assert main(["-c", str(path), "register", "--token", OBSERVER_TOKEN]) == 1
    assert len(fake_server.registered) == 1


def test_register_with_a_wrong_token_says_why(
    tmp_path: Path, fake_server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    path = init_config(tmp_path, fake_server.url)
    assert main(["-c", str(path), "register", "--token", "wrong"]) == 1
    assert "registration failed" in capsys.readouterr().err
    assert "site_id: " not in path.read_text().replace("# site_id: ", "")
    assert not (tmp_path / "site.key").exists()


def test_register_without_a_token_is_a_config_error(
    tmp_path: Path, fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OBSCLIENT_OBSERVER_TOKEN", raising=False)
    path = init_config(tmp_path, fake_server.url)
    assert main(["-c", str(path), "register"]) == 2
    assert "needs your personal API token" in capsys.readouterr().err


def test_check_fails_clearly_when_the_server_is_down(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = init_config(tmp_path, "http://127.0.0.1:9")
    assert main(["-c", str(path), "check"]) == 1
    out = capsys.readouterr().out
    assert "FAIL server" in out and "FAIL site key" in out and "no key; run `obsclient register`" in out
    assert "ok   camera" in out and "ok   disk" in out


def test_run_before_register_is_a_config_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = init_config(tmp_path, "http://127.0.0.1:9")
    assert main(["-c", str(path), "run", "--once"]) == 2
    assert "run `obsclient register` first" in capsys.readouterr().err


def test_register_adds_the_site_id_to_a_config_that_has_no_such_line(tmp_path: Path, fake_server: FakeServer) -> None:
    from conftest import write_config

    path = write_config(tmp_path, fake_server.url, **{"server.api_key": None})
    path.write_text("".join(line for line in path.read_text().splitlines(keepends=True) if "site_id" not in line))
    assert main(["-c", str(path), "register", "--token", OBSERVER_TOKEN]) == 0
    assert load_config(path).site.site_id == fake_server.site_id


def test_sigterm_stops_the_loop_cleanly(tmp_path: Path, fake_server: FakeServer) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    from conftest import write_config

    path = write_config(tmp_path, fake_server.url, **{"observing.min_poll_sec": 300})
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent / "src")}
    process = subprocess.Popen(
        [sys.executable, "-m", "obsclient", "-c", str(path), "run"], env=env, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 30
    while not fake_server.heartbeats:  # running, and then idle (no targets), waiting for the next poll
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.1)
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 0
    assert "obsclient: stopped." in err and "Traceback" not in err
