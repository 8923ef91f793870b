"""gunicorn settings for the citizen portal (`gunicorn -c config/gunicorn/citizen.py wsgi:citizen`).

No access log: it would record reporters' addresses and the times of their requests. The error log
is kept at "warning", where gunicorn writes no client address.
"""

import multiprocessing
import os

bind = os.environ.get("CITIZEN_BIND", "127.0.0.1:8080")
workers = int(os.environ.get("CITIZEN_WORKERS", multiprocessing.cpu_count() * 2))
worker_class = "gthread"
threads = int(os.environ.get("CITIZEN_THREADS", "4"))
keepalive = 5
timeout = 30
graceful_timeout = 20
# Recycle workers now and then so no long-lived process accumulates memory.
max_requests = 5000
max_requests_jitter = 500
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
