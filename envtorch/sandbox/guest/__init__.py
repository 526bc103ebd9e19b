"""The code that runs inside the sandbox: the zygote, session confinement and the session worker.

Bound read-only into every sandbox as the package `guest`; it imports only the standard library,
msgspec and pyseccomp. The host imports `guest.protocol` too, so both sides share one protocol.
"""
