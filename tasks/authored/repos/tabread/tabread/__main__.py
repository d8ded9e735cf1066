import sys

from tabread.cli import main

sys.exit(main())
