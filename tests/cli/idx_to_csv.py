"""Writes a float32 IDX image file and its labels as CSV in the UCI optdigits layout: one row per
image, its pixels scaled to 0..MAX and rounded, then the label.
usage: idx_to_csv.py IMAGES.gz LABELS.gz OUT.csv [MAX]"""
import gzip
import struct
import sys

im, lb = gzip.open(sys.argv[1]).read(), gzip.open(sys.argv[2]).read()
if im[2] != 0x0D:
    sys.exit(f"{sys.argv[1]}: float32 IDX images expected")
dims = struct.unpack(f">{im[3]}I", im[4:4 + 4 * im[3]])
n, per = dims[0], 1
for d in dims[1:]:
    per *= d
scale = float(sys.argv[4]) if len(sys.argv) > 4 else 16.0
px = struct.unpack(f">{n * per}f", im[4 + 4 * im[3]:4 + 4 * im[3] + 4 * n * per])
with open(sys.argv[3], "w") as f:
    for i in range(n):
        f.write(",".join(str(round(v * scale)) for v in px[per * i:per * (i + 1)]) + f",{lb[8 + i]}\n")
