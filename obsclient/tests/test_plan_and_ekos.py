import os
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from fakeserver import FakeServer
from obsclient.cli import main

from conftest import write_config


def test_plan_asks_the_server_through_the_night(
    tmp_path: Path, fake_server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_server.add_target(name="WASP-12 b", ra_deg=97.6366, dec_deg=29.6723, altitude_deg=61.2, exposure_sec=60)
    path = write_config(tmp_path, fake_server.url)
    assert main(["-c", str(path), "plan", "--step-min", "120"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Plan for Test site")
    assert "WASP-12 b (alt 61°, R, 60 s)" in out
    ats = [query["at"][0] for query in fake_server.target_queries]
    assert len(ats) == 12 and all(at.endswith("Z") for at in ats)  # 24 h of "night" with the Sun limit at 90°
    assert fake_server.target_queries[0]["site_id"] == [fake_server.site_id]


def test_ekos_plan_then_watch_uploads_each_saved_frame_once(
    tmp_path: Path, fake_server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    target = fake_server.add_target(name="WASP-12 b", ra_deg=97.6366, dec_deg=29.6723, filter="R", exposure_sec=60)
    path = write_config(tmp_path, fake_server.url)
    ekos = tmp_path / "ekos"
    assert main(["-c", str(path), "plan", "--step-min", "120", "--ekos", str(ekos)]) == 0

    schedule = ET.parse(ekos / "network-plan.esl").getroot()
    assert schedule.tag == "SchedulerList"
    jobs = schedule.findall("Job")
    assert [job.findtext("Name") for job in jobs] == ["WASP-12 b"]
    assert float(jobs[0].findtext("Coordinates/J2000RA")) == pytest.approx(97.6366 / 15, abs=1e-6)
    assert float(jobs[0].findtext("Coordinates/J2000DE")) == pytest.approx(29.6723, abs=1e-6)
    assert jobs[0].find("Constraints/Constraint[.='MinimumAltitude']").get("value") == "20"
    sequence = ET.parse(jobs[0].findtext("Sequence")).getroot()
    assert sequence.tag == "SequenceQueue"
    assert sequence.findtext("Job/Exposure") == "60" and sequence.findtext("Job/Filter") == "R"
    assert sequence.findtext("Job/TargetName") == "WASP-12 b" and int(sequence.findtext("Job/Count")) > 1

    # EKOS saves frames: a light frame of the target, a dark, and a frame of something else.
    def save(name: str, obj: str, kind: str) -> Path:
        frame = ekos / "WASP-12_b" / kind / name
        frame.parent.mkdir(parents=True, exist_ok=True)
        header = fits.Header(
            {"OBJECT": obj, "IMAGETYP": kind, "DATE-OBS": "2026-11-23T06:00:00.500", "EXPTIME": 60.0, "FILTER": "R"}
        )
        fits.PrimaryHDU(np.zeros((32, 32), dtype=np.uint16), header=header).writeto(frame)
        os.utime(frame, (time.time() - 60, time.time() - 60))
        return frame

    light = save("WASP-12_b_Light_R_60_secs_001.fits", "WASP-12 b", "Light")
    save("dark_001.fits", "WASP-12 b", "Dark")
    save("m31_001.fits", "M 31", "Light")
    capsys.readouterr()
    assert main(["-c", str(path), "watch", str(ekos), "--once"]) == 0
    assert "queued 1 new frame(s); uploaded 1" in capsys.readouterr().out
    [observation] = fake_server.observations.values()
    assert observation["target_id"] == target["target_id"]
    assert observation["observed_at"] == "2026-11-23T06:00:30.500Z"  # mid-exposure
    assert observation["filter"] == "R" and observation["exposure_sec"] == 60.0
    assert fake_server.images[observation["observation_id"]]["OBJECT"] == "WASP-12 b"
    assert light.exists()  # EKOS's file is left alone

    posts = len([r for r in fake_server.requests if r[0] == "POST"])
    assert main(["-c", str(path), "watch", str(ekos), "--once"]) == 0
    assert len([r for r in fake_server.requests if r[0] == "POST"]) == posts  # a rescan sends nothing again


def test_watch_without_a_plan_or_folder_says_so(
    tmp_path: Path, fake_server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, fake_server.url)
    assert main(["-c", str(path), "watch", str(tmp_path / "missing"), "--once"]) == 2
    assert "is not one" in capsys.readouterr().err
