"""Colour for tests: ICC profiles built from primaries, and the NumPy conversion a
colour-managed reader should make, to check the colour management of files we write."""

from __future__ import annotations

import struct

import numpy as np


D65_WHITE = (0.3127, 0.3290)
D50_XYZ = np.array([0.9642, 1.0, 0.8249])
SRGB_PRIMARIES = ((0.64, 0.33), (0.30, 0.60), (0.15, 0.06))
DISPLAY_P3_PRIMARIES = ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060))
_BRADFORD = np.array([[0.8951, 0.2664, -0.1614],
                      [-0.7502, 1.7135, 0.0367],
                      [0.0389, -0.0685, 1.0296]])


def rgb_to_xyz_d50(primaries, white=D65_WHITE) -> np.ndarray:
    """The 3x3 matrix from linear RGB to XYZ, chromatically adapted to D50 (Bradford),
    as an ICC matrix/TRC profile's colorant tags hold it."""
    def xyz(x, y):
        return np.array([x / y, 1.0, (1.0 - x - y) / y])

    columns = np.stack([xyz(*primary) for primary in primaries], axis=1)
    white_xyz = xyz(*white)
    to_xyz = columns * np.linalg.solve(columns, white_xyz)
    cone_ratio = (_BRADFORD @ D50_XYZ) / (_BRADFORD @ white_xyz)
    adapt = np.linalg.inv(_BRADFORD) @ np.diag(cone_ratio) @ _BRADFORD
    return adapt @ to_xyz


def srgb_decode(values: np.ndarray) -> np.ndarray:
    """The sRGB transfer curve, 0-1 encoded to 0-1 linear (IEC 61966-2-1)."""
    return np.where(values <= 0.04045, values / 12.92, ((values + 0.055) / 1.055) ** 2.4)


def srgb_encode(values: np.ndarray) -> np.ndarray:
    """The inverse of `srgb_decode`."""
    values = np.clip(values, 0.0, 1.0)
    return np.where(values <= 0.0031308, values * 12.92, 1.055 * values ** (1 / 2.4) - 0.055)


def icc_rgb_profile(primaries, description: str, white=D65_WHITE) -> bytes:
    """An ICC v2 display profile (matrix/TRC) for RGB with these primaries and the sRGB curve.

    With DISPLAY_P3_PRIMARIES this is Display P3, the colour space of iPhone photos.
    """
    def s15_fixed16(values) -> bytes:
        return b"".join(struct.pack(">i", int(round(v * 65536))) for v in values)

    def xyz_tag(values) -> bytes:
        return b"XYZ \0\0\0\0" + s15_fixed16(values)

    text = description.encode("ascii") + b"\0"
    tags = {
        b"desc": (b"desc\0\0\0\0" + struct.pack(">I", len(text)) + text
                  + struct.pack(">II", 0, 0) + struct.pack(">HB", 0, 0) + b"\0" * 67),
        b"cprt": b"text\0\0\0\0" + b"No copyright, test profile\0",
        b"wtpt": xyz_tag(D50_XYZ),
    }
    matrix = rgb_to_xyz_d50(primaries, white)
    for index, name in enumerate((b"rXYZ", b"gXYZ", b"bXYZ")):
        tags[name] = xyz_tag(matrix[:, index])
    curve = np.rint(srgb_decode(np.linspace(0.0, 1.0, 1024)) * 65535).astype(">u2").tobytes()
    trc = b"curv\0\0\0\0" + struct.pack(">I", 1024) + curve
    for name in (b"rTRC", b"gTRC", b"bTRC"):
        tags[name] = trc
    table_size = 4 + 12 * len(tags)
    offset = 128 + table_size
    table, data = [], b""
    for name, body in tags.items():
        table.append(struct.pack(">4sII", name, offset + len(data), len(body)))
        data += body + b"\0" * (-len(body) % 4)
    size = 128 + table_size + len(data)
    header = (struct.pack(">I", size) + b"lcms" + struct.pack(">I", 0x02100000) + b"mntrRGB XYZ "
              + struct.pack(">6H", 2026, 1, 1, 0, 0, 0) + b"acsp" + b"\0" * 24
              + struct.pack(">I", 0) + s15_fixed16(D50_XYZ) + b"\0" * 48)
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + b"".join(table) + data


def convert_with_matrices(pixels: np.ndarray, source_primaries,
                          target_primaries=SRGB_PRIMARIES) -> np.ndarray:
    """RGB 0-255 from one sRGB-curve space to another through XYZ (D50), in NumPy: the
    colorimetric conversion a colour-managed reader should make. Clips to the target gamut."""
    linear = srgb_decode(np.asarray(pixels, np.float64) / 255.0)
    to_target = np.linalg.solve(rgb_to_xyz_d50(target_primaries), rgb_to_xyz_d50(source_primaries))
    return srgb_encode(linear @ to_target.T) * 255.0
