"""A loopback stand-in for the music platforms that musicdl's own client code runs against.

`PlatformEmulator` is an HTTPS intercepting proxy on 127.0.0.1: a process that sets
HTTPS_PROXY/HTTP_PROXY to it and trusts its CA (REQUESTS_CA_BUNDLE) sends every request musicdl
makes — through its client sessions, its link tester and the module-level `requests` calls of
its third-party resolvers — to the emulator, which answers the hosts it emulates as the
platforms do and refuses every other host at once. Nothing leaves the machine.
"""
