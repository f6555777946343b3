"""Property tests over the command line: any flags either parse or give UsageError."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fetchbench.cli import parse_run_options
from fetchbench.errors import UsageError
from fetchbench.options import RunOptions

FLAGS = ["--strategy", "--workers", "--cpus", "--repeat", "--warmup", "--timeout",
         "--max-bytes", "--max-time", "--urls", "--delay", "--size", "--seed", "--format",
         "--output"]
VALUES = st.one_of(
    st.text(max_size=12),
    st.integers(-10**6, 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["all", "thread,serial", "thred", "0", "-1", "1..64x2", "64..1", "1e400",
                     "100ms", "1KiB..256KiB", "nan", "inf", "10..", "..", ",", "1,,2", "0x10",
                     "table", "xml", "9" * 30]),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(FLAGS), VALUES), max_size=4))
def test_flags_parse_or_fail_with_one_line_usage_error(pairs):
    args = [item for pair in pairs for item in pair]
    try:
        options = parse_run_options(args)
    except UsageError as exc:
        message = str(exc)
        assert message and "\n" not in message
        return
    assert isinstance(options, RunOptions)
    assert options.timeout > 0 and options.max_bytes > 0 and options.repeat >= 1
    assert options.workers is None or min(options.workers) >= 1
    assert min(options.cpus) >= 1
