import sys

from envtorch.cli import main

sys.exit(main())
