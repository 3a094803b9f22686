import os
import sys

try:
    from bench.cli import main
    from bench.interrupts import redeliver_interrupts
except KeyboardInterrupt:  # Ctrl-C while torch and the rest are imported: nothing had started
    print("interrupted before anything started", file=sys.stderr)
    sys.exit(130)

redeliver_interrupts()
try:
    sys.exit(main())
except KeyboardInterrupt:  # while the arguments were parsed (a registry imported): nothing had started
    print("interrupted before anything started", file=sys.stderr)
    sys.exit(130)
except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as other tools do
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(1)
