"""Cryptography for the reporting portal: intake and reporter key pairs, sealing of reports and
messages to those keys, wrapping of private keys under passphrases and session keys, and the
receipt codes that reporters keep. Everything here is a pure function over bytes and strings
built on libsodium (PyNaCl) and the standard library, with no Flask, no database and no I/O
besides the OS random source, so that both apps share one audited implementation; failures
raise the exceptions in `crypto.errors` and never return partial or unverified data.
"""
