#!/usr/bin/env python3
"""A pynetdicom query/retrieve SCU for mira's integration tests (and the Orthanc conformance
suite, which runs the same queries against both archives).

    qr_peer.py find HOST PORT AET QUERIES.json      one JSON line per query:
        {"index": i, "status": final status, "matches": [[unique keys...], ...]}
      QUERIES.json is a list of {"model": "study"|"patient", "level": "STUDY", "keys": {...},
      "return": ["PatientName", ...]} where keys maps keywords to query values; each match
      lists the values of the level's unique keys (and of "return" keywords).
    qr_peer.py cancel HOST PORT AET                 C-FIND at IMAGE level, C-CANCEL after the
        first pending response; prints {"pending": n, "status": final status}
    qr_peer.py get HOST PORT AET OUTDIR LEVEL UID... C-GET; stores received instances as
        OUTDIR/<SOPInstanceUID>.dcm; prints {"status": s, "completed": n, "failed": n,
        "warning": n, "received": n}
    qr_peer.py move HOST PORT AET DEST LEVEL UID... C-MOVE; prints the same (no "received")

    qr_peer.py upload URL FILE...                   POST each file to URL (Orthanc's
        /instances); prints {"stored": n, "failed": n}
    qr_peer.py qido BASE QUERIES.json               the same queries as QIDO-RS searches
        (with Authorization: Bearer $MIRA_TOKEN when set)
        (BASE/studies, /series or /instances; PATIENT level is skipped); one JSON line each:
        {"index": i, "status": HTTP status, "matches": [[unique key], ...]}

The calling AE title is QRPEER, or $QR_PEER_AET.

Exit status 0 when the association was established and released, 2 otherwise.
"""

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

from pydicom.dataset import Dataset
from pynetdicom import AE, StoragePresentationContexts, build_role, evt
from pynetdicom.sop_class import (
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
)

UNIQUE = {
    "PATIENT": ["PatientID"],
    "STUDY": ["StudyInstanceUID"],
    "SERIES": ["SeriesInstanceUID"],
    "IMAGE": ["SOPInstanceUID"],
}


# the calling AE title: QRPEER unless the test says otherwise (site isolation tests)
CALLING_AET = os.environ.get("QR_PEER_AET", "QRPEER")

def emit(**fields):
    sys.stdout.write(json.dumps(fields, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def associate(ae, host, port, aet, **kwargs):
    assoc = ae.associate(host, int(port), ae_title=aet, **kwargs)
    if not assoc.is_established:
        emit(op="error", message="association not established")
        sys.exit(2)
    return assoc


def identifier(level, keys, returned):
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for keyword in UNIQUE[level] + list(returned):
        setattr(ds, keyword, "")
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    if any(isinstance(v, str) and not v.isascii() for v in keys.values()):
        ds.SpecificCharacterSet = "ISO_IR 192"
    return ds


def value_text(ds, keyword):
    value = ds.get(keyword, "")
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return str(value)


def find(host, port, aet, queries_path):
    with open(queries_path, encoding="utf-8") as f:
        queries = json.load(f)
    ae = AE(ae_title=CALLING_AET)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    ae.add_requested_context(PatientRootQueryRetrieveInformationModelFind)
    assoc = associate(ae, host, port, aet)
    for index, q in enumerate(queries):
        model = (
            PatientRootQueryRetrieveInformationModelFind
            if q.get("model") == "patient"
            else StudyRootQueryRetrieveInformationModelFind
        )
        returned = q.get("return", [])
        ds = identifier(q["level"], q.get("keys", {}), returned)
        matches, final = [], None
        for status, found in assoc.send_c_find(ds, model):
            if status is None:
                emit(op="error", message="no response")
                sys.exit(2)
            if status.Status in (0xFF00, 0xFF01) and found is not None:
                matches.append([value_text(found, k) for k in UNIQUE[q["level"]] + returned])
            else:
                final = status.Status
        emit(index=index, status=final, matches=sorted(matches))
    assoc.release()


def cancel(host, port, aet):
    ae = AE(ae_title=CALLING_AET)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    assoc = associate(ae, host, port, aet)
    ds = identifier("IMAGE", {}, [])
    pending, final = 0, None
    responses = assoc.send_c_find(ds, StudyRootQueryRetrieveInformationModelFind, msg_id=7)
    for status, _ in responses:
        if status is None:
            break
        if status.Status in (0xFF00, 0xFF01):
            pending += 1
            if pending == 1:
                assoc.send_c_cancel(7, query_model=StudyRootQueryRetrieveInformationModelFind)
        else:
            final = status.Status
    emit(pending=pending, status=final)
    assoc.release()


def retrieve_identifier(level, uids):
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    keyword = UNIQUE[level][0]
    setattr(ds, keyword, "\\".join(uids))
    return ds


def counts(status):
    def get(keyword):
        return int(getattr(status, keyword, 0) or 0)

    return dict(
        completed=get("NumberOfCompletedSuboperations"),
        failed=get("NumberOfFailedSuboperations"),
        warning=get("NumberOfWarningSuboperations"),
    )


def get(host, port, aet, outdir, level, uids):
    received = []

    def on_store(event):
        ds = event.dataset
        ds.file_meta = event.file_meta
        path = os.path.join(outdir, ds.SOPInstanceUID + ".dcm")
        ds.save_as(path, enforce_file_format=True)
        received.append(path)
        return 0x0000

    ae = AE(ae_title=CALLING_AET)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    ae.add_requested_context(PatientRootQueryRetrieveInformationModelGet)
    roles = []
    for context in StoragePresentationContexts[:120]:
        ae.add_requested_context(context.abstract_syntax)
        roles.append(build_role(context.abstract_syntax, scp_role=True))
    assoc = associate(ae, host, port, aet, ext_neg=roles, evt_handlers=[(evt.EVT_C_STORE, on_store)])
    final = None
    for status, _ in assoc.send_c_get(
        retrieve_identifier(level, uids), StudyRootQueryRetrieveInformationModelGet
    ):
        if status is None:
            emit(op="error", message="no response")
            sys.exit(2)
        if status.Status not in (0xFF00, 0xFF01):
            final = status
    assoc.release()
    emit(status=final.Status, received=len(received), **counts(final))


def move(host, port, aet, dest, level, uids):
    ae = AE(ae_title=CALLING_AET)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
    assoc = associate(ae, host, port, aet)
    final, pendings = None, 0
    for status, _ in assoc.send_c_move(
        retrieve_identifier(level, uids), dest, StudyRootQueryRetrieveInformationModelMove
    ):
        if status is None:
            emit(op="error", message="no response")
            sys.exit(2)
        if status.Status in (0xFF00, 0xFF01):
            pendings += 1
        else:
            final = status
    assoc.release()
    emit(status=final.Status, pending=pendings, **counts(final))


def upload(url, files):
    stored = failed = 0
    for path in files:
        with open(path, "rb") as f:
            body = f.read()
        request = urllib.request.Request(
            url, data=body, headers={"Content-Type": "application/dicom"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                response.read()
                stored += 1
        except (urllib.error.URLError, ConnectionError, OSError):
            # Orthanc refuses what it cannot parse (HTTP 400) or drops the connection
            failed += 1
    emit(stored=stored, failed=failed)


QIDO_RESOURCE = {"STUDY": "studies", "SERIES": "series", "IMAGE": "instances"}
UNIQUE_TAG = {"STUDY": "0020000D", "SERIES": "0020000E", "IMAGE": "00080018"}


def qido(base, queries_path):
    with open(queries_path, encoding="utf-8") as f:
        queries = json.load(f)
    for index, q in enumerate(queries):
        level = q["level"]
        if level not in QIDO_RESOURCE:
            emit(index=index, status=None, matches=None)
            continue
        # PS3.18 8.3.4.1: lists of values are comma-separated in a URL
        params = {k: v.replace("\\", ",") for k, v in q.get("keys", {}).items()}
        params["limit"] = "100000"
        url = base.rstrip("/") + "/" + QIDO_RESOURCE[level] + "?" + urllib.parse.urlencode(params)
        headers = {"Accept": "application/dicom+json"}
        if os.environ.get("MIRA_TOKEN"):
            headers["Authorization"] = "Bearer " + os.environ["MIRA_TOKEN"]
        request = urllib.request.Request(url, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status = response.status
                body = response.read()
        except urllib.error.HTTPError as e:
            emit(index=index, status=e.code, matches=[])
            continue
        results = json.loads(body) if body.strip() else []
        matches = []
        for r in results:
            value = r.get(UNIQUE_TAG[level], {}).get("Value", [""])
            matches.append([value[0]])
        emit(index=index, status=status, matches=sorted(matches))


def main(argv):
    if argv[0] == "upload":
        upload(argv[1], argv[2:])
        return
    if argv[0] == "qido":
        qido(argv[1], argv[2])
        return
    command, host, port, aet, *rest = argv
    if command == "find":
        find(host, port, aet, rest[0])
    elif command == "cancel":
        cancel(host, port, aet)
    elif command == "get":
        get(host, port, aet, rest[0], rest[1], rest[2:])
    elif command == "move":
        move(host, port, aet, rest[0], rest[1], rest[2:])
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main(sys.argv[1:])
