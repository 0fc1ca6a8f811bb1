"""Domain errors of the generation package; the bot renders them for users in one place."""


class GenerationError(Exception):
    """Base class: something about a generation request or run went wrong."""


class RequestError(GenerationError, ValueError):
    """A GenerationRequest field (or its stored dict) holds a value outside its allowed range."""


class PromptError(GenerationError, ValueError):
    """The user's prompt text or one of its --flags is invalid; the message names the flag and its range."""


class UnsafeModelError(GenerationError):
    """The model would be loaded from pickle files (.ckpt, .bin, .pt, .pth), which can run arbitrary code."""


class ModelNotFound(GenerationError):
    """The model id or folder does not exist or lacks a pipeline's files."""


class GenerationCancelled(GenerationError):
    """The run was stopped through its cancel Event (checked after every denoising step)."""


class OutOfMemory(GenerationError):
    """The accelerator ran out of memory, even after retrying one image at a time with VAE tiling."""


class UploadError(GenerationError, ValueError):
    """An uploaded init image was refused (type, byte size, pixel count or corrupt data)."""
