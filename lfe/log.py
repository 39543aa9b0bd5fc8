"""lfe's one logger: warnings and progress messages go to ``logging.getLogger("lfe")``.

A library user silences or captures them with the standard ``logging`` tools; the ``lfe`` command
prints them on stderr (``lfe.cli``). Progress bars (tqdm) are separate and switched off with
``progress=False`` or ``--quiet``.
"""

import logging

logger = logging.getLogger("lfe")
