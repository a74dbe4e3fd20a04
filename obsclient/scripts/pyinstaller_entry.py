"""Entry point of the single-file executable built from obsclient.spec."""

import multiprocessing
import sys

from obsclient.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # Windows: a frozen program must call this first
    sys.exit(main())
