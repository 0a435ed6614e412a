"""pyserial URL handlers of the project: ``protocol_sim`` serves ``sim://`` (see :mod:`robot.sim_url`)."""
