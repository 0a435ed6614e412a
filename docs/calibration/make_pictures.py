"""Make the pictures of docs/calibration.md: the A4 sheet, a synthetic photo of it, and its residual arrows.

    PYTHONPATH=. python docs/calibration/make_pictures.py

The sheet is drawn by a simulated machine with scale 1.01 / 0.995, skew 0.5 deg and 0.3 mm backlash, with
a 0.7 mm pen where the profile says 0.5 mm. The loop pictures (residuals before and after `calibrate
apply`) come from the commands themselves, run on a profile whose [sim] table is that machine.
"""

import tempfile
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from calibration import default_profile
from calibration.board import board_image
from calibration.corrections import corrections_table, residual_picture
from calibration.measure import measure, photo_reference, scan_reference
from calibration.sheet import read_pattern_file
from calibration.pattern import build_pattern
from calibration.photo import MachineError, play_machine, rasterise, shuffled, synth_photo, synth_scan

HERE = Path(__file__).resolve().parent
PX_PER_MM = 5.0


def save(name: str, image: np.ndarray, width_px: int, colours: int = 32) -> None:
    scale = width_px / image.shape[1]
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    Image.fromarray(small).quantize(colors=colours).save(HERE / name, optimize=True)  # small files for the docs
    print(name, small.shape, (HERE / name).stat().st_size // 1024, "KB")


def main() -> None:
    pattern = build_pattern(default_profile(), date="2026-12-01")
    machine = MachineError(scale_x=1.01, scale_y=0.995, skew_deg=0.5, backlash_x_mm=0.3, backlash_y_mm=0.3)
    exact = rasterise(pattern.strokes(), pattern.work_area, PX_PER_MM, pattern.pen_width_mm)
    save("sheet.png", (exact * 255).astype(np.uint8), 600)
    drawn = rasterise(play_machine(shuffled(pattern.strokes(), 1), machine), pattern.work_area, PX_PER_MM, 0.7)
    photo = synth_photo(drawn, PX_PER_MM, board_image(PX_PER_MM), (1800, 1300), seed=1)
    save("photo.png", photo, 700)
    scan = synth_scan(drawn, PX_PER_MM, dpi=127.0, seed=1)
    measured = measure(scan, pattern, scan_reference(127.0))
    print(corrections_table(measured))
    save("residuals.png", residual_picture(measured), 600, colours=64)
    loop_pictures()


def loop_pictures() -> None:
    """residuals_before.png and residuals_after.png: `calibrate measure`'s pictures in the two rounds."""
    from calibration import profile_to_toml
    from strokebot.cli import main as strokebot

    def run(*args: str) -> None:
        try:
            strokebot(list(args))
        except SystemExit as stop:
            assert stop.code == 0, args

    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        mine = work / "mine.toml"
        mine.write_text(profile_to_toml(default_profile()) + "\n[sim]\nscale_x = 1.01\nscale_y = 0.995\nskew_deg = 0.5\n"
                        "backlash_x_mm = 0.3\nbacklash_y_mm = 0.3\npen_width_mm = 0.7\n")
        for n, name in ((1, "before"), (2, "after")):
            sheet = work / f"sheet{n}.gcode"
            run("calibrate", "pattern", "-o", str(sheet), "--profile", str(mine), "--date", "2026-12-01")
            run("calibrate", "photo", str(sheet), "-o", str(work / f"photo{n}.png"), "--profile", str(mine))
            run("calibrate", "measure", str(work / f"photo{n}.png"), "--pattern", str(sheet.with_suffix(".json")),
                "-o", str(work / f"corrections{n}.toml"))
            # the same enlargement in both rounds, so that the pictures compare
            again = measure(np.asarray(Image.open(work / f"photo{n}.png").convert("L")),
                            read_pattern_file(sheet.with_suffix(".json")),
                            photo_reference(np.asarray(Image.open(work / f"photo{n}.png").convert("L"))))
            save(f"residuals_{name}.png", residual_picture(again, gain=10), 500, colours=64)
            if n == 1:
                run("calibrate", "apply", str(work / "corrections1.toml"), "--profile", str(mine), "--write")


if __name__ == "__main__":
    main()
