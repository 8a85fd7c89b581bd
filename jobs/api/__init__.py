"""The farm's HTTP face (`farm api`): REST and Server-Sent Events over the CLI's own functions,
on TCP and a unix socket, and the studio page at `/`.

app.py assembles it; gate.py is the door (bearer token, host names, body size); errors.py
maps the farm's errors to status codes; routes.py the requests that answer at once;
streams.py the live ones (events by catalog id, an `llm` job's text); artifacts.py the blobs;
server.py binds and serves; static/ is the page.
"""
