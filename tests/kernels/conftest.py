import os

import pytest

# Triton's interpreter, on CPU, is switched on in tests/conftest.py: before anything imports triton.


@pytest.fixture(autouse=True)
def interpreter_with_bfloat16_dots(monkeypatch) -> None:
    """Teach the interpreter bfloat16 ``tl.dot``, which GPUs run natively (the statistics kernel
    uses it).

    The interpreter stores bfloat16 as uint16 and multiplies the bit patterns
    (triton-lang/triton#11584, "not supported yet"); here the operands are converted to float32
    first, exactly as the fix proposed upstream does (#11585). Products of bfloat16 values are exact
    in float32, so this is the GPU's result.
    """
    if os.environ.get("TRITON_INTERPRET") != "1":
        return
    try:
        from triton.runtime import interpreter
    except ImportError:
        return
    import numpy as np
    import triton.language as tl

    def as_float32(handle):
        if handle.dtype.scalar != tl.bfloat16:
            return handle
        data = interpreter._convert_float(handle.data, tl.bfloat16, tl.float32, None).view(
            np.float32
        )
        return interpreter.TensorHandle(data, tl.float32)

    original = interpreter.InterpreterBuilder.create_dot
    monkeypatch.setattr(
        interpreter.InterpreterBuilder,
        "create_dot",
        lambda self, a, b, d, *rest: original(self, as_float32(a), as_float32(b), d, *rest),
    )
