import sys

from fer_engine.cli import main

sys.exit(main())
