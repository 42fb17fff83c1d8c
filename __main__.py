"""`python -m sphembed ...` is the `sphembed` command."""

from sphembed.cli import main

raise SystemExit(main())
