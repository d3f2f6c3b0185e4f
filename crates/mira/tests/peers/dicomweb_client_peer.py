#!/usr/bin/env python3
"""Drives mira's DICOMweb service with dicomweb-client (PyPI), for mira's integration tests.

Stores FILEs with STOW-RS, finds them with QIDO-RS, retrieves them with WADO-RS, and checks
each answer against the files themselves. Prints one JSON object per check on stdout:

    {"check": "store_instances", "ok": true, ...}

and exits 0 when every check passed, 1 when one failed, 2 when the client raised.
"""

import argparse
import json
import sys

import pydicom
from dicomweb_client.api import DICOMwebClient

failures = 0


def check(name, ok, **details):
    global failures
    if not ok:
        failures += 1
    sys.stdout.write(json.dumps({"check": name, "ok": bool(ok), **details}) + "\n")
    sys.stdout.flush()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", help="bearer token for mira")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()

    originals = [pydicom.dcmread(f) for f in args.files]
    by_sop = {d.SOPInstanceUID: d for d in originals}
    study = originals[0].StudyInstanceUID
    series = originals[0].SeriesInstanceUID
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else None
    client = DICOMwebClient(url=args.url, headers=headers)

    # STOW-RS
    report = client.store_instances(datasets=originals)
    referenced = [item.ReferencedSOPInstanceUID for item in report.get("ReferencedSOPSequence", [])]
    failed = report.get("FailedSOPSequence", [])
    check(
        "store_instances",
        sorted(referenced) == sorted(by_sop) and len(failed) == 0,
        referenced=len(referenced),
        failed=len(failed),
    )

    # QIDO-RS
    name = str(originals[0].PatientName)
    studies = client.search_for_studies(search_filters={"PatientName": name[:3] + "*"})
    uids = [s["0020000D"]["Value"][0] for s in studies]
    check("search_for_studies", uids == [study], found=len(uids))
    paged = client.search_for_studies(limit=1, offset=1)
    check("search_for_studies", paged == [], paged=len(paged))
    none = client.search_for_studies(search_filters={"PatientName": "NOBODY*"})
    check("search_for_studies", none == [], none=len(none))

    found_series = client.search_for_series(study_instance_uid=study)
    check(
        "search_for_series",
        [s["0020000E"]["Value"][0] for s in found_series] == [series]
        and found_series[0]["00201209"]["Value"][0] == len(originals),
        found=len(found_series),
    )
    instances = client.search_for_instances(
        study_instance_uid=study,
        series_instance_uid=series,
        fields=["InstanceNumber"],
    )
    check(
        "search_for_instances",
        sorted(i["00080018"]["Value"][0] for i in instances) == sorted(by_sop),
        found=len(instances),
    )
    one = client.search_for_instances(
        search_filters={"SOPInstanceUID": originals[0].SOPInstanceUID}
    )
    check("search_for_instances", len(one) == 1, found=len(one))

    # WADO-RS: the study, each instance's pixel data as sent
    retrieved = client.retrieve_study(study)
    same = len(retrieved) == len(originals)
    for d in retrieved:
        original = by_sop.get(d.SOPInstanceUID)
        same = same and original is not None
        same = same and d.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
        same = same and d.PixelData == original.PixelData
    check("retrieve_study", same, instances=len(retrieved))

    first = originals[0]
    metadata = client.retrieve_instance_metadata(study, series, first.SOPInstanceUID)
    check(
        "retrieve_instance_metadata",
        metadata["00080018"]["Value"][0] == first.SOPInstanceUID
        and metadata["00280010"]["Value"][0] == first.Rows
        and "BulkDataURI" in metadata["7FE00010"],
    )

    # frames of every stored encoding decode to the pixels of the uncompressed original
    reference = next(
        d for d in originals if d.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    )
    for d in originals:
        frames = client.retrieve_instance_frames(study, series, d.SOPInstanceUID, frame_numbers=[1])
        check(
            "retrieve_instance_frames",
            len(frames) == 1
            and len(frames[0]) == d.Rows * d.Columns * d.SamplesPerPixel * d.BitsAllocated // 8
            and frames[0] == reference.PixelData,
            transfer_syntax=str(d.file_meta.TransferSyntaxUID),
        )


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # the test prints this with the rest of the output
        sys.stdout.write(json.dumps({"check": "error", "ok": False, "message": repr(e)}) + "\n")
        sys.exit(2)
    sys.exit(1 if failures else 0)
