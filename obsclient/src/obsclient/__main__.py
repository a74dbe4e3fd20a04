from obsclient.cli import main

raise SystemExit(main())
