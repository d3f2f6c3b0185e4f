#!/usr/bin/env python3
"""A synthetic CT series for the viewer benchmark: SLICES slices of SIZE×SIZE, 16-bit, explicit
VR little endian (what a CT console sends uncompressed), a body ellipse with two lungs and a
slice-dependent pattern so that every slice differs. Usage: make_ct.py OUT_DIR [SLICES] [SIZE]"""
import array
import os
import sys

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

out = sys.argv[1]
slices = int(sys.argv[2]) if len(sys.argv) > 2 else 300
size = int(sys.argv[3]) if len(sys.argv) > 3 else 512
os.makedirs(out, exist_ok=True)
study, series, frame = "2.25.7300", "2.25.7300.1", generate_uid()

# one body row pattern per row (air -1000, soft tissue 40, lungs -850), offset by 1024
rows = []
for y in range(size):
    row = array.array("H", [0] * size)
    for x in range(size):
        dx, dy = (x - size / 2) / (size * 0.42), (y - size / 2) / (size * 0.32)
        hu = -1000
        if dx * dx + dy * dy < 1:
            hu = 40
            for cx in (0.3, 0.7):
                lx, ly = (x - size * cx) / (size * 0.14), (y - size / 2) / (size * 0.22)
                if lx * lx + ly * ly < 1:
                    hu = -850
        row[x] = hu + 1024
    rows.append(row)

for i in range(slices):
    ds = Dataset()
    sop = f"{series}.{i + 1}"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = sop
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, sop
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
    ds.PatientName, ds.PatientID, ds.PatientSex = "BENCH^VIEWER", "BENCH-300", "M"
    ds.StudyDate, ds.StudyTime, ds.AccessionNumber = "20261203", "090000", "BENCH300"
    ds.StudyDescription, ds.SeriesDescription = "Viewer benchmark CT", f"{slices} slices"
    ds.Modality, ds.BodyPartExamined, ds.SeriesNumber, ds.InstanceNumber = "CT", "CHEST", 1, i + 1
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.ImagePositionPatient = [-size * 0.35, -size * 0.35, -i * 1.0]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing, ds.SliceThickness = [0.7, 0.7], 1.0
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows, ds.Columns = size, size
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = -1024, 1, "HU"
    ds.WindowCenter, ds.WindowWidth = -600, 1500
    pixels = array.array("H")
    shift = i % 64
    for y, row in enumerate(rows):
        # a moving bright band: each slice differs
        if (y + shift) % 64 < 3:
            band = array.array("H", row)
            for x in range(0, size, 7):
                band[x] = 1500
            pixels.extend(band)
        else:
            pixels.extend(row)
    ds.PixelData = pixels.tobytes()
    ds.save_as(os.path.join(out, f"ct{i + 1:04d}.dcm"), enforce_file_format=True)
print(f"{slices} slices of {size}x{size} in {out}")
