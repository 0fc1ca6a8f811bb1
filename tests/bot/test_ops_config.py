"""[metrics], [logging], data.keep_days and the environment overrides one container image needs."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, parse_config


def test_defaults_keep_metrics_off_and_local() -> None:
    """Metrics are off (port 0) and, when on, bound to 127.0.0.1; text logs; 30 days of images."""
    config = parse_config({}, {})
    assert (config.metrics.port, config.metrics.host) == (0, "127.0.0.1")
    assert (config.logging.format, config.data_keep_days) == ("text", 30)


@pytest.mark.parametrize(("raw", "needle"), [
    ({"metrics": {"port": 70000}}, "metrics.port = 70000 is out of range"),
    ({"logging": {"format": "xml"}}, "logging.format = 'xml' must be \"text\" or \"json\""),
    ({"logging": {"level": "chatty"}}, "logging.level = 'chatty' must be"),
    ({"data": {"keep_days": -1}}, "data.keep_days = -1 must be a whole number of days"),
    ({"metrics": {"bind": "x"}}, "unknown key metrics.bind"),
])
def test_bad_operations_values_name_the_key(raw: dict, needle: str) -> None:
    """Each bad value is refused with a message naming the key and the value."""
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, {})
    assert needle in str(caught.value)


def test_environment_overrides_for_containers() -> None:
    """IMAGINE_METRICS_PORT/HOST and IMAGINE_EMBEDDED_WORKER override the file, so one image plays every role."""
    env = {"IMAGINE_METRICS_PORT": "9108", "IMAGINE_METRICS_HOST": "0.0.0.0", "IMAGINE_EMBEDDED_WORKER": "false"}
    config = parse_config({"metrics": {"port": 1234}, "worker": {"embedded": True, "id": "gpu-1"}}, env)
    assert (config.metrics.port, config.metrics.host) == (9108, "0.0.0.0")
    assert (config.worker.embedded, config.worker.id) == (False, "gpu-1")


@pytest.mark.parametrize(("env", "needle"), [
    ({"IMAGINE_EMBEDDED_WORKER": "no"}, "IMAGINE_EMBEDDED_WORKER = 'no' must be true or false"),
    ({"IMAGINE_METRICS_PORT": "http"}, "IMAGINE_METRICS_PORT = 'http' must be a port number"),
])
def test_bad_environment_overrides_are_named(env: dict[str, str], needle: str) -> None:
    """A bad override names the variable and its value."""
    with pytest.raises(ConfigError) as caught:
        parse_config({}, env)
    assert needle in str(caught.value)
