"""The loaders under a seeded mutation fuzzer (issue 29): a few hundred damaged or hostile .keras, .weights.h5,
legacy .h5 files and archives (tests/fuzz_loaders.py says which mutations and which outcomes are allowed). Run in
a child process, so a crash or a hang is a failure of this test, not of the test session."""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def test_every_loader_survives_the_fuzzer():
    r = subprocess.run([sys.executable, os.path.join(HERE, "fuzz_loaders.py"), "--seed", "29", "--cases", "400",
                        "--deadline", "60"], capture_output=True, text=True, timeout=600)
    assert r.stdout.strip(), "the fuzzer died (crash or hang) after: %s" % r.stderr[-3000:]
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["failures"] == [], json.dumps(summary["failures"][:5], indent=1)
    assert r.returncode == 0
    for target, outcomes in summary["outcomes"].items():  # both ends exercised: loads that succeed and refusals
        assert outcomes.get("refused", 0) > 0 and outcomes.get("equal", 0) > 0, (target, outcomes)
    assert sum(sum(o.values()) for o in summary["outcomes"].values()) == 400
