"""Built-in source formats; importing this package registers them.

Their column signatures do not overlap, so the order they are tried in does not matter;
"generic" has no detector and is the fallback.
"""

from safealign.data.formats import (  # noqa: F401  (imported to register)
    aegis,
    beavertails,
    do_not_answer,
    generic,
    harmful_prompts,
    hh_rlhf,
    pku,
    unified,
    xstest,
)
