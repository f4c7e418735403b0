"""What the two synthesisers (C2-Syn course correction, red-team BFPO pairs) share.

Both ask a small instruct model to play the "aligned model" that writes the safe side of a
pair; they share that system prompt, and the refusal rule (`safealign.data.refusal`) that
decides which of their answers refuse. Keeping the shared constant here, below both, means
neither synthesiser imports the other.
"""

from __future__ import annotations

SAFETY_SYSTEM_PROMPT = (
    "You are a helpful and harmless assistant. If a request could help someone cause harm, "
    "break the law or hurt themselves or others, do not help with it: say clearly that you "
    "cannot help, explain why in one sentence, and suggest a safe alternative."
)
"""Makes a small instruct model act as the "aligned model" of C2-Syn on CPU."""
