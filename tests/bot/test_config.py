"""Config: defaults, overrides from the environment, and errors that name the bad key and value."""

from pathlib import Path

import pytest

from bot.config import Config, ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_config_toml_is_valid_and_matches_defaults() -> None:
    """The documented config.toml loads and says exactly what the code's defaults are."""
    assert load_config(ROOT / "config.toml", env={}) == Config()


def test_environment_overrides_database_and_model() -> None:
    """DATABASE_URL, IMAGINE_MODEL, DISCORD_* come from the environment."""
    config = parse_config({}, {"DATABASE_URL": "postgresql+asyncpg://u@h/db", "IMAGINE_MODEL": "/models/x",
                               "DISCORD_TOKEN": "t", "DISCORD_API_BASE": "http://127.0.0.1:1/api/v10",
                               "DISCORD_GATEWAY_URL": "ws://127.0.0.1:1/"})
    assert config.database_url == "postgresql+asyncpg://u@h/db"
    assert config.model.default == "/models/x"
    assert config.discord.token == "t"
    assert config.discord.api_base == "http://127.0.0.1:1/api/v10"
    assert config.discord.gateway_url == "ws://127.0.0.1:1/"


def test_imagine_config_picks_another_file(tmp_path: Path) -> None:
    """IMAGINE_CONFIG names the file to read."""
    path = tmp_path / "other.toml"
    path.write_text("[generation]\nsteps = 9\n")
    assert load_config(env={"IMAGINE_CONFIG": str(path)}).generation.steps == 9


@pytest.mark.parametrize(("toml", "message"), [
    ({"generation": {"steps": 0}}, "generation.steps = 0 is out of range"),
    ({"generation": {"stpes": 3}}, "unknown key generation.stpes"),
    ({"generation": {"width": "big"}}, "generation.width = 'big' is not a valid int"),
    ({"generation": {"width": 500}}, "generation.width = 500 must be a multiple of 8"),
    ({"queue": {"lease_seconds": 10, "heartbeat_seconds": 20}}, "queue.heartbeat_seconds = 20"),
    ({"worker": {"embedded": "yes"}}, "worker.embedded = 'yes' is not a valid bool"),
    ({"priority": {"users": {"abc": 2}}}, "priority.users has key 'abc'"),
    ({"priority": {"roles": {"12": 1000}}}, "priority.roles.12 = 1000"),
    ({"discord": {"guild_ids": ["x"]}}, "discord.guild_ids = ['x']"),
    ({"model": {"device": "tpu"}}, "model.device = 'tpu'"),
    ({"nonsense": {}}, "unknown section [nonsense]"),
    ({"storage": {"backend": "nfs"}}, "storage.backend = 'nfs' must be \"local\" or \"s3\""),
    ({"storage": {"backend": "s3"}}, "storage.bucket is required when storage.backend = \"s3\""),
    ({"storage": {"backend": "s3", "bucket": " "}}, "storage.bucket is required"),
    ({"storage": {"backend": "s3", "bucket": "b", "endpoint": "minio:9000"}}, "storage.endpoint = 'minio:9000'"),
    ({"storage": {"bucket": 3}}, "storage.bucket = 3 must be a string"),
    ({"storage": {"buckets": "b"}}, "unknown key storage.buckets"),
])
def test_bad_values_name_key_and_value(toml: dict, message: str) -> None:
    """Every invalid setting is refused with its key and value in the message."""
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_config(toml, {})


def test_storage_keys_are_read() -> None:
    """[storage]: "local" by default; "s3" with bucket, prefix, endpoint and region as given."""
    assert parse_config({}, {}).storage.backend == "local"
    storage = parse_config({"storage": {"backend": "s3", "bucket": "imagine", "prefix": "prod/",
                                        "endpoint": "http://127.0.0.1:9000", "region": "eu-west-1"}}, {}).storage
    assert (storage.backend, storage.bucket, storage.prefix, storage.endpoint, storage.region) == (
        "s3", "imagine", "prod/", "http://127.0.0.1:9000", "eu-west-1")


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    """A missing or broken explicit config file is one clear error, not a traceback."""
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml", env={})
    broken = tmp_path / "broken.toml"
    broken.write_text("[generation\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(broken, env={})


def test_moderation_keys_are_read_and_checked() -> None:
    """[moderation] gives moderator role ids and the log channel; a bad value names its key."""
    config = parse_config({"moderation": {"moderator_role_ids": [11, 12], "log_channel_id": 13}}, {})
    assert (config.moderation.moderator_role_ids, config.moderation.log_channel_id) == ((11, 12), 13)
    with pytest.raises(ConfigError, match="moderation.moderator_role_ids"):
        parse_config({"moderation": {"moderator_role_ids": ["mods"]}}, {})
    with pytest.raises(ConfigError, match="moderation.log_channel_id"):
        parse_config({"moderation": {"log_channel_id": -1}}, {})


def test_a_banned_pattern_that_does_not_compile_is_named() -> None:
    """A bad regular expression in moderation.banned_patterns stops the start with its index and text."""
    with pytest.raises(ConfigError, match=r"moderation.banned_patterns\[1\] = 'gore\(' is not a valid regular"):
        parse_config({"moderation": {"banned_patterns": ["nsfw", "gore("]}}, {})


@pytest.mark.parametrize(("toml", "message"), [
    ({"moderation": {"banned_words": "nude"}}, "moderation.banned_words = 'nude' must be a list"),
    ({"moderation": {"banned_words": ["..."]}}, "has '...', which has no letters or digits"),
    ({"safety": {"classifier": "nudenet"}}, "safety.classifier = 'nudenet' must be"),
    ({"safety": {"threshold": 1.5}}, "safety.threshold = 1.5 is out of range"),
])
def test_bad_safety_settings_are_named(toml: dict, message: str) -> None:
    """Word lists, the classifier name and the threshold are checked at start."""
    with pytest.raises(ConfigError, match=message):
        parse_config(toml, {})


def test_loras_and_embeddings_tables_are_read() -> None:
    """[loras.<name>] path and weight (1.0 when left out) and [embeddings.<name>] path become the Config's tables."""
    from generation.networks import LoraFile

    config = parse_config({"loras": {"ink": {"path": "/l/ink.safetensors", "weight": 0.6},
                                     "film.grain": {"path": "/l/film.safetensors"}},
                           "embeddings": {"easynegative": {"path": "/e/easynegative.safetensors"}}}, {})
    assert config.loras == {"ink": LoraFile("/l/ink.safetensors", 0.6), "film.grain": LoraFile("/l/film.safetensors")}
    assert config.embeddings == {"easynegative": "/e/easynegative.safetensors"}


@pytest.mark.parametrize(("toml", "message"), [
    ({"loras": {"ink": {"path": "/l/ink.ckpt"}}}, r"loras.ink.path = '/l/ink.ckpt' must be a .safetensors file"),
    ({"embeddings": {"bad": {"path": "/e/bad.pt"}}}, r"embeddings.bad.path = '/e/bad.pt' must be a .safetensors"),
    ({"loras": {"ink": {"path": "/l/a.safetensors", "weight": 9}}}, "loras.ink.weight = 9 must be a number from -4"),
    ({"loras": {"ink": {"path": "/l/a.safetensors", "wieght": 1}}}, "unknown key loras.ink.wieght"),
    ({"loras": {"a:b": {"path": "/l/a.safetensors"}}}, r"\[loras.a:b\]: use 1-64 of"),
    ({"embeddings": {"x": "/e/x.safetensors"}}, "embeddings.x = '/e/x.safetensors' must be a table with a path"),
])
def test_bad_network_tables_are_named(toml: dict, message: str) -> None:
    """Pickle files, out-of-range weights, typos and names the prompt syntax cannot hold are refused by key."""
    with pytest.raises(ConfigError, match=message):
        parse_config(toml, {})
def test_the_old_per_member_cap_fails_naming_its_replacement() -> None:
    """queue.max_active_per_user is gone: a config that still has it stops the bot, saying what to use."""
    with pytest.raises(ConfigError, match=r"queue.max_active_per_user = 5 is gone; use \[limits\] max_queued_per_user"):
        parse_config({"queue": {"max_active_per_user": 5}}, {})


@pytest.mark.parametrize(("toml", "message"), [
    ({"limits": {"max_queued_per_user": 0}}, "limits.max_queued_per_user = 0 is out of range"),
    ({"limits": {"window": 5}}, "unknown key limits.window"),
    ({"quotas": {"images_per_day": "lots"}}, "quotas.images_per_day = 'lots' is not a valid int"),
    ({"quotas": {"roles": {"mods": {"images_per_day": 5}}}}, "quotas.roles has key 'mods'"),
    ({"quotas": {"roles": {"12": {"gpu_seconds": 5}}}}, "unknown key quotas.roles.12.gpu_seconds"),
    ({"profiles": {"x": {"commands": ["paint"]}}}, "profiles.x.commands has 'paint'"),
    ({"profiles": {"x": {"models": ["anime"]}}}, "profiles.x.models has 'anime'"),
    ({"profiles": {"x": {"channel_ids": [1]}, "y": {"channel_ids": [1]}}}, "channel 1 is in profiles.x and profiles.y"),
    ({"profiles": {"default": {"channel_ids": [1]}}}, "profiles.default covers every channel"),
    ({"profiles": {"x": {"max_steps": 500}}}, "profiles.x.max_steps = 500 is out of range"),
    ({"profiles": {"x": {"channel_ids": ["a"]}}}, "profiles.x.channel_ids = \\['a'\\] must be a list of positive"),
])
def test_admission_tables_name_key_and_value(toml: dict, message: str) -> None:
    """[limits], [quotas] and [profiles] refuse bad values with the key and value."""
    with pytest.raises(ConfigError, match=message):
        parse_config(toml, {})


def test_a_member_gets_the_best_of_their_role_tiers() -> None:
    """Key by key, the largest of the default tier and the member's role tiers."""
    quotas = parse_config({"quotas": {"images_per_day": 10, "roles": {
        "1": {"images_per_day": 50}, "2": {"gpu_seconds_per_day": 5000}}}}, {}).quotas
    assert quotas.tier_for((1, 2, 3)) == type(quotas.tier_for(()))(50, 5000.0)
    assert quotas.tier_for(()).images_per_day == 10 and quotas.tier_for((1,)).gpu_seconds_per_day == 900.0


def test_profiles_take_nsfw_policies() -> None:
    """Each profile has nsfw (default "spoiler") and nsfw_channel_policy (default "allow"); others are named."""
    config = parse_config({"profiles": {"newbies": {"channel_ids": [5], "nsfw": "hold"}},
                           "moderation": {"log_channel_id": 9}}, {})
    assert (config.profiles["default"].nsfw, config.profiles["default"].nsfw_channel_policy) == ("spoiler", "allow")
    assert config.profiles["newbies"].nsfw == "hold"
    with pytest.raises(ConfigError, match="profiles.default.nsfw = 'blur' must be one of allow, spoiler, hold"):
        parse_config({"profiles": {"default": {"nsfw": "blur"}}}, {})


def test_holding_needs_the_moderator_log_channel() -> None:
    """nsfw = "hold" without moderation.log_channel_id would hold results nobody can see: refused at start."""
    with pytest.raises(ConfigError, match='profiles.dm.nsfw_channel_policy = "hold" needs moderation.log_channel_id'):
        parse_config({"profiles": {"dm": {"nsfw_channel_policy": "hold"}}}, {})
