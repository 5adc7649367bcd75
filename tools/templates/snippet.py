"""{{title}}: what this module teaches, in one sentence.

Read first: the page(s) this one builds on. What it leaves out: the parts of the
real mechanism that the snippet skips on purpose, so nobody takes it for production.

Run it: `python -m snippets.{{layer}}.{{topic}}`.
"""


# --8<-- [start:mechanism]
def mechanism(items: list[int]) -> int:
    """Replace with the mechanism the page builds.

    Args:
        items: What the mechanism works on.

    Returns:
        What it produces.
    """
    return sum(items)


# --8<-- [end:mechanism]


# The demo's `#>` lines are the output that the docs test checks; ruff format would
# rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo]
    print(mechanism([1, 2, 3]))
    #> 6
    # --8<-- [end:demo]
