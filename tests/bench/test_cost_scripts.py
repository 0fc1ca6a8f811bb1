"""The benchmark scripts keep working: bench/cpu_cost.py and bench/gpu.py on toy configs, on the CPU."""

import pytest

from bench import cpu_cost, gpu


def test_cpu_cost_grid_seconds_follow_the_printed_formula(tmp_path) -> None:
    """Each grid figure is text + steps x UNet step + decode from the measured medians; the ratio is default/fast."""
    import json

    out = tmp_path / "cost.json"
    assert cpu_cost.main(["--tiny", "--steps", "1", "--no-bf16", "--threads", "1", "--json", str(out)]) == 0
    results = json.loads(out.read_text())
    f = {name: value["median_s"] for name, value in results["figures"].items()}
    default = f["text clip_l batch 8"] + 25 * f["sd15 unet step batch 8 (CFG) fp32"] + f["sd vae decode 4 images fp32"]
    turbo = min(f["turbo unet step batch 4 fp32"], f["turbo unet step batch 4 fp32 channels_last"])
    taesd = min(f["taesd decode 4 images fp32"], f["taesd decode 4 images fp32 channels_last"])
    fast4 = f["text clip_h batch 4"] + 4 * turbo + taesd
    grids = results["grids"]
    assert grids["default (25 steps, CFG, full VAE)"]["seconds"] == pytest.approx(default, abs=0.02)
    assert grids["fast (4 steps, no CFG, TAESD)"]["seconds"] == pytest.approx(fast4, abs=0.02)
    assert grids["fast (4 steps, no CFG, TAESD)"]["default_over_this"] == pytest.approx(default / fast4, abs=0.1)
    assert all(value["load1"] for value in results["figures"].values())


def test_gpu_bench_runs_both_paths_in_one_run(tmp_path) -> None:
    """--tiny times plain eager diffusers and ours (channels_last) side by side, with UNet and VAE figures."""
    import json

    out = tmp_path / "gpu.json"
    assert gpu.main(["--tiny", "--no-compile", "--repeats", "1", "--json", str(out)]) == 0
    results = json.loads(out.read_text())
    for name in ("plain", "ours"):
        assert {"job_s", "vae_decode_4_s", "unet_step_batch_2_s", "unet_step_batch_8_s",
                "unet_step_batch_16_s"} <= set(results[name])
        assert "mfu" not in results[name]  # never an MFU for a CPU check
    assert results["speedup_plain_over_ours"] == pytest.approx(results["plain"]["job_s"] / results["ours"]["job_s"],
                                                               abs=0.01)
