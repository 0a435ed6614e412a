"""pyserial URL handlers of the project: ``protocol_sim`` serves ``sim://`` (see :mod:`robot.boards.sim_url`)."""
