import sys

try:
    from bench.cli import main
except KeyboardInterrupt:  # Ctrl-C while torch and the rest are imported: nothing had started
    print("interrupted before anything started", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
