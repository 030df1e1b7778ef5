"""`python -m backend.cli`: the same as the `switchboard` command."""

import sys

from backend.cli.main import main

sys.exit(main())
