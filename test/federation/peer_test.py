"""The independent-peer test: hearth federating with a server it shares no code with.

    /usr/bin/python3 peer_test.py --hearth NAME --client URL --ca CA.pem \\
        --cert PEER.pem --key PEER.key --listen 127.0.0.3:PORT [--steps a,b] [--list]

NAME is hearth's server name (its federation listener, an IP literal with a
port), URL its client-server API (open registration, rate limits off), the
certificate is the peer's, for the IP it listens on, signed by the test CA
that hearth trusts (federation.ca_file) and that the peer trusts for hearth.

Each step prints "ok NAME" or "FAIL NAME: why"; the exit status is 1 when a
step failed. A step fails too when the peer recorded, during it, a request or
event from hearth that the specification refuses (peer.failures). The steps
are in steps_traffic.py and steps_checks.py, what they share in testkit.py.
"""

import sys
import traceback

# Steps run in the order they are registered: steps_traffic's, then steps_checks'.
import steps_traffic  # noqa: F401,I001
import steps_checks  # noqa: F401
from testkit import STEPS, HTTPFailure, StepFailed, args, fed, peer


def main():
    if args.list:
        print("\n".join(s.__name__ for s in STEPS))
        return 0
    only = [s for s in args.steps.split(",") if s]
    unknown = set(only) - {s.__name__ for s in STEPS}
    if unknown:
        print("unknown steps:", ", ".join(sorted(unknown)), file=sys.stderr)
        return 2
    peer.start()
    failed = 0
    try:
        for s in STEPS:
            if only and s.__name__ not in only:
                continue
            before = len(peer.failures)
            try:
                s()
                new = peer.failures[before:]
                if new:
                    raise StepFailed(f"the peer refused what hearth sent: {new}")
                print(f"ok   {s.__name__}", flush=True)
            except Exception as e:  # a step's failure is reported, the next step runs
                failed += 1
                detail = str(e) if isinstance(e, (StepFailed, HTTPFailure, fed.RemoteError, fed.Invalid)) \
                    else traceback.format_exc()
                print(f"FAIL {s.__name__}: {detail}", flush=True)
    finally:
        peer.stop()
    print(f"{failed} of {len(only) or len(STEPS)} steps failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
