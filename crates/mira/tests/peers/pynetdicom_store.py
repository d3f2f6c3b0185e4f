#!/usr/bin/env python3
"""A pynetdicom storage SCU for mira's integration tests.

Opens one association and runs, in this order: an optional C-ECHO, a C-STORE of each FILE
(its data set bytes are streamed from disk as they are, under the SOP Class/Instance UIDs of
its File Meta Information), then the optional synthetic requests. Prints one JSON object per
line on stdout and flushes after each, so that a test reading the stream knows exactly which
requests were acknowledged, and with which status, even if the peer dies in the middle:

    {"op": "echo", "status": 0}
    {"op": "store", "file": "...", "sop_instance_uid": "...", "status": 0}
    {"op": "missing-patient-id", "sop_instance_uid": "...", "status": 49152}
    {"op": "uid-mismatch", "request_uid": "...", "data_set_uid": "...", "status": 49152}
    {"op": "error", "message": "..."}        (association refused/aborted; exit status 2)

A request that got no response is not printed. Exit status 0 when the association was
released normally, 2 otherwise.
"""

import argparse
import json
import os
import struct
import sys
import tempfile

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filereader import read_file_meta_info
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid
from pynetdicom import AE, _config
from pynetdicom.sop_class import Verification

# Send files from disk byte for byte instead of decoding and re-encoding them.
_config.STORE_SEND_CHUNKED_DATASET = True

LONG_VRS = {b"OB", b"OW", b"OF", b"SQ", b"UT", b"UN", b"UC", b"UR", b"OD", b"OL", b"OV", b"SV", b"UV"}


def emit(**fields):
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def meta_end(data):
    """Offset of the first byte after the File Meta Information group."""
    if data[128:132] != b"DICM":
        raise ValueError("not a DICOM PS3.10 file")
    pos = 132
    while pos + 8 <= len(data):
        group, _ = struct.unpack_from("<HH", data, pos)
        if group != 0x0002:
            break
        vr = data[pos + 4 : pos + 6]
        if vr in LONG_VRS:
            (length,) = struct.unpack_from("<I", data, pos + 8)
            pos += 12 + length
        else:
            (length,) = struct.unpack_from("<H", data, pos + 6)
            pos += 8 + length
    return pos


def synthetic(patient_id):
    """A tiny Secondary Capture data set built in memory, with or without Patient ID."""
    ds = Dataset()
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "OT"
    ds.PatientName = "Synthetic^Test"
    if patient_id is not None:
        ds.PatientID = patient_id
    ds.ConversionType = "WSD"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def mismatched_copy(path, workdir, keyword):
    """A copy of `path` whose File Meta Information names another `keyword`
    (MediaStorageSOPInstanceUID or MediaStorageSOPClassUID) than the data set does. pynetdicom
    takes the request's Affected SOP Class/Instance UID from the meta information, so the data
    set then contradicts the request. The last digit is changed, so lengths stay as they are;
    a class UID becomes CT Image Storage (...1.1.2), or MR Image Storage (...1.1.4) if it was
    CT. Returns (copy, UID in the request, UID in the data set)."""
    with open(path, "rb") as f:
        data = f.read()
    end = meta_end(data)
    uid = str(getattr(read_file_meta_info(path), keyword)).encode()
    if keyword == "MediaStorageSOPClassUID":
        other = uid[:-1] + (b"2" if uid[-1:] != b"2" else b"4")
    else:
        other = uid[:-1] + (b"1" if uid[-1:] != b"1" else b"2")
    head = data[:end]
    assert head.count(uid) == 1, f"{keyword} not found once in the meta group"
    out = os.path.join(workdir, f"mismatch-{keyword}.dcm")
    with open(out, "wb") as f:
        f.write(head.replace(uid, other) + data[end:])
    return out, other.decode(), uid.decode()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--aet", default="PYNETDICOM", help="calling AE title")
    parser.add_argument("--aec", default="MIRA", help="called AE title")
    parser.add_argument("--echo", action="store_true", help="send a C-ECHO first")
    parser.add_argument(
        "--synthetic",
        action="store_true",
        help="also store two data sets built in memory: one complete (control), one without PatientID",
    )
    parser.add_argument(
        "--uid-mismatch",
        metavar="FILE",
        help="also store FILE's data set under another Affected SOP Instance UID",
    )
    parser.add_argument(
        "--class-mismatch",
        metavar="FILE",
        help="also store FILE's data set under another Affected SOP Class UID",
    )
    parser.add_argument("files", nargs="*", help="PS3.10 files to store as they are")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mira-pynetdicom-") as workdir:
        return run(args, workdir)


def run(args, workdir):
    ae = AE(ae_title=args.aet)
    ae.acse_timeout = 30
    ae.dimse_timeout = 60
    ae.network_timeout = 60
    contexts = set()
    if args.echo:
        contexts.add((Verification, None))
    metas = {}
    for path in args.files:
        meta = read_file_meta_info(path)
        metas[path] = meta
        contexts.add((meta.MediaStorageSOPClassUID, meta.TransferSyntaxUID))
    mismatches = []
    if args.uid_mismatch:
        mismatches.append(("uid-mismatch", "MediaStorageSOPInstanceUID", args.uid_mismatch))
    if args.class_mismatch:
        mismatches.append(("class-mismatch", "MediaStorageSOPClassUID", args.class_mismatch))
    for n, (op, keyword, path) in enumerate(mismatches):
        copy, requested, in_data_set = mismatched_copy(path, workdir, keyword)
        mismatches[n] = (op, copy, requested, in_data_set)
        meta = read_file_meta_info(copy)
        contexts.add((meta.MediaStorageSOPClassUID, meta.TransferSyntaxUID))
    if args.synthetic:
        contexts.add((SecondaryCaptureImageStorage, ExplicitVRLittleEndian))
    if len(contexts) > 128:
        emit(op="error", message="more than 128 presentation contexts needed")
        return 2
    for sop_class, ts in sorted(contexts, key=str):
        if ts is None:
            ae.add_requested_context(sop_class)
        else:
            ae.add_requested_context(sop_class, [ts])

    assoc = ae.associate(args.host, args.port, ae_title=args.aec)
    if not assoc.is_established:
        emit(op="error", message="association rejected or aborted" if assoc.is_rejected or assoc.is_aborted else "association failed")
        return 2

    def store(op, dataset, **extra):
        status = assoc.send_c_store(dataset)
        if "Status" not in status:
            # no response: the peer went away (or the DIMSE timeout expired)
            raise ConnectionError(f"no response to {op}")
        emit(op=op, status=int(status.Status), **extra)

    try:
        if args.echo:
            status = assoc.send_c_echo()
            if "Status" not in status:
                raise ConnectionError("no response to C-ECHO")
            emit(op="echo", status=int(status.Status))
        for path in args.files:
            store("store", path, file=path, sop_instance_uid=str(metas[path].MediaStorageSOPInstanceUID))
        if args.synthetic:
            control = synthetic("SYNTH-1")
            store("synthetic-control", control, sop_instance_uid=str(control.SOPInstanceUID))
            missing = synthetic(None)
            store("missing-patient-id", missing, sop_instance_uid=str(missing.SOPInstanceUID))
        for op, copy, requested, in_data_set in mismatches:
            store(op, copy, request_uid=requested, data_set_uid=in_data_set)
    except Exception as e:  # noqa: BLE001 - report whatever ended the association
        emit(op="error", message=f"{type(e).__name__}: {e}")
        if assoc.is_established:
            assoc.abort()
        return 2
    assoc.release()
    return 0


if __name__ == "__main__":
    sys.exit(main())
