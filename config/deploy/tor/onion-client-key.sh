#!/bin/sh
# Make a key pair for the reviewer onion service's client authorisation, in memory only.
#
#   sh onion-client-key.sh
#
# Run it on the inspector's own computer (Tails, Debian, Ubuntu: anything with openssl 1.1.1+ and
# coreutils). It prints two lines:
#   - the private key: the inspector pastes it into Tor Browser when the onion address asks for a key
#     ("Remember this key"); it is as secret as a password and is never stored by this script;
#   - the public line: the administrator saves it as
#     /var/lib/tor/portal-reviewer/authorized_clients/<inspector>.auth (it is not secret).
set -eu
pem=$(openssl genpkey -algorithm x25519)
# The raw 32-byte keys are the last 32 bytes of their DER forms; Tor wants them in base32, unpadded.
private=$(printf '%s\n' "$pem" | openssl pkey -outform DER | tail -c 32 | base32 | tr -d '=\n')
public=$(printf '%s\n' "$pem" | openssl pkey -pubout -outform DER | tail -c 32 | base32 | tr -d '=\n')
# POSIX sh has no pipefail: a failed openssl shows as a key of the wrong length.
if [ "${#private}" -ne 52 ] || [ "${#public}" -ne 52 ]; then
    echo "openssl could not make an x25519 key pair (openssl 1.1.1 or later is needed)" >&2
    exit 1
fi
printf 'Private key for Tor Browser (secret): %s\n' "$private"
printf 'Line for authorized_clients/<name>.auth: descriptor:x25519:%s\n' "$public"
