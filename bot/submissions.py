"""Turn commands and button clicks into queued jobs: validate, pick seeds, check limits, enqueue once."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
from collections.abc import Callable
from pathlib import Path

from bot.admission import Admission, Origin, Ticket
from bot.config import Config
from bot.errors import PromptBlocked, UnknownJob, UserError
from bot.fast_jobs import fast_model_of, fast_name, make_fast
from bot.policy import ChannelFacts, JobAsk, model_name, offered_models
from bot.prompt_filter import PromptFilter
from bot.remix import remixed
from db.queue import Enqueued, JobView, NewJob, Queue
from db.safety import BlockView, SafetyStore
from generation.canvas import outpaint_request, region_request
from generation.errors import RequestError
from generation.fast import enhance_request
from generation.networks import resolve_lora_tags
from generation.prompt_params import PromptSpec
from generation.refine import img2img_request, refine_request, upload_upscale_request
from generation.requests import GenerationKind, GenerationRequest, fit_size
from generation.tokens import check_token_limit, load_tokenizer
from generation.variations import reroll_request, variation_request

log = logging.getLogger(__name__)

# The command a kind of job counts as in channel profiles (a re-roll or an Enhance is another /imagine).
# Which command a channel profile's `commands` list must allow for each kind of job. Vary (Region) repaints part of
# an image, so it counts as /vary; Zoom Out, Pan and Make Square paint new picture around it, like /imagine.
COMMAND_OF_KIND = {"imagine": "imagine", "reroll": "imagine", "enhance": "imagine", "variation": "vary",
                   "img2img": "vary", "refine": "upscale", "inpaint": "vary", "outpaint": "imagine"}

# A1111 seeds are 32-bit; tiles use base_seed + 0..3, so stay 4 below the top.
MAX_BASE_SEED = 2**32 - 5


class TokenLimit:
    """Checks prompts against the model's own tokenizer (loaded once, without the pipeline)."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.tokenizer = None

    async def load(self) -> None:
        """Load the tokenizer in a thread; if that fails, say so loudly (the worker will then reject long prompts)."""
        try:
            self.tokenizer = await asyncio.to_thread(load_tokenizer, self.model)
        except Exception as exc:  # a missing hub cache must not keep the bot from starting
            log.error("could not load the tokenizer of %s (%s); prompt length is not checked before queueing",
                      self.model, exc)

    def __call__(self, prompt: str) -> None:
        """Raise PromptError when the prompt is longer than the text encoder reads."""
        if self.tokenizer is not None:
            check_token_limit(self.tokenizer, prompt)


def random_seed() -> int:
    """A fresh base seed for a grid."""
    return secrets.randbelow(MAX_BASE_SEED + 1)


class Submissions:
    """Everything that may put a job in the queue goes through here."""

    def __init__(self, queue: Queue, config: Config, *, check_prompt: Callable[[str], None] | None = None,
                 seed: Callable[[], int] = random_seed, admission: Admission | None = None) -> None:
        self.queue, self.config = queue, config
        self.admission = admission or Admission(queue, config)
        self.check_prompt = check_prompt or (lambda prompt: None)
        self.prompt_filter = PromptFilter(config.moderation.banned_words, config.moderation.banned_patterns)
        self.safety = SafetyStore(queue.engine, clock=queue.now)
        self.seed = seed

    # -- building blocks -------------------------------------------------------------------------------------
    async def _screen(self, origin: Origin, kind: str, request: GenerationRequest) -> None:
        """Refuse a prompt that breaks the server's content rules, before anything is queued; keep it for appeal."""
        if (match := self.prompt_filter.match(request.prompt)) is None:
            return
        block = await self.safety.record_block(
            guild_id=origin.guild_id, channel_id=origin.channel_id, user_id=origin.user_id, role_ids=origin.role_ids,
            kind=kind, prompt=request.prompt, params=request.to_dict(), rule=str(match))
        raise PromptBlocked(str(match), block.id)

    def check_words(self, text: str) -> None:
        """Content rules and token length for words that are not a job yet (a /settings suffix); names no rule."""
        if self.prompt_filter.match(text) is not None:
            raise UserError("Those words are blocked by this server's content rules; nothing was saved.")
        self.check_prompt(text)

    def _priority(self, origin: Origin) -> float:
        weights = [self.config.priority.users.get(origin.user_id, 1.0)]
        weights += [self.config.priority.roles[r] for r in origin.role_ids if r in self.config.priority.roles]
        return max(weights)

    def ask(self, command: str, request: GenerationRequest | None) -> JobAsk:
        """A request in the terms channel profiles use (None: the defaults, for a pre-check)."""
        m, g = self.config.model, self.config.generation
        offered = offered_models(m.default, m.choices, self.config.fast_models)
        if request is None:
            return JobAsk(command=command, model_name=model_name(m.default, offered),
                          steps=g.steps, pixels=0, images=1 if command == "upscale" else 4)
        return JobAsk(command=command, model_name=model_name(request.model or m.default, offered),
                      steps=request.num_inference_steps, pixels=request.width * request.height,
                      images=len(request.seeds))

    async def precheck(self, origin: Origin, command: str) -> None:
        """Ban, channel, limits and quota, before expensive work such as downloading an upload."""
        await self.admission.precheck(Ticket(origin=origin, ask=self.ask(command, None)))

    async def _enqueue(self, origin: Origin, kind: str, request: GenerationRequest, *,
                       parent: JobView | None = None, parent_tile: int | None = None) -> Enqueued:
        """Through the door: every check runs inside the enqueue's transaction, exactly once per interaction."""
        command = COMMAND_OF_KIND[kind]
        new = NewJob(
            interaction_id=origin.interaction_id, user_id=origin.user_id, guild_id=origin.guild_id,
            channel_id=origin.channel_id, kind=kind, prompt=request.prompt,
            negative_prompt=request.negative_prompt, params=request.to_dict(), base_seed=request.seeds[0],
            model=request.model, parent_job_id=parent.id if parent else None, parent_tile=parent_tile,
            priority=self._priority(origin))
        return await self.admission.enqueue(Ticket(origin=origin, ask=self.ask(command, request), new=new,
                                                   parent=parent))

    async def _parent(self, origin: Origin, job_id: int, tile: int) -> tuple[JobView, GenerationRequest]:
        """Load a finished job of this server and check the tile exists."""
        job = await self.queue.get(job_id)
        if job is None or job.guild_id != origin.guild_id:
            raise UnknownJob(f"There is no job #{job_id} on this server.")
        if job.status != "succeeded" or not job.result_dir:
            raise UserError(f"Job #{job_id} has no images yet (it is {job.status}).")
        if job.pruned_at is not None:
            raise UserError(f"The images of job #{job_id} were deleted: this server keeps images "
                            f"{self.config.data_keep_days} days. Run /imagine again with its prompt.")
        request = GenerationRequest.from_dict(job.params)
        if not 1 <= tile <= len(request.seeds):
            raise UserError(f"Job #{job_id} has {len(request.seeds)} image(s); tile {tile} does not exist.")
        return job, request

    @staticmethod
    def tile_path(job: JobView, tile: int) -> Path:
        """One tile of a finished job, relative to the data folder (workers resolve it against theirs)."""
        return Path("outputs") / str(job.id) / f"tile-{tile}.png"

    # -- what members can ask for ----------------------------------------------------------------------------
    async def imagine(self, origin: Origin, request: GenerationRequest) -> Enqueued:
        """Queue a new grid from an already-parsed request."""
        await self._screen(origin, "imagine", request)
        self.check_prompt(request.prompt)
        return await self._enqueue(origin, "imagine", request)

    async def allow_once(self, block: BlockView, interaction_id: int, *,
                         channel: ChannelFacts | None = None) -> Enqueued:
        """Queue a refused prompt exactly as it was asked, for its member, because a moderator allowed it once.

        It goes through the same door as the member's own command (their profile, limits and quota), judged in
        the channel where they asked (`channel`: its category and age restriction, when the bot can see it).
        """
        origin = Origin(interaction_id=interaction_id, user_id=block.user_id, guild_id=block.guild_id,
                        channel_id=block.channel_id, role_ids=tuple(block.role_ids), channel=channel)
        return await self._enqueue(origin, block.kind, GenerationRequest.from_dict(block.params))

    async def reroll(self, origin: Origin, job_id: int) -> Enqueued:
        """Same prompt and settings as job_id, new seeds."""
        parent, request = await self._parent(origin, job_id, 1)
        request = reroll_request(request, self.seed())
        return await self._enqueue(origin, "reroll", request, parent=parent)

    async def vary(self, origin: Origin, job_id: int, tile: int, strong: bool | None, *,
                   default_strong: bool = False, edit: PromptSpec | None = None) -> Enqueued:
        """Four seed-locked variations of one tile (img2img variations for a single upscaled image).

        strong=None takes the member's default (their /settings variation) for a grid's tile, subtle otherwise;
        `edit` is a Remix: the variations follow the edited prompt.
        """
        parent, request = await self._parent(origin, job_id, tile)
        g = self.config.generation
        is_grid = request.kind in (GenerationKind.txt2img, GenerationKind.variation)
        strong = (default_strong if is_grid else False) if strong is None else strong
        if edit is not None:
            request = self._remixed_variation(job_id, request, edit)
        if not is_grid:
            # An upscaled or uploaded image has no noise of its own to vary: vary it through img2img instead.
            base = dataclasses.replace(request, seeds=(self.seed(),) * 4)
            kind, child = "img2img", img2img_request(base, init_image=str(self.tile_path(parent, tile)),
                                                     image_size=(request.width, request.height),
                                                     strength=g.img2img_strong if strong else g.img2img_subtle,
                                                     max_pixels=g.width * g.height)
        else:
            kind, child = "variation", variation_request(
                request, tile, strength=g.variation_strong if strong else g.variation_subtle,
                variation_base_seed=self.seed())
        if edit is not None:  # a new prompt: checked like any other
            await self._screen(origin, kind, child)
            self.check_prompt(child.prompt)
        return await self._enqueue(origin, kind, child, parent=parent, parent_tile=tile)

    async def remix_reroll(self, origin: Origin, job_id: int, edit: PromptSpec) -> Enqueued:
        """Re-roll with an edited prompt (Remix): a new grid from the edited text, linked to its parent."""
        parent, request = await self._parent(origin, job_id, 1)
        fast = fast_model_of(self.config, request)
        if edit.fast:  # the parent's fast model, or the server's for a full-model parent
            child = make_fast(self.config, edit.to_request(base_seed=self.seed(), model=self.config.model.default),
                              fast or fast_name(self.config))
        elif fast is not None:  # --fast taken out of a fast grid's text: the full model, as Enhance uses it
            model = self.config.fast_models[fast].enhance_model or self.config.model.default
            if edit.sampler == "default":
                edit = dataclasses.replace(edit, sampler=self.config.generation.sampler)
            child = edit.to_request(base_seed=self.seed(), model=model)
        else:
            if edit.sampler == "default":  # no --sampler flag: the parent's
                edit = dataclasses.replace(edit, sampler=request.sampler)
            child = edit.to_request(base_seed=self.seed(), model=request.model)
        await self._screen(origin, "reroll", child)
        self.check_prompt(child.prompt)
        return await self._enqueue(origin, "reroll", child, parent=parent)

    def _remixed_variation(self, job_id: int, request: GenerationRequest, edit: PromptSpec) -> GenerationRequest:
        """The parent's request with a Remix edit; a variation keeps its parent's model, so fast stays fast."""
        if fast_model_of(self.config, request) is None:
            if edit.fast:
                raise UserError(f"Variations keep the model of job #{job_id}, so --fast can't be added here; use "
                                "re-roll with --fast instead. Nothing was queued.")
            return remixed(request, edit)
        if not edit.fast:
            raise UserError(f"Job #{job_id} is a fast grid and its variations stay fast: keep --fast in the text "
                            "(Enhance renders a tile with the full model). Nothing was queued.")
        # The fast model keeps its own steps, sampler and guidance; the edit brings the words.
        return dataclasses.replace(request, prompt=edit.prompt, negative_prompt=edit.negative_prompt,
                                   tiling=edit.tiling)

    async def upscale(self, origin: Origin, job_id: int, tile: int) -> Enqueued:
        """One tile, twice the size, refined through img2img."""
        parent, request = await self._parent(origin, job_id, tile)
        g = self.config.generation
        try:
            child = refine_request(request, tile, init_image=str(self.tile_path(parent, tile)),
                                   seed=self.seed(), strength=g.refine_strength, max_side=g.max_side)
        except RequestError as exc:
            raise UserError(str(exc)) from None
        return await self._enqueue(origin, "refine", child, parent=parent, parent_tile=tile)

    async def enhance(self, origin: Origin, job_id: int, tile: int) -> Enqueued:
        """One tile of a fast grid re-rendered by the full model and the server's settings, from the same seed."""
        parent, request = await self._parent(origin, job_id, tile)
        name = fast_model_of(self.config, request)
        if name is None or request.num_images == 1:
            raise UserError(f"Job #{job_id} is not a fast grid; Enhance works on grids made with --fast.")
        g = self.config.generation
        try:
            child = enhance_request(request, tile, model=self.config.fast_models[name].enhance_model or
                                    self.config.model.default, num_inference_steps=g.steps,
                                    guidance_scale=g.guidance_scale, sampler=g.sampler)
        except RequestError as exc:
            raise UserError(str(exc)) from None
        return await self._enqueue(origin, "enhance", child, parent=parent, parent_tile=tile)

    async def outpaint(self, origin: Origin, job_id: int, operation: str, *, factor: float | None = None,
                       prompt: str | None = None) -> Enqueued:
        """Zoom Out, Custom Zoom, Pan or Make Square on a single (upscaled) image: a 2x2 grid painted around it."""
        return await self._canvas(origin, job_id, "outpaint", lambda request, path, seed, g: outpaint_request(
            request, path, operation, seed, g.width * g.height, g.max_side, factor=factor, prompt=prompt), prompt)

    async def vary_region(self, origin: Origin, job_id: int, region: tuple[float, float, float, float],
                          prompt: str | None = None) -> Enqueued:
        """Vary (Region) on a single (upscaled) image: a 2x2 grid with that area repainted, maybe to a new prompt."""
        return await self._canvas(origin, job_id, "inpaint", lambda request, path, seed, g: region_request(
            request, path, region, seed, g.width * g.height, g.max_side, prompt=prompt), prompt)

    async def _canvas(self, origin: Origin, job_id: int, kind: str, build: Callable, prompt: str | None) -> Enqueued:
        parent, request = await self._parent(origin, job_id, 1)
        try:
            child = build(request, str(self.tile_path(parent, 1)), self.seed(), self.config.generation)
        except RequestError as exc:
            raise UserError(str(exc)) from None
        if prompt and prompt.strip():  # a new prompt: checked like any other
            child = dataclasses.replace(child, prompt=resolve_lora_tags(child.prompt, self.config.loras))
            await self._screen(origin, kind, child)
            self.check_prompt(child.prompt)
        return await self._enqueue(origin, kind, child, parent=parent, parent_tile=1)

    async def from_upload(self, origin: Origin, image_path: str, image_size: tuple[int, int], *, upscale: bool,
                          prompt: str, strength: float) -> Enqueued:
        """/vary or /upscale on an uploaded image (checked and saved as PNG; path relative to the data folder)."""
        g = self.config.generation
        if not prompt.strip():
            if not upscale:
                raise UserError("Say what the image should become: /vary with an image needs a prompt.")
            prompt = "high quality, detailed"  # a refine keeps the composition; the prompt only guides detail
        width, height = fit_size(image_size[0], image_size[1], g.width * g.height)
        source = GenerationRequest(kind=GenerationKind.txt2img, prompt=prompt, seeds=(self.seed(),) * 4,
                                   width=width, height=height, num_inference_steps=g.steps,
                                   guidance_scale=g.guidance_scale, sampler=g.sampler, model=self.config.model.default)
        self.check_prompt(prompt)
        if upscale:
            try:
                child = upload_upscale_request(source, image_path, image_size, seed=self.seed(), strength=strength,
                                               max_side=g.max_side)
            except RequestError as exc:
                raise UserError(str(exc)) from None
            await self._screen(origin, "refine", child)
            return await self._enqueue(origin, "refine", child)
        child = img2img_request(source, init_image=image_path, image_size=image_size, strength=strength,
                                max_pixels=g.width * g.height)
        await self._screen(origin, "img2img", child)
        return await self._enqueue(origin, "img2img", child)
