"""What a refused input must print: exactly one error line, no traceback."""


def one_line(err: str) -> str:
    """The single error line of ``err`` (asserting there is only one)."""
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("itr-bench: error: ")]
    assert len(errors) == 1 and "Traceback" not in err, err
    return errors[0]
