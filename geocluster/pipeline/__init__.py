"""Floor 6: the typed study configuration, the study steps and the command line."""
