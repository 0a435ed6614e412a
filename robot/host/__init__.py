"""The host side: a streamer for each firmware (GRBL, Marlin) on a shared base and serial port, the progress
line, stopping on signals, the job journal, and resuming a job from it."""
