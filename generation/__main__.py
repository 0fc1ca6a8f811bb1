"""Entry point of `python -m generation`."""

import sys

from generation.cli import main

if __name__ == "__main__":
    sys.exit(main())
