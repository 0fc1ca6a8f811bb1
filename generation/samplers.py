"""Named samplers: a small fixed set of diffusers schedulers users may pick with `--sampler NAME`.

Names only are known at import time; diffusers is imported when a scheduler is built.
"""

from typing import Any

# name -> (diffusers scheduler class name, extra config); "default" keeps the model's own scheduler.
SAMPLERS: dict[str, tuple[str, dict[str, Any]]] = {
    "default": ("", {}),
    "euler": ("EulerDiscreteScheduler", {}),
    "euler_a": ("EulerAncestralDiscreteScheduler", {}),
    "dpmpp_2m": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2}),
    "dpmpp_2m_karras": (
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "dpmsolver++", "solver_order": 2, "use_karras_sigmas": True},
    ),
    "ddim": ("DDIMScheduler", {"clip_sample": False}),  # SD latents are not bounded to [-1, 1]
    "pndm": ("PNDMScheduler", {"skip_prk_steps": True}),
    "unipc": ("UniPCMultistepScheduler", {}),
}

SAMPLER_NAMES: tuple[str, ...] = tuple(SAMPLERS)


def check_sampler(name: str) -> str:
    """Return `name` if it is a known sampler, else raise ValueError listing the known names."""
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; choose one of {', '.join(SAMPLER_NAMES)}")
    return name


def make_scheduler(name: str, default_scheduler: Any) -> Any:
    """A new scheduler called `name`, configured from the model's own scheduler ("default": the same class)."""
    import diffusers

    # A fresh scheduler every run: schedulers keep per-run state (step index, solver history).
    class_name, overrides = SAMPLERS[check_sampler(name)]
    scheduler_class = getattr(diffusers, class_name) if class_name else type(default_scheduler)
    return scheduler_class.from_config(default_scheduler.config, **overrides)
