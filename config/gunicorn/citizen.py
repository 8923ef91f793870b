"""gunicorn settings for the citizen portal (`gunicorn -c config/gunicorn/citizen.py wsgi:citizen`).

No access log: it would record reporters' addresses and the times of their requests. The error log
is kept at "warning", where gunicorn writes no client address.
"""

import multiprocessing
import os

bind = os.environ.get("CITIZEN_BIND", "127.0.0.1:8080")
# A unix socket (unix:/run/portal-citizen/gunicorn.sock, config/deploy/systemd/) is made rwx for its owner and
# group only: the group is nginx's (www-data), so other local users cannot reach the app but through nginx.
umask = 0o007
# Sync workers, one request at a time each: on the 2-core benchmark they gave the best throughput
# and tails (docs/BENCHMARKS.md), and the limiter's in-memory storage is not thread-safe (limits
# 5.8.0). nginx in front (config/deploy/nginx/) buffers answers in memory, so a slow reader holds no worker;
# request bodies it streams instead of writing them to its disk, so an upload holds a worker while it lasts.
workers = int(os.environ.get("CITIZEN_WORKERS", multiprocessing.cpu_count() * 2))
worker_class = os.environ.get("CITIZEN_WORKER_CLASS", "sync")
threads = int(os.environ.get("CITIZEN_THREADS", "1"))
keepalive = 5
# A sync worker is busy for a whole upload: evidence files of tens of MB over Tor take minutes, so the
# hung-worker timeout must be longer than the slowest upload the limits allow (README "Evidence files").
timeout = int(os.environ.get("CITIZEN_TIMEOUT", "300"))
graceful_timeout = 20
# Recycle workers now and then so no long-lived process accumulates memory.
max_requests = 5000
# A wide jitter, so workers started together do not all restart together.
max_requests_jitter = 2500
accesslog = None
errorlog = "-"
loglevel = "warning"
capture_output = False
# gunicorn >= 25.1 opens a runtime control socket by default; nothing here needs it.
control_socket_disable = True
proc_name = "portal-citizen"
forwarded_allow_ips = ""
limit_request_line = 8190
limit_request_fields = 60
