import sys

from valuegraph.cli import main

sys.exit(main())
