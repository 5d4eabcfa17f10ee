"""``dueq dashboard``: a web UI over the job store, run history, workers and dead letters.

Server-rendered pages (Starlette + Jinja2, no Node build step) that refresh their live
part by polling.  ``app.create_app`` builds the ASGI app, ``server.DashboardServer`` runs
it in a thread (``dueq up``) and ``forecast`` counts the next 24 hours of runs.  Nothing
here is imported until a dashboard is asked for, so the web stack stays an optional extra.
"""
