from pathlib import Path

import pytest
import yaml
from obsclient.cli import main
from obsclient.config import ConfigError, load_config, parse_config, render_template

from conftest import write_config


def test_template_written_by_init_is_valid_and_documents_every_section(tmp_path: Path) -> None:
    path = tmp_path / "obsclient.yaml"
    assert (
        main(["-c", str(path), "init", "--name", "Backyard 8in", "--latitude", "34.05", "--longitude", "-118.24"]) == 0
    )
    text = path.read_text()
    assert "# obsclient configuration" in text
    config = load_config(path)
    assert config.site.name == "Backyard 8in"
    assert config.site.latitude == pytest.approx(34.05)
    assert config.driver.kind == "simulator"
    assert config.data_dir == tmp_path / "data"
    assert config.server.api_key_file == tmp_path / "site.key"


def test_init_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "obsclient.yaml"
    path.write_text("keep me")
    assert main(["-c", str(path), "init"]) == 1
    assert path.read_text() == "keep me"
    assert "already exists" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"site.latitude": "north"}, "site.latitude must be a number between -90 and 90, got 'north'."),
        ({"site.latitude": 91}, "site.latitude must be a number between -90 and 90, got 91."),
        ({"site.longitude": 200}, "site.longitude must be a number between -180 and 180, got 200."),
        ({"server.url": "ftp://example.org"}, "server.url must be an http:// or https:// address"),
        ({"driver.kind": "ascom"}, "driver.kind must be one of simulator, alpaca, indi, got 'ascom'."),
        ({"driver.alpaca.address": "http://10.0.0.5:11111"}, "driver.alpaca.address must be host:port"),
        ({"driver.alpaca.dome": -1}, "driver.alpaca.dome must be a whole number of at least 0, got -1."),
        ({"site.lattitude": 10}, "site.lattitude is not a known setting (check its spelling)."),
        ({"safety.max_wind_mps": True}, "safety.max_wind_mps must be a number of at least 0, got True."),
        ({"site.horizon": [[0, 20], [90]]}, "site.horizon must be a list of [azimuth_deg, min_altitude_deg] pairs"),
        ({"upload.gzip": "yes"}, "upload.gzip must be true or false, got 'yes'."),
        ({"observing.default_exposure_sec": 900}, "observing.default_exposure_sec must be a number"),
    ],
)
def test_bad_value_is_one_sentence_naming_the_key(tmp_path: Path, override: dict, message: str) -> None:
    path = write_config(tmp_path, "http://127.0.0.1:1", **override)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


def test_missing_required_key_is_named() -> None:
    with pytest.raises(ConfigError, match=r"^site.latitude is required but missing\.$"):
        parse_config({"server": {"url": "http://x"}, "site": {"name": "a", "longitude": 1}})


def test_bad_config_exits_2_with_one_line_and_no_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path, "http://127.0.0.1:1", **{"site.latitude": "north"})
    assert main(["-c", str(path), "status"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "obsclient: site.latitude must be a number between -90 and 90, got 'north'."


def test_invalid_yaml_and_missing_file_are_reported_plainly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("server: [unclosed\n")
    assert main(["-c", str(path), "check"]) == 2
    assert "is not valid YAML" in capsys.readouterr().err
    assert main(["-c", str(tmp_path / "absent.yaml"), "run", "--once"]) == 2
    assert "does not exist (create it with `obsclient init`)" in capsys.readouterr().err


def test_key_file_is_read_when_no_inline_key(tmp_path: Path) -> None:
    path = write_config(
        tmp_path, "http://127.0.0.1:1", **{"server.api_key": None, "server.api_key_file": "secret/site.key"}
    )
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "site.key").write_text("abc\n")
    assert load_config(path).api_key_value() == "abc"


def test_rendered_template_round_trips_through_yaml() -> None:
    data = yaml.safe_load(render_template())
    assert set(data) == {"server", "site", "driver", "observing", "safety", "upload", "data_dir", "log_level"}
