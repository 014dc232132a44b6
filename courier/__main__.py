"""`python -m courier` is the `courier` command."""

import sys

from courier.cli import main

sys.exit(main())
