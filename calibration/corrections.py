"""What a measured sheet says the machine does, as ``corrections.toml``, a table, and a picture of residuals.

corrections.toml states the machine's behaviour (not the fix): ``[affine]`` scale_x, scale_y (drawn length
/ commanded length), skew_deg (how far the drawn Y axis leans from square to X, positive toward +X),
rotation_deg, offset_x_mm, offset_y_mm; ``[backlash]`` x_mm, y_mm; ``[pen]`` width_mm; ``[tone]`` the
measured curve; ``[fit]`` rms_mm, nominal_rms_mm, points; ``[drawn_with]`` the profile's correction the
sheet was drawn with (when it had one: then the values above are what is left, and ``calibrate apply``
composes them). One standard deviation of each value is in ``[uncertainty]``.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt

import cv2
import numpy as np
import tomlkit

from calibration.machine import MachineError
from calibration.measure import Measurement
from calibration.pattern import machine_to_page

def corrections_toml(m: Measurement, source: str, drawn_with: MachineError | None = None) -> str:
    """corrections.toml for a measurement of the sheet in ``source``, commented so a reader knows each value.

    ``drawn_with``: the profile's ``[calibration]`` the sheet was planned with, if any (recorded in sheet.json).
    """
    parts, sig = m.fit.parts, m.fit.sigmas
    doc = tomlkit.document()
    doc.add(tomlkit.comment(f"strokebot calibration: what the machine does, measured on {source} "
                            f"({m.reference}), {_dt.date.today().isoformat()}."))
    doc.add(tomlkit.comment(f"Pattern: {m.pattern.profile_name}, drawn {m.pattern.date}."))
    affine = tomlkit.table()
    affine.add(tomlkit.comment("drawn length / commanded length, per axis"))
    affine.add("scale_x", round(parts["scale_x"], 6))
    affine.add("scale_y", round(parts["scale_y"], 6))
    affine.add(tomlkit.comment("how far the drawn Y axis leans from square to X, positive toward +X"))
    affine.add("skew_deg", round(parts["skew_deg"], 4))
    affine.add(tomlkit.comment(f"0: {m.placement} is fitted and discarded, so the drawn X axis is the "
                               "reference for rotation, and nothing on the sheet is at a known machine position"))
    affine.add("rotation_deg", 0.0)
    affine.add("offset_x_mm", 0.0)
    affine.add("offset_y_mm", 0.0)
    doc.add("affine", affine)
    backlash = tomlkit.table()
    backlash.add(tomlkit.comment("lost motion when an axis reverses, in commanded mm"))
    backlash.add("x_mm", round(m.backlash_mm["x"], 4))
    backlash.add("y_mm", round(m.backlash_mm["y"], 4))
    doc.add("backlash", backlash)
    pen = tomlkit.table()
    pen.add(tomlkit.comment(f"the drawn line's width (the profile's pen says {m.pattern.pen_width_mm:g} mm)"))
    pen.add("width_mm", round(m.pen_width_mm, 4))
    doc.add("pen", pen)
    tone = tomlkit.table()
    tone.add(tomlkit.comment("darkness (0 paper, 1 black) of hatching at each density (pen width / spacing, with "
                             "the profile's pen); solid_darkness: where ink covers the paper"))
    tone.add("densities", [round(d, 4) for d in m.tone_densities])
    tone.add("darkness", [round(d, 4) for d in m.tone_darkness])
    tone.add("solid_darkness", round(m.solid_darkness, 4))
    doc.add("tone", tone)
    fit = tomlkit.table()
    fit.add(tomlkit.comment("residual RMS of the crosses after the affine fit, and how many crosses it used; "
                            "nominal_rms_mm: their RMS distance from where they were commanded (the sheet's "
                            "placement, a turn and a shift, removed): what a correction would remove"))
    fit.add("rms_mm", round(m.fit.rms_mm, 4))
    fit.add("nominal_rms_mm", round(m.nominal_rms_mm, 4))
    fit.add("points", int(m.fit.used.sum()))
    fit.add("mode", m.mode)
    doc.add("fit", fit)
    unc = tomlkit.table()
    unc.add(tomlkit.comment("one standard deviation of the values above"))
    unc.add("scale_x", float(f"{sig['scale_x']:.3g}"))
    unc.add("scale_y", float(f"{sig['scale_y']:.3g}"))
    unc.add("skew_deg", float(f"{sig['skew_deg']:.3g}"))
    unc.add("backlash_x_mm", _finite(m.backlash_sigma_mm["x"]))
    unc.add("backlash_y_mm", _finite(m.backlash_sigma_mm["y"]))
    unc.add("pen_width_mm", float(f"{m.pen_width_sigma_mm:.3g}"))
    doc.add("uncertainty", unc)
    if drawn_with is not None:
        drawn = tomlkit.table()
        drawn.add(tomlkit.comment("the sheet was drawn with this correction: the values above are what it left, "
                                  "and `calibrate apply` composes the two"))
        for key, value in dataclasses.asdict(drawn_with).items():
            drawn.add(key, value)
        doc.add("drawn_with", drawn)
    return tomlkit.dumps(doc)


def _finite(value: float) -> float:
    return float(f"{value:.3g}") if np.isfinite(value) else 0.0


def corrections_table(m: Measurement) -> str:
    """The fitted values with uncertainties, one per line, for the terminal."""
    p, s = m.fit.parts, m.fit.sigmas
    rows = [
        ("scale_x", f"{p['scale_x']:.5f}", f"{s['scale_x']:.5f}", "drawn / commanded length along X"),
        ("scale_y", f"{p['scale_y']:.5f}", f"{s['scale_y']:.5f}", "drawn / commanded length along Y"),
        ("skew_deg", f"{p['skew_deg']:.3f}", f"{s['skew_deg']:.3f}", "Y's lean from square, toward +X"),
        ("backlash x_mm", f"{m.backlash_mm['x']:.3f}", f"{m.backlash_sigma_mm['x']:.3f}", "lost motion reversing X"),
        ("backlash y_mm", f"{m.backlash_mm['y']:.3f}", f"{m.backlash_sigma_mm['y']:.3f}", "lost motion reversing Y"),
        ("pen width_mm", f"{m.pen_width_mm:.3f}", f"{m.pen_width_sigma_mm:.3f}",
         f"profile says {m.pattern.pen_width_mm:g}"),
        ("rms_mm", f"{m.fit.rms_mm:.4f}", "", f"residual of {int(m.fit.used.sum())} of {m.crosses_total} crosses"),
        ("nominal_rms_mm", f"{m.nominal_rms_mm:.4f}", "", "crosses from their commanded places (placement removed)"),
        ("placement", f"{p['rotation_deg']:.3f}°", f"{s['rotation_deg']:.3f}", f"{m.placement} (discarded)"),
        ("blur_mm", f"{m.blur_mm:.3f}", "", "how far the picture spreads a line (1 sd)"),
    ]
    out = [f"{'value':<14} {'fitted':>10} {'± 1 sd':>9}  meaning", "-" * 72]
    out += [f"{a:<14} {b:>10} {c:>9}  {d}" for a, b, c, d in rows]
    tone = ", ".join(f"{d:.2f}:{v:.2f}" for d, v in zip(m.tone_densities, m.tone_darkness))
    out.append(f"tone (density:darkness) {tone}; solid {m.solid_darkness:.2f}")
    return "\n".join(out)


def residual_picture(m: Measurement, max_side_px: int = 1200, gain: float | None = None) -> np.ndarray:
    """The straightened sheet with each cross's offset from its commanded place as an arrow, enlarged; RGB uint8.

    Red: the offset with only the sheet's placement (turn, shift) removed, which a correction removes;
    blue: what is left after the affine fit (the measurement's own scatter, and what no affine map explains).
    ``gain``: how much the arrows are enlarged (default: a round number that makes the largest about 10 mm).
    """
    page = m.page
    shade = np.clip(1 - page.darkness, 0, 1)
    scale = min(1.0, max_side_px / max(shade.shape))
    img = cv2.resize((shade * 255).astype(np.uint8), None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    img = cv2.cvtColor((img * 0.6 + 102).astype(np.uint8), cv2.COLOR_GRAY2RGB)
    px = page.px_per_mm * scale
    area = m.pattern.work_area
    nominal = m.nominal_mm[m.fit.used]
    affine = m.fit.residuals_mm @ np.linalg.inv(m.fit.matrix).T  # in the nominal frame
    largest = float(np.max(np.hypot(*np.vstack([affine, m.nominal_residuals_mm]).T))) if len(affine) else 0.0
    if gain is None:
        gain = 10.0 ** np.floor(np.log10(15.0 / max(largest, 1e-4)))  # a round enlargement: the largest <= 15 mm
    for residuals, colour in ((m.nominal_residuals_mm, (220, 30, 30)), (affine, (30, 60, 220))):
        for n, r in zip(nominal, residuals):
            a = machine_to_page(area, n)
            b = machine_to_page(area, n + gain * r)
            cv2.arrowedLine(img, tuple(np.round(a * px).astype(int)), tuple(np.round(b * px).astype(int)), colour,
                            max(2, int(px * 0.6)), cv2.LINE_AA, tipLength=0.2)
    size = max(0.4, px * 0.12)
    cv2.putText(img, f"x{gain:g}  red: from commanded, rms {m.nominal_rms_mm:.3f} mm", (int(px * 12), int(px * 6)),
                cv2.FONT_HERSHEY_SIMPLEX, size, (220, 30, 30), 1, cv2.LINE_AA)
    cv2.putText(img, f"blue: after the affine fit, rms {m.fit.rms_mm:.3f} mm ({len(affine)} crosses, {m.mode})",
                (int(px * 12), int(px * 10)), cv2.FONT_HERSHEY_SIMPLEX, size, (30, 60, 220), 1, cv2.LINE_AA)
    return img
