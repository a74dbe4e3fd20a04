"""Fuzz every parser: whatever the bytes, only AlertFormatError or UnsupportedMediaType may escape."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.formats import AlertFormatError, UnsupportedMediaType, parse

DATA = Path(__file__).parent / "data"
FUZZ = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None, derandomize=True
)

XML_SAMPLES = [p.read_bytes() for p in sorted((DATA / "voevent").glob("*.xml"))]
JSON_SAMPLES = [p.read_bytes() for p in sorted(DATA.glob("*/*.json"))]
BINARY_SAMPLES = [p.read_bytes() for p in sorted((DATA / "gcn_classic").glob("*.bin"))]
AVRO_SAMPLE = (DATA / "brokers" / "fink_lsst_2records.avro").read_bytes()[:60_000]
CSV_SAMPLES = [
    (DATA / "brokers" / "alerce_ZTF18abbuive_detections.csv").read_bytes()[:3000],
    b"#Name, Date, RaDeg, DecDeg, AlertMag, HistoricMag, HistoricStdDev, Class, Published, Comment, TNSid\n"
    b'Gaia26abc,2026-11-20 04:12:33,150.1,-2.3,17.1,19.2,0.1,"unknown",2026-11-21 10:00:00,"x",AT2026abc\n',
    b'"ID","Name","RA","DEC","Obj. Type","Discovery Mag/Flux","Discovery Filter","Discovery Date (UT)"\n'
    b'"1","AT 2026abc","10:00:24.000","-02:18:00.00","","18.4","r","2026-11-20 04:12:33"\n',
]


def check(body: bytes, content_type: str) -> None:
    try:
        alerts = parse(body, content_type)
    except (AlertFormatError, UnsupportedMediaType) as exc:
        if not str(exc):
            raise AssertionError("error without a message") from exc
        return
    for a in alerts:  # whatever parsed must be usable downstream
        json.dumps(a.to_dict(), allow_nan=False)
        assert a.source and a.external_id
        if a.ra_deg is not None:
            assert 0 <= a.ra_deg < 360 and -90 <= a.dec_deg <= 90
        if a.event_time is not None:
            assert a.event_time.utcoffset() is not None


@st.composite
def mutated(draw, samples: list[bytes]) -> bytes:
    """A real sample truncated, with bytes flipped, or with a random slice spliced in."""
    body = bytearray(draw(st.sampled_from(samples)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["cut", "flip", "insert", "delete"]))
        if not body:
            break
        i = draw(st.integers(0, len(body) - 1))
        if op == "cut":
            body = body[:i]
        elif op == "flip":
            body[i] = draw(st.integers(0, 255))
        elif op == "insert":
            body[i:i] = draw(
                st.binary(max_size=12)
                | st.sampled_from([b"<", b">", b"&", b'"', b"NaN", b"-1e400", b"\x00", b"]]>", b"{", b"}", b",", b":"])
            )
        else:
            body[i : i + draw(st.integers(1, 20))] = b""
    return bytes(body)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.sampled_from([10**400, -(10**400), 2**63, -(2**63) - 1])
    | st.floats(allow_nan=True)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=20,
)


@st.composite
def json_with_swapped_field(draw) -> bytes:
    """A real JSON sample with one field replaced by an arbitrary JSON value (wrong types, wrong shapes)."""
    obj = json.loads(draw(st.sampled_from(JSON_SAMPLES)))
    target = obj[0] if isinstance(obj, list) and obj and isinstance(obj[0], dict) else obj
    if isinstance(target, dict) and target:
        key = draw(st.sampled_from(sorted(target)))
        target[key] = draw(json_values)
    return json.dumps(obj).encode()


@FUZZ
@given(mutated(XML_SAMPLES) | st.binary(max_size=200))
def test_fuzz_voevent(body):
    check(body, "application/xml")


@FUZZ
@given(mutated(JSON_SAMPLES) | json_with_swapped_field() | json_values.map(lambda v: json.dumps(v).encode()))
def test_fuzz_json(body):
    check(body, "application/json")


@FUZZ
@given(mutated([AVRO_SAMPLE]) | st.binary(max_size=300).map(lambda b: b"Obj\x01" + b))
def test_fuzz_avro(body):
    check(body, "avro/binary")


@FUZZ
@given(mutated(BINARY_SAMPLES) | st.binary(min_size=160, max_size=160))
def test_fuzz_gcn_classic(body):
    check(body, "application/octet-stream")


@FUZZ
@given(mutated(CSV_SAMPLES) | st.text(max_size=300).map(str.encode))
def test_fuzz_csv(body):
    check(body, "text/csv")


@FUZZ
@given(st.binary(max_size=100), st.text(max_size=40))
def test_fuzz_any_content_type(body, content_type):
    check(body, content_type)
