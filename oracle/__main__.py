"""``python -m oracle``: the same as the ``rnn-oracle`` command."""

import sys

from oracle.cli import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m oracle"))
