"""Print the current six-digit code for a TOTP secret, for trying the demo without a phone.

    python3 scripts/totp.py JBSWY3DPEHPK3PXP

RFC 6238 (HMAC-SHA1, 30-second steps, 6 digits) in the standard library only. A real inspector
uses an authenticator app on a separate device: that is what makes the code a second factor.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import sys
import time


def code(secret: str, at: float | None = None) -> str:
    key = base64.b32decode(secret.replace(" ", "").upper() + "=" * (-len(secret.replace(" ", "")) % 8))
    counter = int((time.time() if at is None else at) // 30)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    seconds_left = 30 - int(time.time()) % 30
    print(f"{code(sys.argv[1])}  (valid for {seconds_left} more seconds; each code works once)")
