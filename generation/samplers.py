"""Named samplers: AUTOMATIC1111's sampler set mapped to diffusers schedulers, picked with `--sampler NAME`.

Each sampler has a short id (stored in requests and config: `euler_a`, `dpmpp_2m_karras`) and the name A1111 writes
into a PNG (`Sampler: DPM++ 2M, Schedule type: Karras`). `resolve_sampler` accepts either, in any case, quoted, with
underscores for spaces, or in A1111's older combined form (`DPM++ 2M Karras`). Names only are known at import time;
diffusers is imported when a scheduler is built.
"""

from dataclasses import dataclass, field
from typing import Any

KARRAS = "Karras"


@dataclass(frozen=True)
class Sampler:
    """One named sampler: A1111's name and schedule type, and the diffusers scheduler that realises it."""

    a1111: str  # A1111's `Sampler:` value
    scheduler: str  # diffusers class name
    overrides: dict[str, Any] = field(default_factory=dict)  # applied on top of the model's scheduler config
    schedule_type: str = ""  # A1111's `Schedule type:` ("Karras"), empty for the sampler's own schedule

    @property
    def label(self) -> str:
        """A1111's combined name, e.g. `DPM++ 2M Karras`."""
        return f"{self.a1111} {self.schedule_type}".strip()


def _karras_pair(a1111: str, scheduler: str, **overrides: Any) -> tuple[Sampler, Sampler]:
    """The sampler on its own schedule and its Karras-sigmas variant."""
    return (Sampler(a1111, scheduler, overrides | {"use_karras_sigmas": False}),
            Sampler(a1111, scheduler, overrides | {"use_karras_sigmas": True}, KARRAS))


_DPMPP = {"algorithm_type": "dpmsolver++", "solver_order": 2}
_LMS, _LMS_KARRAS = _karras_pair("LMS", "LMSDiscreteScheduler")
_DPM2, _DPM2_KARRAS = _karras_pair("DPM2", "KDPM2DiscreteScheduler")
_DPM2_A, _DPM2_A_KARRAS = _karras_pair("DPM2 a", "KDPM2AncestralDiscreteScheduler")
# diffusers has no ancestral single-step DPM++: the closest is the deterministic single-step solver.
_DPMPP_2S_A, _DPMPP_2S_A_KARRAS = _karras_pair("DPM++ 2S a", "DPMSolverSinglestepScheduler", **_DPMPP)
_DPMPP_2M, _DPMPP_2M_KARRAS = _karras_pair("DPM++ 2M", "DPMSolverMultistepScheduler", **_DPMPP)
# The Brownian-tree noise of DPM++ SDE is seeded per image with the image's seed, as A1111 does (see engine).
_DPMPP_SDE, _DPMPP_SDE_KARRAS = _karras_pair("DPM++ SDE", "DPMSolverSDEScheduler")
_DPMPP_2M_SDE, _DPMPP_2M_SDE_KARRAS = _karras_pair(
    "DPM++ 2M SDE", "DPMSolverMultistepScheduler", algorithm_type="sde-dpmsolver++", solver_order=2
)

# id -> sampler; "default" keeps the model's own scheduler (the engine records which one that is).
SAMPLERS: dict[str, Sampler | None] = {
    "default": None,
    "euler": Sampler("Euler", "EulerDiscreteScheduler", {"use_karras_sigmas": False}),
    "euler_a": Sampler("Euler a", "EulerAncestralDiscreteScheduler"),
    "lms": _LMS,
    "lms_karras": _LMS_KARRAS,
    "heun": Sampler("Heun", "HeunDiscreteScheduler", {"use_karras_sigmas": False}),
    "dpm2": _DPM2,
    "dpm2_karras": _DPM2_KARRAS,
    "dpm2_a": _DPM2_A,
    "dpm2_a_karras": _DPM2_A_KARRAS,
    "dpmpp_2s_a": _DPMPP_2S_A,
    "dpmpp_2s_a_karras": _DPMPP_2S_A_KARRAS,
    "dpmpp_2m": _DPMPP_2M,
    "dpmpp_2m_karras": _DPMPP_2M_KARRAS,
    "dpmpp_sde": _DPMPP_SDE,
    "dpmpp_sde_karras": _DPMPP_SDE_KARRAS,
    "dpmpp_2m_sde": _DPMPP_2M_SDE,
    "dpmpp_2m_sde_karras": _DPMPP_2M_SDE_KARRAS,
    "ddim": Sampler("DDIM", "DDIMScheduler", {"clip_sample": False}),  # SD latents are not bounded to [-1, 1]
    "pndm": Sampler("PNDM", "PNDMScheduler", {"skip_prk_steps": True}),
    "unipc": Sampler("UniPC", "UniPCMultistepScheduler", {"use_karras_sigmas": False}),
    "ddpm": Sampler("DDPM", "DDPMScheduler", {"clip_sample": False}),
    "lcm": Sampler("LCM", "LCMScheduler", {"clip_sample": False}),
    # SD-Turbo-style distillations (few-step models, see generation/fast.py): Euler with "trailing" timestep spacing,
    # so the first of 1-4 steps starts from pure noise.
    "euler_trailing": Sampler("Euler", "EulerDiscreteScheduler", {"use_karras_sigmas": False,
                                                                  "timestep_spacing": "trailing"}, "Trailing"),
}

SAMPLER_NAMES: tuple[str, ...] = tuple(SAMPLERS)
A1111_NAMES: tuple[str, ...] = tuple(s.label for s in SAMPLERS.values() if s is not None)
_ALIASES = {"plms": "pndm", "k_lms": "lms", "k_euler": "euler", "k_euler_a": "euler_a"}  # other tools' spellings


def _normal(name: str) -> str:
    """Case, quotes, underscores and repeated spaces do not matter: `"Euler a"`, `euler_a`, `EULER  A` agree."""
    return " ".join(name.strip().strip("\"'").replace("_", " ").lower().split())


_LOOKUP: dict[str, str] = {_normal(key): key for key in SAMPLERS}
_LOOKUP |= {_normal(sampler.label): key for key, sampler in SAMPLERS.items() if sampler is not None}
_LOOKUP |= {_normal(alias): key for alias, key in _ALIASES.items()}


def resolve_sampler(name: str, schedule_type: str = "") -> str:
    """The id of sampler `name` (an id or A1111's name; `schedule_type` as A1111 writes it); ValueError if unknown."""
    if not isinstance(name, str):
        raise ValueError(f"sampler must be a name, got {name!r}")  # noqa: TRY004 (callers report ValueErrors)
    # A1111 >= 1.6 writes "Automatic" for a sampler's own schedule.
    schedule = "" if _normal(schedule_type) in ("", "automatic") else schedule_type
    key = _LOOKUP.get(_normal(f"{name} {schedule}"))
    if key is None:
        raise ValueError(f"unknown sampler {name!r}; choose one of {', '.join(A1111_NAMES)} "
                         f"(quoted, or with _ for spaces) or {', '.join(SAMPLER_NAMES)}")
    return key


def check_sampler(name: str) -> str:
    """The id of sampler `name` (see resolve_sampler); ValueError listing the known names."""
    return resolve_sampler(name)


def a1111_fields(name: str) -> dict[str, str]:
    """The infotext keys of sampler id `name`: `Sampler` and, for Karras variants, `Schedule type`."""
    sampler = SAMPLERS[resolve_sampler(name)]
    if sampler is None:
        return {"Sampler": "Default"}
    fields = {"Sampler": sampler.a1111}
    if sampler.schedule_type:
        fields["Schedule type"] = sampler.schedule_type
    return fields


def sampler_of(scheduler: Any) -> str | None:
    """The id whose scheduler is exactly `scheduler` (same class and overridden settings), or None."""
    for key, sampler in SAMPLERS.items():
        if sampler is None or sampler.scheduler != type(scheduler).__name__:
            continue
        if all(scheduler.config.get(setting) == value for setting, value in sampler.overrides.items()):
            return key
    return None


def make_scheduler(name: str, default_scheduler: Any, seeds: tuple[int, ...] = ()) -> Any:
    """A new scheduler for sampler `name`, configured from the model's own scheduler ("default": the same class).

    `seeds` (one per image of the call) seed the Brownian-tree noise of DPM++ SDE, as A1111 seeds it.
    """
    import diffusers

    # A fresh scheduler every run: schedulers keep per-run state (step index, solver history, noise sampler).
    sampler = SAMPLERS[resolve_sampler(name)]
    if sampler is None:
        return type(default_scheduler).from_config(default_scheduler.config)
    overrides = dict(sampler.overrides)
    if sampler.scheduler == "DPMSolverSDEScheduler" and seeds:
        overrides["noise_sampler_seed"] = list(seeds) if len(seeds) > 1 else seeds[0]
    return getattr(diffusers, sampler.scheduler).from_config(default_scheduler.config, **overrides)
