"""The golden test: `weir build` the component, then replay
`sample/input.log` through it with `weir test` (the host's real windows,
watermark and lateness, no Redis) and compare with `sample/expected.json`.
`WEIR` names the weir binary (default: the one that made this project)."""

import os
import pathlib
import subprocess

ROOT = pathlib.Path(__file__).resolve().parent
WEIR = os.environ.get("WEIR", "{{weir}}")


def test_sample_replays_to_the_golden_file():
    subprocess.run([WEIR, "build", str(ROOT)], check=True)
    wasm = ROOT / "target/wasm32-wasip2/release/{{file}}.wasm"
    subprocess.run(
        [WEIR, "test", str(wasm), "--input", str(ROOT / "sample/input.log"),
         "--expect", str(ROOT / "sample/expected.json")],
        check=True,
    )
