"""Benchmark of the photometry pipeline (issue 3): speed on a 2048x2048 frame with ~1,000 stars, beside photutils
defaults and plain sep in the same run; accuracy and error honesty on synthetic frames; agreement with a real
frame's SExtractor catalogue.

    .venv/bin/python bench/bench_photometry.py            # print the tables
    .venv/bin/python bench/bench_photometry.py --write    # and (re)write the "## Photometry (pipeline)" section
                                                          # of bench/RESULTS.md, leaving other sections alone
"""

from __future__ import annotations

import os

# One core, as the goal says: no threaded BLAS/OpenMP anywhere below.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from astropy.utils import iers  # noqa: E402

iers.conf.auto_download = False
iers.conf.auto_max_age = None

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline import synth  # noqa: E402
from pipeline.calibration import MasterFrame, apply_calibration, choose_masters  # noqa: E402
from pipeline.frames import frame_metadata, read_frame  # noqa: E402
from pipeline.reduce import reduce_array, reduce_frame  # noqa: E402

SHARED = Path(os.environ.get("PIPELINE_SHARED_DATA", ROOT.parent / "shared" / "data"))
SECTION = "## Photometry (pipeline)"


def _timeit(fn, repeat: int) -> tuple[float, object]:
    fn()  # warm-up (imports, caches)
    times = []
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), out


def _completeness(x: np.ndarray, y: np.ndarray, truth_x: np.ndarray, truth_y: np.ndarray) -> float:
    from scipy.spatial import cKDTree

    if len(x) == 0:
        return 0.0
    d, _ = cKDTree(np.column_stack([x, y])).query(np.column_stack([truth_x, truth_y]))
    return float(np.mean(d < 1.5))


def bench_speed(repeat: int) -> tuple[list[tuple[str, float, int, float]], dict]:
    frame = synth.synthetic_frame(
        shape=(2048, 2048),
        n_stars=1000,
        seed=1,
        raw=True,
        fwhm_pix=3.0,
        dark_e_per_pix_per_sec=0.05,
        flat_amplitude=0.1,
        mag_range=(11.0, 17.5),
    )
    masters = [
        MasterFrame("bias", frame.bias, "bias"),
        MasterFrame("dark", frame.dark_adu_per_sec * 60.0, "dark-60s", exposure_sec=60.0),
        MasterFrame("flat", frame.flat * 20000.0, "flat-R", filter="R"),
    ]
    fits_bytes = frame.to_fits_bytes()
    tx = np.array([s.x for s in frame.stars])
    ty = np.array([s.y for s in frame.stars])
    target = frame.stars[500]
    comps = [
        {"name": f"C{j}", "ra_deg": s.ra_deg, "dec_deg": s.dec_deg, "magnitudes": {"R": s.mag}}
        for j, s in enumerate(frame.stars)
        if 12.0 < s.mag < 14.0
    ][:15]
    rows = []

    def ours_bytes():
        return reduce_frame(
            fits_bytes,
            target_ra_deg=target.ra_deg,
            target_dec_deg=target.dec_deg,
            comparison_stars=comps,
            masters=masters,
            measure_all=True,
            allow_solve=False,
        )

    t, res = _timeit(ours_bytes, repeat)
    rows.append(
        (
            "this pipeline: FITS bytes -> calibrate -> photometry of all stars + target",
            t,
            res.metadata["n_sources"],
            _completeness(np.array([s["x"] for s in res.sources]), np.array([s["y"] for s in res.sources]), tx, ty),
        )
    )
    breakdown = res.timings_sec

    data, header = read_frame(fits_bytes)
    meta = frame_metadata(header, target_ra_deg=target.ra_deg, target_dec_deg=target.dec_deg)

    def ours_array():
        return reduce_array(
            data,
            header,
            target_ra_deg=target.ra_deg,
            target_dec_deg=target.dec_deg,
            comparison_stars=comps,
            masters=masters,
            measure_all=True,
            allow_solve=False,
            metadata=meta,
        )

    t, res2 = _timeit(ours_array, repeat)
    rows.append(("this pipeline: same, pixels already in memory", t, res2.metadata["n_sources"], rows[0][3]))

    choice = choose_masters(masters, shape=data.shape, filter_name="R", exposure_sec=60.0)
    calibrated = apply_calibration(data, choice, exposure_sec=60.0)

    def photutils_defaults():
        from astropy.stats import SigmaClip
        from photutils.aperture import CircularAperture, aperture_photometry
        from photutils.background import Background2D, MedianBackground
        from photutils.detection import DAOStarFinder

        bkg = Background2D(
            calibrated, (64, 64), filter_size=(3, 3), sigma_clip=SigmaClip(sigma=3.0), bkg_estimator=MedianBackground()
        )
        sub = calibrated - bkg.background
        found = DAOStarFinder(fwhm=3.0, threshold=5.0 * bkg.background_rms_median)(sub)
        if found is None:
            return np.array([]), np.array([])
        pos = np.column_stack([found["xcentroid"], found["ycentroid"]])
        aperture_photometry(sub, CircularAperture(pos, r=4.5))
        return pos[:, 0], pos[:, 1]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t, (px, py) = _timeit(photutils_defaults, max(2, repeat // 2))
    rows.append(
        (
            "photutils defaults: Background2D + DAOStarFinder + aperture_photometry",
            t,
            len(px),
            _completeness(px, py, tx, ty),
        )
    )

    def plain_sep():
        import sep

        d = np.ascontiguousarray(calibrated, dtype=np.float32)
        bkg = sep.Background(d)
        sub = d - bkg.back()
        objs = sep.extract(sub, 5.0, err=bkg.globalrms)
        sep.sum_circle(sub, objs["x"], objs["y"], 4.5, err=bkg.globalrms)
        return objs

    t, objs = _timeit(plain_sep, repeat)
    rows.append(
        ("plain sep: Background + extract + sum_circle", t, len(objs), _completeness(objs["x"], objs["y"], tx, ty))
    )
    return rows, breakdown


def bench_accuracy(n_frames: int) -> dict[str, float]:
    shape = (320, 320)
    x, y, m = synth.make_star_field(np.random.default_rng(42), shape, 32, mag_range=(11.0, 16.0), min_separation_pix=14)
    i = int(np.argmin(np.hypot(x - shape[1] / 2, y - shape[0] / 2)))
    rng = np.random.default_rng(3)
    out = {}
    for label, target_mag in (("SNR~170", 13.5), ("SNR~100", 14.2)):
        m2 = m.copy()
        m2[i] = target_mag
        delta, err, snr, n_comp = [], [], [], []
        meta = None
        for k in range(n_frames):
            f = synth.synthetic_frame(
                shape=shape,
                stars=(x, y, m2),
                seed=50_000 + k,
                fwhm_pix=3.0,
                transparency_mag=float(rng.uniform(0, 0.3)),
            )
            t = f.stars[i]
            comps = [
                {"name": f"C{j}", "ra_deg": s.ra_deg, "dec_deg": s.dec_deg, "magnitudes": {"R": s.mag}}
                for j, s in enumerate(f.stars)
                if j != i and s.mag < 14.0
            ]
            meta = meta or frame_metadata(f.header, target_ra_deg=t.ra_deg, target_dec_deg=t.dec_deg)
            p = reduce_array(
                f.data,
                f.header,
                target_ra_deg=t.ra_deg,
                target_dec_deg=t.dec_deg,
                comparison_stars=comps,
                metadata=meta,
            ).photometry
            delta.append(p["magnitude"] - t.mag)
            err.append(p["error"])
            snr.append(p["snr"])
            n_comp.append(len(p["comparison_stars"]))
        d, e = np.array(delta), np.array(err)
        out[label] = {
            "n": n_frames,
            "snr": float(np.median(snr)),
            "bias": float(d.mean()),
            "rms": float(np.sqrt(np.mean(d**2))),
            "within_0.01": float(np.mean(np.abs(d) < 0.01)),
            "median_error": float(np.median(e)),
            "pull_std": float(np.std(d / e)),
            "n_comp": float(np.median(n_comp)),
        }
    return out


def bench_sep_catalogue() -> dict[str, float] | None:
    img = SHARED / "fits_images/sep/sep_image.fits"
    cat_path = SHARED / "fits_images/sep/sep_image.cat"
    if not img.exists():
        return None
    from scipy.spatial import cKDTree

    from pipeline.photometry import aperture_sums, detect_sources, estimate_background

    data, _ = read_frame(img)
    cat = np.loadtxt(cat_path)
    cx, cy, cflux = cat[:, 1] - 1, cat[:, 2] - 1, cat[:, 12]
    out = {"n_catalogue": len(cat)}
    bkg = estimate_background(data, box_pix=64)
    sub = data - bkg.level
    for label, det in (
        (
            "sextractor_settings",
            detect_sources(sub, bkg.global_rms, threshold_sigma=1.5, deblend_cont=1.0, filtered_significance=False),
        ),
        ("pipeline_defaults", detect_sources(sub, bkg.global_rms)),
    ):
        d, j = cKDTree(np.column_stack([det["x"], det["y"]])).query(np.column_stack([cx, cy]))
        ok = d < 1.0
        sums = aperture_sums(sub, bkg, det["x"][j[ok]], det["y"][j[ok]], 5.0, gain_e_per_adu=None)
        ratio = sums.flux_adu / cflux[ok]
        out[label] = {
            "n_detected": len(det),
            "matched": int(ok.sum()),
            "matched_fraction": float(ok.mean()),
            "median_flux_ratio": float(np.median(ratio)),
            "p90_abs_dev": float(np.percentile(np.abs(ratio - 1), 90)),
            "median_pos_offset_pix": float(np.median(d[ok])),
        }
    return out


def render(rows, breakdown, acc, sepcat) -> str:
    lines = [
        SECTION,
        "",
        f"`bench/bench_photometry.py`, {time.strftime('%Y-%m-%d')}, Python {platform.python_version()}, "
        f"{platform.machine()}, one core (BLAS/OpenMP threads = 1), 1-min load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (other jobs share the machine). Medians of repeated runs.",
        "",
        "### Speed: 2048x2048 frame, 1,000 injected stars (raw: bias + dark + flat applied first)",
        "",
        "| method | time (s) | sources | completeness (injected stars found) |",
        "|---|---:|---:|---:|",
    ]
    for name, t, n, comp in rows:
        lines.append(f"| {name} | {t:.3f} | {n} | {comp:.0%} |")
    lines += [
        "",
        "Goal <= 0.5 s per frame (>= 100 frames a minute on one core): "
        f"{'met' if rows[0][1] <= 0.5 else 'NOT met'} — {60 / rows[0][1]:.0f} frames/min from FITS bytes.",
        "Where the time goes (pipeline, from FITS bytes): "
        + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in breakdown.items())
        + ".",
        "",
        "### Accuracy on synthetic frames (clouds: transparency uniform in 0-0.3 mag; catalogue comparison stars)",
        "",
        "| target | frames | comparison stars | median SNR | bias (mag) | rms (measured-true) | within 0.01 mag "
        "| median reported error | std of (measured-true)/error |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, a in acc.items():
        lines.append(
            f"| {label} | {a['n']} | {a['n_comp']:.0f} | {a['snr']:.0f} | {a['bias']:+.4f} | {a['rms']:.4f} | "
            f"{a['within_0.01']:.0%} | {a['median_error']:.4f} | {a['pull_std']:.2f} |"
        )
    lines += [
        "",
        "Goals: recovered within 0.01 mag for SNR > 100 (read as: no bias and rms < 0.01 — single "
        "points scatter by their own 1-sigma error, ~0.011 mag at SNR 100), error honesty 0.8-1.2.",
        "",
    ]
    if sepcat:
        lines += [
            "### Real frame: sep_image.fits vs its SExtractor catalogue (65 sources, FLUX_APER r = 5 px)",
            "",
            "| detection | detected | matched (< 1 px) | matched fraction | median flux ratio | 90% of "
            "ratios within | median offset (px) |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for label in ("sextractor_settings", "pipeline_defaults"):
            s = sepcat[label]
            lines.append(
                f"| {label.replace('_', ' ')} | {s['n_detected']} | {s['matched']}/{sepcat['n_catalogue']}"
                f" | {s['matched_fraction']:.0%} | {s['median_flux_ratio']:.5f} | "
                f"±{s['p90_abs_dev']:.2%} | {s['median_pos_offset_pix']:.3f} |"
            )
        lines += [
            "",
            "SExtractor settings = DETECT_THRESH 1.5, deblending off, 64 px background mesh (how the "
            "catalogue was made); pipeline defaults = 5 sigma significance in the filtered image, deblending "
            "on, which keeps the brighter sources. "
            "Flux differences come from exact pixel overlap (ours) vs SExtractor's 5x5 sub-sampling.",
            "",
        ]
    else:
        lines += ["(sep_image.fits not found in ../shared/data: catalogue comparison skipped)", ""]
    return "\n".join(lines)


def write_section(text: str) -> None:
    path = ROOT / "bench" / "RESULTS.md"
    old = path.read_text() if path.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    new = pattern.sub(lambda _: text + "\n", old) if pattern.search(old) else old.rstrip("\n") + "\n\n" + text + "\n"
    # Keep one blank line before the section, whatever precedes it.
    new = re.sub(rf"\n*^{re.escape(SECTION)}$", "\n\n" + SECTION, new, count=1, flags=re.M)
    path.write_text(new)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--write", action="store_true", help="update bench/RESULTS.md")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--frames", type=int, default=200, help="synthetic frames per accuracy case")
    args = ap.parse_args()
    rows, breakdown = bench_speed(args.repeat)
    acc = bench_accuracy(args.frames)
    sepcat = bench_sep_catalogue()
    text = render(rows, breakdown, acc, sepcat)
    print(text)
    if args.write:
        write_section(text)


if __name__ == "__main__":
    main()
