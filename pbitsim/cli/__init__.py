"""Command-line interface (click + rich). Subcommands load lazily to keep start-up fast."""
