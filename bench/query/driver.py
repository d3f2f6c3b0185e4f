#!/usr/bin/env python3
"""bench/query driver: times QIDO-RS, WADO-RS series metadata and C-FIND against the peers.

Called by bench/query/run, which starts the peers; see bench/README.md. Peers are given as
  --peer NAME,HTTP_BASE,DIMSE_HOST:PORT,AE_TITLE
(HTTP_BASE without the trailing /dicom-web). For every query type the peers take turns,
request by request, so that the noise of a shared machine falls on both alike; W warm-up
requests per peer and query type are not recorded. Each request's wall time runs from sending
it to having read the whole answer (QIDO/WADO: the HTTP body; C-FIND: the final response),
over an HTTP connection kept alive; a C-FIND is one run of dcmtk's findscu (association
included). The number of matches of
each answer is recorded next to its time, and compared with what the catalogue says it must be,
so that a fast wrong answer shows.
"""

import argparse
import csv
import http.client
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.parse

# The query types. Each runs its variants round-robin.
NAME_PREFIXES = ["WANG", "ZHANG", "LI", "CHEN", "SMITH", "LUO", "KOWALSKI"]
DATE_RANGES = ["20240101-20240131", "20230601-20230607", "20220101-20221231", "20250301-20250331"]
MODALITIES = ["CT"]

FINDSCU = os.environ.get("FINDSCU", "/usr/bin/findscu")

# What a viewer's study list asks for (PS3.18 Table 10.6.3-3 default study attributes).
CFIND_RETURN_KEYS = [
    "StudyDate", "StudyTime", "AccessionNumber", "ModalitiesInStudy", "ReferringPhysicianName",
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyID",
    "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances",
]


def variants(kind):
    if kind == "name":
        return [("PatientName", f"{p}*") for p in NAME_PREFIXES]
    if kind == "date":
        return [("StudyDate", r) for r in DATE_RANGES]
    if kind == "modality":
        return [("ModalitiesInStudy", m) for m in MODALITIES]
    raise ValueError(kind)


def expected_matches(catalogue, key, value):
    """The number of studies matching, from the mira catalogue with plain SQL (independent of
    mira's query module): the reference every answer is checked against."""
    db = sqlite3.connect(f"file:{catalogue}?mode=ro", uri=True)
    if key == "PatientName":
        # PN matching is case-insensitive in both servers; the prefix is ASCII
        sql = ("SELECT count(*) FROM studies st JOIN patients p ON st.patient_pk = p.id "
               "WHERE upper(p.patient_name) GLOB ?")
        arg = value.upper()
    elif key == "StudyDate":
        lo, hi = value.split("-")
        return db.execute("SELECT count(*) FROM studies WHERE study_date BETWEEN ? AND ?", (lo, hi)).fetchone()[0]
    else:
        sql = ("SELECT count(*) FROM studies st WHERE EXISTS "
               "(SELECT 1 FROM series se WHERE se.study_pk = st.id AND se.modality = ?)")
        arg = value
    return db.execute(sql, (arg,)).fetchone()[0]


class Peer:
    def __init__(self, spec):
        name, base, dimse, aet = spec.split(",")
        self.name, self.base, self.aet = name, base, aet
        u = urllib.parse.urlsplit(base)
        self.http_host, self.http_port = u.hostname, u.port
        self.dimse_host, self.dimse_port = dimse.rsplit(":", 1)
        self.dimse_port = int(self.dimse_port)
        self.conn = None

    def get(self, path):
        """GET base+path on a kept-alive connection: (status, body)."""
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.http_host, self.http_port, timeout=120)
            try:
                self.conn.request("GET", path, headers={"Accept": "application/dicom+json"})
                r = self.conn.getresponse()
                return r.status, r.read()
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def qido_available(self):
        status, _ = self.get("/dicom-web/studies?limit=1")
        return status == 200

    def qido(self, key, value, limit):
        path = "/dicom-web/studies?" + urllib.parse.urlencode({key: value, "limit": str(limit)}, safe="*^")
        t0 = time.perf_counter()
        status, body = self.get(path)
        secs = time.perf_counter() - t0
        n = len(json.loads(body)) if status == 200 and body else 0
        return secs, status, n, len(body)

    def metadata(self, study, series):
        path = f"/dicom-web/studies/{study}/series/{series}/metadata"
        t0 = time.perf_counter()
        status, body = self.get(path)
        secs = time.perf_counter() - t0
        n = len(json.loads(body)) if status == 200 and body else 0
        return secs, status, n, len(body)

    def cfind(self, key, value):
        """One C-FIND by dcmtk's findscu (a process per query, association included, as a
        worklist client does it); TCP_NODELAY=1 as for the servers. The matches are the
        pending responses; the final status must be success."""
        cmd = [FINDSCU, "-v", "-S", "-aet", "BENCHSCU", "-aec", self.aet, self.dimse_host, str(self.dimse_port),
               "-k", "QueryRetrieveLevel=STUDY"]
        for k in CFIND_RETURN_KEYS:
            cmd += ["-k", k if k != key else f"{k}={value}"]
        t0 = time.perf_counter()
        r = subprocess.run(cmd, env={**os.environ, "TCP_NODELAY": "1"}, capture_output=True, text=True)
        secs = time.perf_counter() - t0
        log = r.stdout + r.stderr
        n = sum(1 for line in log.splitlines() if "Find Response:" in line and "(Pending)" in line)
        final = "0000" if r.returncode == 0 and "(Success)" in log else f"rc{r.returncode}"
        return secs, final, n, 0

    def close(self):
        if self.conn is not None:
            self.conn.close()


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--peer", action="append", required=True)
    ap.add_argument("--catalogue", required=True, help="mira's catalogue.sqlite, for the expected counts")
    ap.add_argument("-n", type=int, default=200, help="recorded requests per peer and query type")
    ap.add_argument("-w", type=int, default=20, help="warm-up requests per peer and query type")
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--protocols", default="qido metadata cfind")
    ap.add_argument("--cfind-n", type=int, default=None, help="recorded C-FINDs (default: n)")
    ap.add_argument("--metadata-n", type=int, default=None, help="recorded metadata requests (default: n/10)")
    ap.add_argument("--metadata-series", default="", help="STUDY_UID/SERIES_UID of the metadata series")
    ap.add_argument("--csv", required=True)
    args = ap.parse_args()

    peers = [Peer(s) for s in args.peer]
    protocols = args.protocols.split()
    out = open(args.csv, "w", newline="")
    w = csv.writer(out)
    w.writerow(["utc", "protocol", "query_type", "query", "peer", "rep", "status", "matches", "expected",
                "bytes", "seconds"])
    notes = []

    expected = {}
    for kind in ("name", "date", "modality"):
        for key, value in variants(kind):
            expected[(key, value)] = expected_matches(args.catalogue, key, value)

    def run(protocol, kind, items, call, n, warm, expect):
        for p in peers:
            for i in range(warm):
                call(p, items[i % len(items)])
        for rep in range(n):
            item = items[rep % len(items)]
            for p in (peers if rep % 2 == 0 else list(reversed(peers))):
                secs, status, matches, nbytes = call(p, item)
                w.writerow([time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), protocol, kind,
                            "=".join(item) if isinstance(item, tuple) else item, p.name, rep + 1, status,
                            matches, expect(item), nbytes, f"{secs:.6f}"])
        out.flush()

    if "qido" in protocols:
        qpeers = []
        for p in peers:
            if p.qido_available():
                qpeers.append(p)
            else:
                notes.append(f"{p.name}: no QIDO-RS endpoint (GET /dicom-web/studies is not 200): QIDO not measured")
        all_peers, peers = peers, qpeers
        for kind in ("name", "date", "modality"):
            print(f"[driver] QIDO-RS {kind} x{args.n}", file=sys.stderr)
            run("qido", kind, variants(kind), lambda p, kv: p.qido(kv[0], kv[1], args.limit), args.n, args.w,
                lambda kv: min(expected[kv], args.limit))
        peers = all_peers
    if "metadata" in protocols and args.metadata_series:
        study, series = args.metadata_series.split("/")
        mpeers = [p for p in peers if p.get(f"/dicom-web/studies/{study}/series/{series}/metadata")[0] == 200]
        for p in peers:
            if p not in mpeers:
                notes.append(f"{p.name}: series metadata not answered (no WADO-RS endpoint?): not measured")
        all_peers, peers = peers, mpeers
        n = args.metadata_n or max(1, args.n // 10)
        print(f"[driver] WADO-RS series metadata x{n}", file=sys.stderr)
        run("metadata", "series-metadata", [f"{study}/{series}"], lambda p, s: p.metadata(*s.split("/")), n,
            min(args.w, 3), lambda s: None)
        peers = all_peers
    if "cfind" in protocols:
        n = args.cfind_n or args.n
        for kind in ("name", "date", "modality"):
            print(f"[driver] C-FIND {kind} x{n}", file=sys.stderr)
            run("cfind", kind, variants(kind), lambda p, kv: p.cfind(kv[0], kv[1]), n, min(args.w, 5),
                lambda kv: expected[kv])
    for p in peers:
        p.close()
    out.close()
    for n in notes:
        print(f"[driver] note: {n}", file=sys.stderr)
    print(json.dumps({"notes": notes}))


def summarize(path, targets=True):
    rows = list(csv.DictReader(open(path)))
    groups = {}
    for r in rows:
        groups.setdefault((r["protocol"], r["query_type"]), {}).setdefault(r["peer"], []).append(r)
    lines = [f"{'protocol':<9} {'query':<16} {'peer':<8} {'n':>4} {'p50 ms':>9} {'p95 ms':>9} {'mean ms':>9} "
             f"{'matches':>13} {'expected':>13} {'bad':>4}"]
    verdicts = []
    for (proto, kind), by_peer in groups.items():
        stats = {}
        for peer, rs in by_peer.items():
            secs = [float(r["seconds"]) * 1000 for r in rs]
            ok = {"200", "0000"}
            bad = sum(1 for r in rs if r["status"] not in ok
                      or (r["expected"] not in ("", "None") and int(r["matches"]) != int(r["expected"])))
            m = sorted({int(r["matches"]) for r in rs})
            e = sorted({r["expected"] for r in rs if r["expected"] not in ("", "None")}, key=int)
            ms = lambda xs: f"{xs[0]}" if len(xs) == 1 else f"{xs[0]}..{xs[-1]}"
            stats[peer] = (pct(secs, 50), pct(secs, 95))
            lines.append(f"{proto:<9} {kind:<16} {peer:<8} {len(secs):>4} {pct(secs, 50):>9.1f} {pct(secs, 95):>9.1f} "
                         f"{statistics.mean(secs):>9.1f} {ms(m):>13} {ms(e) if e else '-':>13} {bad:>4}")
        if "mira" in stats and "orthanc" in stats:
            (m50, m95), (o50, o95) = stats["mira"], stats["orthanc"]
            verdicts.append(f"{proto} {kind}: Orthanc/mira p50 {o50 / m50:.1f}x, p95 {o95 / m95:.1f}x")
        if targets and "mira" in stats:
            m95 = stats["mira"][1]
            if proto == "qido":
                if "orthanc" in stats:
                    ok = m95 <= 50 and stats["orthanc"][1] >= 5 * m95
                    verdicts.append(f"  target p95 <= 50 ms and >= 5x faster than Orthanc: {'met' if ok else 'MISSED'}")
                else:
                    verdicts.append(f"  target p95 <= 50 ms: {'met' if m95 <= 50 else 'MISSED'} (Orthanc not run: no ratio)")
            if proto == "metadata":
                verdicts.append(f"  target <= 1 s for the series: {'met' if m95 <= 1000 else 'MISSED'} (p95)")
    return "\n".join(lines + [""] + verdicts)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--summarize":
        print(summarize(sys.argv[2]))
    else:
        main()
