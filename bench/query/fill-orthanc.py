#!/usr/bin/env python3
"""Fill a stopped Orthanc 1.10 SQLite index with the synthetic studies of a mira catalogue.

Usage: fill-orthanc.py MIRA_CATALOGUE ORTHANC_INDEX

Preconditions (bench/query/run does this):
  * Orthanc 1.10 (database schema 6) created ORTHANC_INDEX, and received the real files of
    `mira synth --files-out` (one template instance per modality and the metadata series) by
    C-STORE; it is stopped now.
  * MIRA_CATALOGUE is the catalogue that `mira synth` filled: the real files plus the rows it
    wrote with received_from = 'synth'.

What it writes, for every synthetic patient, study, series and instance of the mira catalogue,
the rows Orthanc itself writes when it stores an instance (checked against the rows Orthanc
wrote for the real files, see check()):
  Resources        one row per level; publicId = SHA-1 of the identifiers, as Orthanc computes it
  MainDicomTags    Orthanc's main DICOM tags of each level (the patient's are repeated on the
                   study), with the values of the mira catalogue
  DicomIdentifiers the identifier tags, normalised as Orthanc does (ASCII, upper case)
  Metadata         LastUpdate on each level; RemoteAET on series; on instances IndexInSeries,
                   ReceptionDate, RemoteAET, Origin, TransferSyntax, SopClassUid, RemoteIP,
                   CalledAET and PixelDataOffset (the last two from the template)
  AttachedFiles    the DICOM file: the template file of the instance's modality, as in mira
Triggers maintain PatientRecyclingOrder and the size counters (GlobalIntegers). The Changes log
is not written: nothing in a query reads it.
"""

import hashlib
import sqlite3
import sys
import time

PATIENT, STUDY, SERIES, INSTANCE = 1, 2, 3, 4
# Orthanc's MetadataType
INDEX_IN_SERIES, RECEPTION_DATE, REMOTE_AET, LAST_UPDATE = 1, 2, 3, 7
ORIGIN, TRANSFER_SYNTAX, SOP_CLASS_UID, REMOTE_IP, CALLED_AET, PIXEL_DATA_OFFSET = 8, 9, 10, 11, 12, 14


def tag(s):
    g, e = s.split(",")
    return int(g, 16), int(e, 16)


# Orthanc 1.10's main DICOM tags that the mira catalogue holds, per level: (tag, mira column)
PATIENT_TAGS = [
    (tag("0010,0010"), "patient_name"),
    (tag("0010,0020"), "patient_id"),
    (tag("0010,0030"), "patient_birth_date"),
    (tag("0010,0040"), "patient_sex"),
]
STUDY_TAGS = [
    (tag("0008,0020"), "study_date"),
    (tag("0008,0030"), "study_time"),
    (tag("0008,0050"), "accession_number"),
    (tag("0008,0080"), "institution_name"),
    (tag("0008,0090"), "referring_physician_name"),
    (tag("0008,1030"), "study_description"),
    (tag("0020,000D"), "study_instance_uid"),
    (tag("0020,0010"), "study_id"),
]
SERIES_TAGS = [
    (tag("0008,0021"), "series_date"),
    (tag("0008,0031"), "series_time"),
    (tag("0008,0060"), "modality"),
    (tag("0008,0070"), "manufacturer"),
    (tag("0008,1010"), "station_name"),
    (tag("0008,103E"), "series_description"),
    (tag("0018,0015"), "body_part_examined"),
    (tag("0018,1030"), "protocol_name"),
    (tag("0020,000E"), "series_instance_uid"),
    (tag("0020,0011"), "series_number"),
    # Orthanc keeps the orientation of the series' first instance at the series level
    (tag("0020,0037"), "first_orientation"),
]
INSTANCE_TAGS = [
    (tag("0008,0018"), "sop_instance_uid"),
    (tag("0020,0013"), "instance_number"),
    (tag("0020,0032"), "image_position_patient"),
    (tag("0020,0037"), "image_orientation_patient"),
]
PATIENT_IDS = [tag("0010,0020"), tag("0010,0010"), tag("0010,0030")]
STUDY_IDS = PATIENT_IDS + [tag("0020,000D"), tag("0008,0050"), tag("0008,1030"), tag("0008,0020")]
SERIES_IDS = [tag("0020,000E")]
INSTANCE_IDS = [tag("0008,0018")]


def normalize(value):
    """Orthanc's ServerToolbox::NormalizeIdentifier: printable ASCII, upper case, trimmed."""
    out = []
    for ch in value:
        if ch in "%_":
            out.append(" ")
        elif ch.isascii() and ch.isprintable():
            out.append(ch)
    return "".join(out).upper().strip()


def public_id(*parts):
    h = hashlib.sha1("|".join(parts).encode()).hexdigest()
    return "-".join(h[i:i + 8] for i in range(0, 40, 8))


def text(v):
    if v is None:
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    v = str(v)
    return v if v != "" else None


class Writer:
    def __init__(self, db):
        self.db = db
        self.next_id = db.execute("SELECT COALESCE(MAX(internalId), 0) + 1 FROM Resources").fetchone()[0]
        self.resources, self.tags, self.ids, self.meta, self.files = [], [], [], [], []

    def resource(self, rtype, pid, parent, main, identifiers, metadata):
        rid = self.next_id
        self.next_id += 1
        self.resources.append((rid, rtype, pid, parent))
        for (g, e), v in main:
            if v is not None:
                self.tags.append((rid, g, e, v))
        for (g, e), v in identifiers:
            if v is not None:
                self.ids.append((rid, g, e, normalize(v)))
        for t, v in metadata:
            self.meta.append((rid, t, v))
        return rid

    def flush(self):
        c = self.db
        c.executemany("INSERT INTO Resources (internalId, resourceType, publicId, parentId) VALUES (?,?,?,?)",
                      self.resources)
        c.executemany("INSERT INTO MainDicomTags VALUES (?,?,?,?)", self.tags)
        c.executemany("INSERT INTO DicomIdentifiers VALUES (?,?,?,?)", self.ids)
        c.executemany("INSERT INTO Metadata VALUES (?,?,?)", self.meta)
        c.executemany("INSERT INTO AttachedFiles VALUES (?,?,?,?,?,?,?,?)", self.files)
        self.resources, self.tags, self.ids, self.meta, self.files = [], [], [], [], []


def main_tags(row, spec):
    return [(t, text(row[col])) for t, col in spec]


def identifiers(row, spec, main):
    by_tag = dict(main)
    return [(t, by_tag.get(t)) for t in spec]


def existing(db, pid):
    r = db.execute("SELECT internalId FROM Resources WHERE publicId = ?", (pid,)).fetchone()
    return r[0] if r else None


def orthanc_rows(db, rid):
    tags = set(db.execute("SELECT tagGroup, tagElement, value FROM MainDicomTags WHERE id = ?", (rid,)).fetchall())
    ids = set(db.execute("SELECT tagGroup, tagElement, value FROM DicomIdentifiers WHERE id = ?", (rid,)).fetchall())
    meta = {t for (t,) in db.execute("SELECT type FROM Metadata WHERE id = ?", (rid,)).fetchall()}
    return tags, ids, meta


def check(db, mira):
    """Compares what this script would write for the metadata series (stored for real by
    Orthanc) with what Orthanc wrote: the same tags, identifiers and metadata types."""
    st = mira.execute("""SELECT st.*, p.patient_id, p.patient_name, p.patient_birth_date, p.patient_sex
                         FROM studies st JOIN patients p ON st.patient_pk = p.id
                         WHERE p.patient_id <> 'MIRA-SYNTH-TEMPLATE' AND NOT EXISTS
                           (SELECT 1 FROM series se JOIN instances i ON i.series_pk = se.id
                            WHERE se.study_pk = st.id AND i.received_from = 'synth')""").fetchone()
    if st is None:
        return []
    se = mira.execute("""SELECT se.*, (SELECT image_orientation_patient FROM instances x WHERE x.series_pk = se.id
                                       ORDER BY x.instance_number LIMIT 1) AS first_orientation
                         FROM series se WHERE se.study_pk = ?""", (st["id"],)).fetchone()
    i = mira.execute("SELECT * FROM instances WHERE series_pk = ? ORDER BY instance_number LIMIT 1",
                     (se["id"],)).fetchone()
    pmain = main_tags(st, PATIENT_TAGS)
    smain = pmain + main_tags(st, STUDY_TAGS)
    semain = main_tags(se, SERIES_TAGS)
    imain = main_tags(i, INSTANCE_TAGS)
    levels = [
        ("patient", public_id(st["patient_id"]), pmain, PATIENT_IDS, {LAST_UPDATE}),
        ("study", public_id(st["patient_id"], st["study_instance_uid"]), smain, STUDY_IDS, {LAST_UPDATE}),
        ("series", public_id(st["patient_id"], st["study_instance_uid"], se["series_instance_uid"]), semain,
         SERIES_IDS, {REMOTE_AET, LAST_UPDATE}),
        ("instance", public_id(st["patient_id"], st["study_instance_uid"], se["series_instance_uid"],
                               i["sop_instance_uid"]), imain, INSTANCE_IDS,
         {INDEX_IN_SERIES, RECEPTION_DATE, REMOTE_AET, ORIGIN, TRANSFER_SYNTAX, SOP_CLASS_UID, REMOTE_IP,
          CALLED_AET, PIXEL_DATA_OFFSET}),
    ]
    problems = []
    for name, pid, main, ids_spec, meta in levels:
        rid = existing(db, pid)
        if rid is None:
            problems.append(f"{name}: Orthanc has no resource {pid} (public id formula?)")
            continue
        tags, ids, ometa = orthanc_rows(db, rid)
        mine_tags = {(g, e, v) for (g, e), v in main if v is not None}
        mine_ids = {(g, e, normalize(v)) for (g, e), v in identifiers(None, ids_spec, main) if v is not None}
        for what, a, b in [("MainDicomTags", mine_tags, tags), ("DicomIdentifiers", mine_ids, ids),
                           ("Metadata types", meta, ometa)]:
            if a != b:
                problems.append(f"{name} {what}: only here {sorted(a - b)}, only in Orthanc {sorted(b - a)}")
    return problems


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    mira = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
    mira.row_factory = sqlite3.Row
    db = sqlite3.connect(sys.argv[2], isolation_level=None)
    db.execute("PRAGMA synchronous = OFF")
    version = db.execute("SELECT value FROM GlobalProperties WHERE property = 1").fetchone()
    if not version or version[0] != "6":
        sys.exit(f"expected an Orthanc database of schema version 6, found {version}")
    started = time.monotonic()

    # the template files Orthanc stored, by modality: attachment and instance metadata
    templates = {}
    for r in mira.execute("""SELECT se.modality, i.sop_instance_uid FROM instances i JOIN series se ON i.series_pk = se.id
                             JOIN studies st ON se.study_pk = st.id JOIN patients p ON st.patient_pk = p.id
                             WHERE p.patient_id = 'MIRA-SYNTH-TEMPLATE'"""):
        row = db.execute("""SELECT r.internalId FROM DicomIdentifiers d JOIN Resources r ON r.internalId = d.id
                            WHERE r.resourceType = 4 AND d.tagGroup = 8 AND d.tagElement = 0x18 AND d.value = ?""",
                         (r["sop_instance_uid"],)).fetchone()
        if not row:
            sys.exit(f"Orthanc does not hold the {r['modality']} template: store the synth files first")
        att = db.execute("SELECT uuid, compressedSize, uncompressedSize, compressionType, uncompressedMD5, compressedMD5 "
                         "FROM AttachedFiles WHERE id = ? AND fileType = 1", (row[0],)).fetchone()
        meta = dict(db.execute("SELECT type, value FROM Metadata WHERE id = ?", (row[0],)).fetchall())
        templates[r["modality"]] = (att, meta)
    if len(templates) < 6:
        sys.exit(f"found templates for {sorted(templates)} only")

    problems = check(db, mira)
    for p in problems:
        print(f"fill-orthanc: differs from Orthanc's own rows: {p}", file=sys.stderr)
    if problems:
        sys.exit(1)
    print("fill-orthanc: rows for the metadata series match what Orthanc wrote for it", file=sys.stderr)

    w = Writer(db)
    patients = {}  # patient pk in mira -> Orthanc internalId
    reception = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    studies = mira.execute("""SELECT st.*, p.patient_id, p.patient_name, p.patient_birth_date, p.patient_sex
                              FROM studies st JOIN patients p ON st.patient_pk = p.id
                              WHERE EXISTS (SELECT 1 FROM series se JOIN instances i ON i.series_pk = se.id
                                            WHERE se.study_pk = st.id AND i.received_from = 'synth')
                              ORDER BY st.id""")
    n_instances = n_studies = 0
    db.execute("BEGIN")
    for st in studies:
        pid_patient = public_id(st["patient_id"])
        patient = patients.get(st["patient_pk"]) or existing(db, pid_patient)
        pmain = main_tags(st, PATIENT_TAGS)
        if patient is None:
            patient = w.resource(PATIENT, pid_patient, None, pmain, identifiers(st, PATIENT_IDS, pmain),
                                 [(LAST_UPDATE, reception)])
        patients[st["patient_pk"]] = patient
        smain = pmain + main_tags(st, STUDY_TAGS)
        study = w.resource(STUDY, public_id(st["patient_id"], st["study_instance_uid"]), patient, smain,
                           identifiers(st, STUDY_IDS, smain), [(LAST_UPDATE, reception)])
        n_studies += 1
        for se in mira.execute("""SELECT se.*, (SELECT image_orientation_patient FROM instances x WHERE x.series_pk = se.id
                                                ORDER BY x.instance_number LIMIT 1) AS first_orientation
                                  FROM series se WHERE se.study_pk = ? ORDER BY se.id""", (st["id"],)).fetchall():
            semain = main_tags(se, SERIES_TAGS)
            series = w.resource(SERIES, public_id(st["patient_id"], st["study_instance_uid"], se["series_instance_uid"]),
                                study, semain, identifiers(se, SERIES_IDS, semain),
                                [(REMOTE_AET, "STORESCU"), (LAST_UPDATE, reception)])
            att, tmeta = templates[se["modality"]]
            for k, i in enumerate(mira.execute("SELECT * FROM instances WHERE series_pk = ? ORDER BY instance_number, id",
                                               (se["id"],)).fetchall()):
                imain = main_tags(i, INSTANCE_TAGS)
                inst = w.resource(
                    INSTANCE,
                    public_id(st["patient_id"], st["study_instance_uid"], se["series_instance_uid"], i["sop_instance_uid"]),
                    series, imain, identifiers(i, INSTANCE_IDS, imain),
                    [(INDEX_IN_SERIES, str(k + 1)), (RECEPTION_DATE, reception), (REMOTE_AET, "STORESCU"),
                     (ORIGIN, "DicomProtocol"), (TRANSFER_SYNTAX, i["transfer_syntax_uid"]),
                     (SOP_CLASS_UID, i["sop_class_uid"]), (REMOTE_IP, "127.0.0.1"),
                     (CALLED_AET, tmeta.get(CALLED_AET, "ORTHANC"))]
                    + ([(PIXEL_DATA_OFFSET, tmeta[PIXEL_DATA_OFFSET])] if PIXEL_DATA_OFFSET in tmeta else []))
                w.files.append((inst, 1) + tuple(att))
                n_instances += 1
        if len(w.meta) > 200_000:
            w.flush()
            db.execute("COMMIT")
            db.execute("BEGIN")
            print(f"  {n_studies} studies, {n_instances} instances, {time.monotonic() - started:.0f} s",
                  file=sys.stderr)
    w.flush()
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    print(f"orthanc index: {n_studies} studies, {n_instances} instances written in "
          f"{time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
