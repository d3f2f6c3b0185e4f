#!/usr/bin/env bash
# Fills fuzz/corpus/parse_instance/ (gitignored) with seed inputs from the shared test data.
#
# Usage: fuzz/seed.sh [TESTDATA_DIR]
#   TESTDATA_DIR defaults to $MIRA_TESTDATA, else ../shared/testdata next to the repository.
#
# Every file under TESTDATA/dicom goes in, broken ones included (no_meta, truncated, badVR,
# UN_sequence, nested_priv_SQ, ...): they lead the fuzzer straight to the error paths. Files of
# 1 MiB or more go in as their first 64 KiB only (libFuzzer would cut them to -max_len
# anyway), so the deeply nested Orthanc sequence still seeds its nesting. Non-DICOM files
# (images, dumps, JSON, READMEs) are skipped. Seeds are named by content hash, so running the
# script again adds nothing twice. The test data is only read, never copied into the repository.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
testdata="${1:-${MIRA_TESTDATA:-$here/../../shared/testdata}}"
src="$testdata/dicom"
out="$here/corpus/parse_instance"
max_whole=$((1024 * 1024))
head_len=65536

if [ ! -d "$src" ]; then
    echo "seed.sh: no test data at $src (pass the directory or set MIRA_TESTDATA)" >&2
    exit 1
fi
mkdir -p "$out"

added=0
while IFS= read -r -d '' file; do
    case "$file" in
        *.png | *.jpg | *.raw | *.json | *.txt | *.md | *.dump | *.icc | *.gz | */LICENSE | */README) continue ;;
    esac
    size=$(stat -c %s "$file")
    tmp="$(mktemp "$out/.seed.XXXXXX")"
    if [ "$size" -lt "$max_whole" ]; then
        cat "$file" >"$tmp"
    else
        head -c "$head_len" "$file" >"$tmp"
    fi
    name="$(sha1sum "$tmp" | cut -c1-40)"
    if [ -e "$out/$name" ]; then
        rm -f "$tmp"
    else
        mv "$tmp" "$out/$name"
        added=$((added + 1))
    fi
done < <(find "$src" -type f -print0 | sort -z)

echo "seed.sh: $added new seeds in $out ($(find "$out" -type f | wc -l) in all)"
