"""What a key rotation costs: the command, and the first login of each person after it.

    .venv/bin/python tests/bench/key_rotation.py [--inspectors 50] [--keys 3] [--cost moderate|interactive]

Makes a fresh SQLite database in a temporary directory, an intake key and N accounts at the chosen Argon2id
cost (the production default is moderate), then times:

1. `keys rotate` as the service runs it (`portal.intake_keys.rotate`), after K-1 earlier rotations, so the
   recovery passphrase opens K-1 keys first: one Argon2id per retired key to prove the passphrase, one to wrap
   the new key, then a sealed box per active account in one transaction;
2. a login with a waiting grant (password hash check + unwrap + grant + re-wrap under the password) against
   a login with nothing to claim, both through `portal.logins.log_in`, so the re-wrap's extra cost shows;
3. `keys change-recovery` with K keys.

Prints a table of medians. A script, not a test: no assertions on time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from crypto.keyring import Keyring
from portal import accounts, intake_keys, logins
from portal.accounts import Role, utcnow
from portal.db import Database
from portal.login_sessions import Lifetime
from portal.migrate import upgrade
from portal.settings import KDF_COSTS

AUDIT_KEY = b"benchmark-audit-key-0123456789abcdef"
SECRET_KEY = "benchmark-secret-key-0123456789abcdef"


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inspectors", type=int, default=50)
    parser.add_argument("--keys", type=int, default=3, help="intake keys after the timed rotation")
    parser.add_argument("--cost", choices=["moderate", "interactive"], default="moderate")
    parser.add_argument("--logins", type=int, default=5)
    options = parser.parse_args()
    cost = KDF_COSTS[options.cost]

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        upgrade(url)
        db = Database(url)
        _, passphrase = intake_keys.create_first(db, cost, AUDIT_KEY)
        keyring = intake_keys.recovery_keyring(db, passphrase)
        passwords: dict[str, str] = {}
        for number in range(options.inspectors):
            username = f"thanh-tra-{number:03d}"
            account = accounts.new_account(
                username=username, display_name=username, role=Role.INSPECTOR,
                keyring=Keyring(keyring.intake), cost=cost, app_secret_key=SECRET_KEY,
            )  # fmt: skip
            account.inspector.totp_enrolled = False
            accounts.store_account(db, account, AUDIT_KEY, actor_id=None, actor="bench")
            passwords[username] = account.one_time_password
        for _ in range(options.keys - 2):
            intake_keys.rotate(db, passphrase, cost, AUDIT_KEY)

        rotation = timed(lambda: intake_keys.rotate(db, passphrase, cost, AUDIT_KEY))
        settings = logins.LoginSettings(
            cost, SECRET_KEY, AUDIT_KEY, Lifetime(timedelta(minutes=30), timedelta(hours=8))
        )

        def login(username: str) -> float:
            credentials = logins.Credentials(username, passwords[username], "")
            return timed(lambda: logins.log_in(db, credentials, settings, utcnow()))

        names = sorted(passwords)[: options.logins]
        with_grant = [login(name) for name in names]  # each claims the grant the rotation made
        without = [login(name) for name in names]  # nothing left to claim
        change = timed(lambda: intake_keys.change_recovery_passphrase(db, passphrase, cost, AUDIT_KEY))
        db.dispose()

    print(f"Argon2id cost: {options.cost} (opslimit {cost.opslimit}, memlimit {cost.memlimit // 2**20} MiB)")
    print(f"accounts: {options.inspectors}, intake keys after the rotation: {options.keys}")
    print(f"{'keys rotate':<40}{rotation:>8.2f} s")
    print(f"{'first login after it (median)':<40}{statistics.median(with_grant):>8.2f} s")
    print(f"{'a later login (median)':<40}{statistics.median(without):>8.2f} s")
    print(f"{'keys change-recovery':<40}{change:>8.2f} s")


if __name__ == "__main__":
    main()
