"""gunicorn settings for the reviewer app (`gunicorn -c config/gunicorn/reviewer.py wsgi:reviewer`).

Bind it where only the inspectorate's network (or its authorised onion service) reaches. No access
log: the audit trail records what inspectors do, with less than a log line would leak.
"""

import multiprocessing
import os

bind = os.environ.get("REVIEWER_BIND", "127.0.0.1:8081")
# A unix socket (unix:/run/portal-reviewer/gunicorn.sock, config/deploy/systemd/) is made rwx for its owner and
# group only: the group is nginx's (www-data), so other local users cannot reach the app but through nginx.
umask = 0o007
# A login runs Argon2id twice (64 MiB each by default): a few sync workers serve a team of
# inspectors; more would only raise peak memory.
workers = int(os.environ.get("REVIEWER_WORKERS", multiprocessing.cpu_count() * 2))
worker_class = "sync"
keepalive = 5
# Inspectors send files to reporters and download evidence: a sync worker is busy for a whole transfer.
timeout = int(os.environ.get("REVIEWER_TIMEOUT", "300"))
graceful_timeout = 20
max_requests = 2000
max_requests_jitter = 1000
accesslog = None
errorlog = "-"
loglevel = "warning"
capture_output = False
control_socket_disable = True
proc_name = "portal-reviewer"
forwarded_allow_ips = ""
limit_request_line = 8190
limit_request_fields = 60


def post_worker_init(worker: object) -> None:
    """The app is loaded and lives as long as the worker: keep its objects out of full garbage
    collections, whose 60–75 ms pauses were the queue page's p99 (docs/BENCHMARKS.md)."""
    import gc

    gc.collect()
    gc.freeze()
