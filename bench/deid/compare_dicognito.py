#!/usr/bin/env python3
"""Second opinion on mira deid: de-identify the same files with dicognito and compare, attribute
by attribute at any sequence depth, what each tool left unchanged and what it touched (removed,
emptied or replaced).

    compare_dicognito.py MIRA_BINARY OUT_DIR FILE_OR_DIR...

Prints one line per attribute where the tools disagree (keyword, how often each touched it, a
verdict) and exits 0; the report's judgement of each difference lives in bench/deid/README.md.
"""
import collections
import os
import subprocess
import sys
import tempfile

import pydicom
from dicognito.anonymizer import Anonymizer


def walk(ds, prefix=""):
    """(path, keyword, value) for every element, sequences flattened with item indices."""
    for elem in ds:
        path = f"{prefix}{elem.tag.group:04X}{elem.tag.element:04X}"
        keyword = elem.keyword or ("private" if elem.tag.is_private else str(elem.tag))
        if elem.VR == "SQ":
            yield path, keyword, f"<SQ {len(elem.value)}>"
            for i, item in enumerate(elem.value):
                yield from walk(item, f"{path}[{i}]/")
        elif elem.tag == 0x7FE00010:
            yield path, keyword, "<pixels>"
        else:
            try:
                yield path, keyword, str(elem.value)
            except Exception:  # noqa: BLE001 - undecodable values compare as their bytes
                yield path, keyword, repr(elem.value)


def touched(original, result):
    """keyword -> touched? for every attribute of the original (paths with item indices)."""
    before = {p: (k, v) for p, k, v in walk(original)}
    after = {p: v for p, _, v in walk(result)}
    out = {}
    for path, (keyword, value) in before.items():
        if value.strip("\x00 ") in ("", "None"):
            continue  # nothing to hide; dicognito fills some empty values, mira leaves them
        out[(path, keyword)] = path not in after or after[path] != value
    return out


def files(paths):
    for path in paths:
        if os.path.isdir(path):
            for root, _, names in os.walk(path):
                for name in sorted(names):
                    yield os.path.join(root, name)
        else:
            yield path


def main():
    mira, out_dir, *inputs = sys.argv[1:]
    key = os.path.join(out_dir, "key")
    with open(key, "w") as f:
        f.write("bench key for mira deid, 32 bytes\n")
    stats = collections.defaultdict(lambda: [0, 0, 0])  # present, mira touched, dicognito touched
    compared = 0
    for path in files(inputs):
        try:
            original = pydicom.dcmread(path)
        except Exception:  # noqa: BLE001
            continue
        mira_out = os.path.join(out_dir, "mira.dcm")
        run = subprocess.run([mira, "deid", path, mira_out, "--key-file", key],
                             capture_output=True, text=True)
        if run.returncode != 0:
            continue  # refused by mira (reported by the scan test); nothing to compare
        try:
            dicognito_ds = pydicom.dcmread(path)
            Anonymizer(seed="bench").anonymize(dicognito_ds)
        except Exception as e:  # noqa: BLE001
            print(f"dicognito failed on {path}: {e}", file=sys.stderr)
            continue
        mira_ds = pydicom.dcmread(mira_out)
        by_mira = touched(original, mira_ds)
        by_dicognito = touched(original, dicognito_ds)
        for (path_, keyword), was in by_mira.items():
            entry = stats[keyword]
            entry[0] += 1
            entry[1] += was
            entry[2] += by_dicognito.get((path_, keyword), False)
        compared += 1
    print(f"{compared} files compared")
    agree = 0
    print(f"{'attribute':45} {'seen':>5} {'mira':>5} {'dicognito':>9}  verdict")
    for keyword, (seen, m, d) in sorted(stats.items()):
        if (m > 0) == (d > 0) and (m == seen) == (d == seen):
            agree += 1
            continue
        verdict = ("mira only" if m and not d else "dicognito only" if d and not m
                   else "both, in part")
        print(f"{keyword:45} {seen:5} {m:5} {d:9}  {verdict}")
    print(f"{agree} attributes treated alike, {len(stats) - agree} differently")


if __name__ == "__main__":
    main()
