"""Absolute accuracy floors the tests hold exported artifacts to (never an artifact's own recorded figure).

A check against the artifact's own parity record (`>= parity.top1_agreement - 0.05`) passes
for any artifact whose export already went wrong; these floors do not move with the export.
"""

from __future__ import annotations

#: the lowest top-1 agreement with the float reference a quantized (int8, fp16) artifact may
#: show, on the eval set or under load (the digits and text models' exports agree on >= 99%)
QUANTIZED_TOP1_FLOOR = 0.95
#: how far below the float reference's accuracy a quantized artifact may land (as the digits model)
QUANTIZED_ACCURACY_DROP = 0.02
#: fp16 keeps the float model's classes
FP16_TOP1_FLOOR = 0.99
#: fp32: the same logits as the reference, within
FP32_ATOL = 1e-4
