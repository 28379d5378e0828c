"""The web chat: `python app.py [--host 127.0.0.1] [--port 7860] [--collection seeds] [--llm auto] [--open]`.

The same as `rag serve`: indexes seeds/ first when the collection is empty, loads the models,
then serves the page (bound to 127.0.0.1 unless --host says otherwise).
"""

import signal

import typer

from rag.apps.cli.corpus import serve
from rag.apps.cli.main import terminate

if __name__ == "__main__":
    signal.signal(signal.SIGTERM, terminate)  # unwinds like Ctrl-C: the local model is stopped
    typer.run(serve)
