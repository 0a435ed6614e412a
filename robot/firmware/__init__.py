"""Facts about the firmwares that the host side and the simulated boards share: GRBL's error and alarm numbers
and its status report, Marlin's numbered lines with checksums."""
