"""Loads a checkpoint written by `pact` into the PyTorch peer's network and checks that both
compute the same logits in evaluation mode.

    cargo run --release --example export_resnet -- /tmp/interop 5
    .venv-peer/bin/python scripts/check_torch_interop.py /tmp/interop 5
"""
import os
import sys

import torch
from safetensors.torch import load_file

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "peer"))
from torch_resnet import AdaptiveResNet  # noqa: E402

out, units = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 5
state = load_file(os.path.join(out, "model.safetensors"))
io = load_file(os.path.join(out, "io.safetensors"))
net = AdaptiveResNet(units, "plain", channels=3, classes=10)
missing, unexpected = net.load_state_dict(state, strict=False)
# PyTorch keeps a batch counter that pact has no use for; nothing else may be missing.
missing = [k for k in missing if not k.endswith("num_batches_tracked")]
assert not missing and not unexpected, (missing, unexpected)
net.eval()
with torch.no_grad():
    logits, _ = net(io["input"])
diff = (logits - io["logits"]).abs().max().item()
print(f"{len(state)} tensors loaded; max |logit difference| = {diff:.2e}")
assert diff < 1e-4, diff
print("ok: PyTorch reproduces pact's logits")
