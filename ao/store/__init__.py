"""ao's state on disk: namespace paths, locks, typed session records (``record``) in
key=value files, the event log.

Also the crash points of the fault-injection suite (``faults``), the core's warning
channel (``diagnostics``) and the translation of OS errors into one-line errors.
Imports only the SDK.
"""
