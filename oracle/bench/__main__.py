"""``python -m oracle.bench``: the same as ``rnn-oracle bench``."""

import sys

from oracle.bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
