"""GRBL 1.1's error and alarm numbers and what they mean, as GRBL's own documentation words them."""

from __future__ import annotations

# The error and alarm numbers the simulated GRBL produces, by the names of GRBL's report.h.
ERROR_BAD_NUMBER_FORMAT = 2
ERROR_INVALID_STATEMENT = 3  # unsupported '$' command
ERROR_NEGATIVE_VALUE = 4
ERROR_SETTING_DISABLED = 5  # $H with homing off
ERROR_STEP_PULSE_MIN = 6
ERROR_SETTING_READ_FAIL = 7  # a blank EEPROM at power-up
ERROR_IDLE_ERROR = 8  # a '$' command that needs Idle (or Alarm)
ERROR_SYSTEM_GC_LOCK = 9  # G-code locked out during alarm or jog
ERROR_SOFT_LIMIT_ERROR = 10  # $20=1 with homing off
ERROR_OVERFLOW = 11  # STATUS_OVERFLOW: line longer than the line buffer (14 is the EEPROM line limit)
ERROR_UNDEFINED_FEED_RATE = 22
ERROR_WORD_REPEATED = 25
ERROR_TRAVEL_EXCEEDED = 15  # a jog beyond the soft limits
ERROR_INVALID_JOG_COMMAND = 16
ERROR_UNUSED_WORDS = 36
ERROR_MAX_VALUE_EXCEEDED = 38  # T above 255
ALARM_HARD_LIMIT = 1  # a limit switch tripped
ALARM_SOFT_LIMIT = 2
ALARM_ABORT_CYCLE = 3  # reset while in motion
ALARM_HOMING_FAIL_RESET = 6  # reset while homing
ALARM_HOMING_FAIL_APPROACH = 9  # no switch found (a machine without limit switches)

GRBL_ERRORS: dict[int, str] = {
    1: "G-code words consist of a letter and a value. Letter was not found.",
    2: "Numeric value format is not valid or missing an expected value.",
    3: "Grbl '$' system command was not recognized or supported.",
    4: "Negative value received for an expected positive value.",
    5: "Homing cycle is not enabled via settings.",
    6: "Minimum step pulse time must be greater than 3usec.",
    7: "EEPROM read failed. Reset and restored to default values.",
    8: "Grbl '$' command cannot be used unless Grbl is IDLE. Ensures smooth operation during a job.",
    9: "G-code locked out during alarm or jog state.",
    10: "Soft limits cannot be enabled without homing also enabled.",
    11: "Max characters per line exceeded. Line was not processed and executed.",
    12: "Grbl '$' setting value exceeds the maximum step rate supported.",
    13: "Safety door detected as opened and door state initiated.",
    14: "Build info or startup line exceeded EEPROM line length limit.",
    15: "Jog target exceeds machine travel. Command ignored.",
    16: "Jog command with no '=' or contains prohibited g-code.",
    17: "Laser mode requires PWM output.",
    20: "Unsupported or invalid g-code command found in block.",
    21: "More than one g-code command from same modal group found in block.",
    22: "Feed rate has not yet been set or is undefined.",
    23: "G-code command in block requires an integer value.",
    24: "Two G-code commands that both require the use of the XYZ axis words were detected in the block.",
    25: "A G-code word was repeated in the block.",
    26: "A G-code command implicitly or explicitly requires XYZ axis words in the block, but none were detected.",
    27: "N line number value is not within the valid range of 1 - 9,999,999.",
    28: "A G-code command was sent, but is missing some required P or L value words in the line.",
    29: "Grbl supports six work coordinate systems G54-G59. G59.1, G59.2, and G59.3 are not supported.",
    30: "The G53 G-code command requires either a G0 seek or G1 feed motion mode to be active.",
    31: "There are unused axis words in the block and G80 motion mode cancel is active.",
    32: "A G2 or G3 arc was commanded but there are no XYZ axis words in the selected plane to trace the arc.",
    33: "The motion command has an invalid target. G2, G3, and G38.2 generates this error.",
    34: "A G2 or G3 arc, traced with the radius definition, had a mathematical error when computing the arc "
    "geometry.",
    35: "A G2 or G3 arc, traced with the offset definition, is missing the IJK offset word in the selected plane.",
    36: "There are unused, leftover G-code words that aren't used by any command in the block.",
    37: "The G43.1 dynamic tool length offset command cannot apply an offset to an axis other than its configured "
    "axis.",
    38: "Tool number greater than max supported value.",
}

GRBL_ALARMS: dict[int, str] = {
    1: "Hard limit triggered. Machine position is likely lost due to sudden and immediate halt.",
    2: "G-code motion target exceeds machine travel. Machine position safely retained.",
    3: "Reset while in motion. Grbl cannot guarantee position. Lost steps are likely.",
    4: "Probe fail. The probe is not in the expected initial state before starting probe cycle.",
    5: "Probe fail. Probe did not contact the workpiece within the programmed travel.",
    6: "Homing fail. Reset during active homing cycle.",
    7: "Homing fail. Safety door was opened during active homing cycle.",
    8: "Homing fail. Cycle failed to clear limit switch when pulling off.",
    9: "Homing fail. Could not find limit switch within search distance.",
}


def error_meaning(code: int) -> str:
    return GRBL_ERRORS.get(code, "Unknown GRBL error.")


def alarm_meaning(code: int) -> str:
    return GRBL_ALARMS.get(code, "Unknown GRBL alarm.")
