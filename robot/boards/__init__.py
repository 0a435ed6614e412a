"""The simulated boards: GRBL 1.1h and Marlin 2 pen plotters on a shared board model (receive buffer, main
loop, planner, faults), served on a pseudo-terminal or as the ``sim://`` pyserial URL."""
