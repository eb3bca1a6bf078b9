"""The README's code must work: the loss plugin example registers and trains."""

import re
import types
from pathlib import Path

import torch
import torch.nn.functional as F

from itr_bench.api import LossContext
from itr_bench.plugins import load_registry

README = Path(__file__).resolve().parents[2] / "README.md"


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_loss_plugin_works(pm, register_plugin):
    (source,) = [b for b in python_blocks() if "register_losses" in b]
    module = types.ModuleType("my_loss")
    exec(compile(source, "README.md", "exec"), module.__dict__)
    register_plugin(module, "my_loss")
    loss = load_registry(pm).create("loss", "my-hinge", LossContext(embed_dim=4))
    image = F.normalize(torch.randn(5, 4), dim=1).requires_grad_()
    text = F.normalize(torch.randn(5, 4), dim=1)
    value = loss(image, text, torch.tensor([0, 1, 2, 2, 3]))["hinge"]
    value.backward()
    assert value > 0 and image.grad.abs().sum() > 0


def test_readme_test_command_is_what_ci_runs():
    ci = (README.parent / ".ci" / "run").read_text()
    assert "<!-- test-command" in ci and "<!-- test-command" in README.read_text()
