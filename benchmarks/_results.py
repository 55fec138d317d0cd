"""Where every benchmark script records its result: appended to benchmarks/RESULTS.md."""
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def publish(text: str) -> None:
    """Print the section and append it to RESULTS.md (machine, date and command are in `text`)."""
    print(text)
    with open(RESULTS, "a") as fh:
        fh.write("\n" + text)
