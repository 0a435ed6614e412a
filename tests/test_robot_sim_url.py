"""The simulated plotter as a pyserial URL: ``serial.serial_for_url("sim://?...")``, no pseudo-terminal."""

from __future__ import annotations

import pytest
import serial

from calibration import default_profile, profile_to_toml
from robot import Faults, GrblStreamer, SimSettings, StreamError, clean_line
from robot.boards.sim_url import NAMED_SIMULATORS, SimUrl, parse_sim_url

TIMEOUT_S = 5.0


def program(strokes: int) -> list[str]:
    lines = ["G21", "G90", "M5", "G4 P0.150"]
    for i in range(strokes):
        x = 10.0 + 3.5 * i
        lines += [f"G0 X{x:.3f} Y20.000", "M3 S1000", "G4 P0.150", f"G1 X{x:.3f} Y120.000 F3000.000", "M5"]
    return lines + ["G0 X0.000 Y0.000", "M2"]


def test_importing_robot_registers_the_sim_scheme_with_pyserial():
    assert "robot.urlhandler" in serial.protocol_handler_packages
    assert serial.protocol_handler_packages.count("robot.urlhandler") == 1


def test_a_sim_url_is_a_grbl_board_with_its_simulator_at_hand():
    with serial.serial_for_url("sim://", timeout=1.0) as port:
        assert port.read_until(b"help]\r\n") == b"\r\nGrbl 1.1h ['$' for help]\r\n"
        port.write(b"G0 X12.5\n?")
        assert port.read_until(b">\r\n") == b"ok\r\n<Idle|MPos:12.500,0.000,0.000|FS:0,0|WCO:0.000,0.000,0.000>\r\n"
        assert port.simulator.executed_lines == ["G0 X12.5"]
        assert port.in_waiting == 0


def test_url_parameters_are_the_fields_of_the_settings_and_the_faults(tmp_path):
    profile = tmp_path / "plotter.toml"
    profile.write_text(profile_to_toml(default_profile()))
    url = (
        f"sim://?time_scale=0.01&soft_limits=0&planner_blocks=4&drop_offsets=3,40&corrupt_rate=0.001&seed=1"
        f"&error_on_line=7&disconnect_after_lines=50&ack_delay_s=0.2&profile={profile}&name=bench"
    )
    assert parse_sim_url(url) == SimUrl(
        settings=SimSettings(time_scale=0.01, soft_limits=False, planner_blocks=4),
        faults=Faults(
            drop_offsets=frozenset({3, 40}),
            corrupt_rate=0.001,
            seed=1,
            error_on_line=7,
            disconnect_after_lines=50,
            ack_delay_s=0.2,
        ),
        profile_path=str(profile),
        name="bench",
    )
    assert parse_sim_url("sim://") == SimUrl()


def test_a_sim_url_with_homing_is_a_board_that_powers_up_locked():
    with serial.serial_for_url("sim://?homing=1&soft_limits=1", timeout=1.0) as port:
        assert port.read_until(b"unlock]\r\n") == b"\r\nGrbl 1.1h ['$' for help]\r\n[MSG:'$H'|'$X' to unlock]\r\n"
        port.write(b"G0 X1\n$H\nG0 X1\n")
        assert port.read_until(b"ok\r\nok\r\n") == b"error:9\r\nok\r\nok\r\n"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sim://?soft_limits=1", r"soft limits (\$20) only with homing (\$22)"),
        ("sim://?speed=2&time_scale=1&colour=red", "unknown parameter(s) colour, speed"),
        ("sim://?time_scale=fast", "time_scale='fast'"),
        ("sim://?seed=1&seed=2", "more than once: seed"),
        ("sim://board7", "only query parameters"),
    ],
)
def test_bad_urls_are_refused_with_the_parameter_named(url, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_sim_url(url)
    with pytest.raises(serial.SerialException, match="cannot open sim://"):
        serial.serial_for_url(url)


def test_the_streamer_streams_to_a_sim_url_as_to_a_pty():
    lines = program(6)
    with GrblStreamer("sim://?name=url-stream", timeout_s=TIMEOUT_S) as streamer:
        report = streamer.stream(lines, progress=False)
    assert report.ok and report.lines_acknowledged == len(lines)
    board = NAMED_SIMULATORS["url-stream"]
    assert board.executed_lines == [clean_line(line) for line in lines]
    assert len(board.strokes) == 6
    assert board.rx_overflow_bytes == 0


def test_a_bad_sim_url_is_one_clear_stream_error():
    with pytest.raises(StreamError, match=r"^cannot open serial port sim://\?colour=red: .*unknown parameter"):
        GrblStreamer("sim://?colour=red", timeout_s=TIMEOUT_S)


def test_every_opening_powers_up_a_fresh_board():
    first = serial.serial_for_url("sim://?name=fresh")
    first.write(b"G0 X5\n")
    first.close()
    with serial.serial_for_url("sim://?name=fresh", timeout=1.0) as second:
        assert NAMED_SIMULATORS["fresh"] is second.simulator is not first.simulator
        assert second.simulator.position == (0.0, 0.0, 0.0)
        assert first.simulator.position[0] == 5.0
