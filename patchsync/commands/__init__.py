"""One module per sub-command: ``HELP``, ``add_arguments`` and ``run``."""
