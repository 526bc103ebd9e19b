"""The code that runs inside the sandbox: the fork server (the zygote), session confinement and
each session's interpreter.

Bound read-only into every sandbox as the package `guest`; it imports only the standard library,
msgspec and pyseccomp. The host imports `guest.channel` too, so both sides share one protocol.
"""
