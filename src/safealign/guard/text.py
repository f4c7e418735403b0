"""How a conversation becomes encoder input: the request side and the response side.

The request side carries earlier turns too (as "role: text" lines), because a harmless-looking
last message can be harmful in context. The two sides go in as a sentence pair, so the encoder's
segment ids tell the heads which tokens are the answer.
"""

from __future__ import annotations

from safealign.guard.verdict import Turns


def request_text(turns: Turns) -> str:
    """Earlier turns, then the last user request."""
    lines = [f"{m.role}: {m.content}" for m in turns.context]
    return "\n".join([*lines, turns.prompt]) if lines else turns.prompt
