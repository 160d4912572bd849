"""``python -m mixup_core`` runs the ``mixup`` command line."""

from mixup_core.cli import main

raise SystemExit(main())
