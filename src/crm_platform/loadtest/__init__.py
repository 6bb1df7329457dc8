"""``crm-platform loadtest``: a Locust scenario of Twenty's public API, run in a subprocess
(Locust patches the standard library with gevent on import, which must not reach the CLI
or the test runner), judged against the configured thresholds (docs/adr/0041).

``shapes`` holds the requests (taken from Twenty's source), ``scenario`` the Locust file
(imported only inside the subprocess), ``guard`` what a run refuses or warns about,
``run`` the subprocess, ``results`` the figures read back from Locust's CSV files.
"""
