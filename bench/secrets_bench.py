"""What the encrypted password file costs a cron `poptui fetch --all` (issue #10, item 3).

    .venv/bin/python bench/secrets_bench.py            # 5 accounts, 7 runs per store
    .venv/bin/python bench/secrets_bench.py --runs 3   # quicker

Five fake POP3 servers (tests/servers/fake_pop3.py), one message each, fetched once untimed;
then `poptui fetch --all` with nothing new, as separate processes, alternately against

* the encrypted file (keyrings.cryptfile, real Argon2), passphrase handed over on a descriptor
  (--passphrase-fd), and
* the keyring store with PYTHON_KEYRING_BACKEND set to `BenchKeyring` below: a throwaway JSON
  file under the bench's temporary directory. It exists only for this bench and costs nothing,
  so the difference between the two medians is what the encrypted file costs.

It prints both medians, their difference, and the time of one Argon2 derivation with
cryptfile's parameters measured in this process: the difference should be about one
derivation (one unlock per process), not five (one per account).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from keyring.backend import KeyringBackend

ROOT = Path(__file__).resolve().parents[1]
POPTUI = [sys.executable, "-c", "import sys; from tui.cli import main; sys.exit(main())"]
PASSPHRASE = "bench passphrase, not a secret"
ACCOUNTS = 5


class BenchKeyring(KeyringBackend):
    """Bench only: values in a JSON file named by $POPTUI_BENCH_KEYRING (never use for real)."""

    priority = 1

    def _load(self) -> dict[str, str]:
        path = Path(os.environ["POPTUI_BENCH_KEYRING"])
        return json.loads(path.read_text()) if path.exists() else {}

    def _save(self, data: dict[str, str]) -> None:
        Path(os.environ["POPTUI_BENCH_KEYRING"]).write_text(json.dumps(data))

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}\0{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data[f"{service}\0{username}"] = password
        self._save(data)

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        data.pop(f"{service}\0{username}", None)
        self._save(data)


def _run(env: dict[str, str], *argv: str, stdin: str = "", fd_text: str | None = None) -> float:
    """One `poptui ARGV` process; its wall time. Fails loudly when poptui does."""
    pass_fds: tuple[int, ...] = ()
    extra: list[str] = []
    read_end = -1
    if fd_text is not None:
        read_end, write_end = os.pipe()
        os.write(write_end, fd_text.encode() + b"\n")
        os.close(write_end)
        pass_fds = (read_end,)
        extra = ["--passphrase-fd", str(read_end)]
    started = time.perf_counter()
    done = subprocess.run(
        [*POPTUI, *extra, *argv],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        pass_fds=pass_fds,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if read_end >= 0:
        os.close(read_end)
    if done.returncode != 0:
        raise SystemExit(f"poptui {' '.join(argv)} failed:\n{done.stdout}{done.stderr}")
    return elapsed


def _environment(base: Path, store: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POPTUI_")}
    env.pop("CREDENTIALS_DIRECTORY", None)
    env.update(
        POPTUI_DATABASE=f"sqlite:///{base / 'poptui.db'}",
        XDG_DATA_HOME=str(base / "data"),
        XDG_STATE_HOME=str(base / "state"),
        XDG_CONFIG_HOME=str(base / "config"),
        PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "bench")]),
    )
    if store == "keyring":
        env["PYTHON_KEYRING_BACKEND"] = "secrets_bench.BenchKeyring"
        env["POPTUI_BENCH_KEYRING"] = str(base / "bench-keyring.json")
    return env


def _set_up(base: Path, store: str, ports: list[int]) -> dict[str, str]:
    base.mkdir()
    env = _environment(base, store)
    if store == "file":
        _run(env, "secrets", "use", "file", "--path", str(base / "secrets.cfg"), fd_text=PASSPHRASE)
    else:
        _run(env, "secrets", "use", "keyring")
    for n, port in enumerate(ports):
        name = f"box{n}"
        _run(
            env,
            *("account", "add", name, "--email", f"{name}@example.test"),
            *("--incoming-host", "127.0.0.1", "--incoming-port", str(port)),
            *("--incoming-security", "none", "--username", "alice"),
        )
        handed = PASSPHRASE if store == "file" else None
        _run(env, "password", "set", name, "--incoming", "--stdin", stdin="pw\n", fd_text=handed)
    _run(env, "fetch", "--all", fd_text=PASSPHRASE if store == "file" else None)  # the one message
    return env


def one_derivation() -> float:
    """Median of three Argon2 derivations with keyrings.cryptfile's own parameters."""
    from argon2.low_level import Type, hash_secret_raw
    from keyrings.cryptfile.cryptfile import CryptFileKeyring as K

    times = []
    for _ in range(3):
        started = time.perf_counter()
        hash_secret_raw(
            secret=PASSPHRASE.encode(),
            salt=os.urandom(16),
            time_cost=K.time_cost,
            memory_cost=K.memory_cost,
            parallelism=K.parallelism,
            hash_len=16,
            type=Type.ID,
        )
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from tests.servers.fake_pop3 import FakePop3Server

    message = b"From: a@example.test\r\nSubject: hello\r\nMessage-ID: <1@x>\r\n\r\nbody\r\n"
    servers = [FakePop3Server([message], users={"alice": "pw"}).start() for _ in range(ACCOUNTS)]
    try:
        with tempfile.TemporaryDirectory(prefix="poptui-secrets-bench-") as tmp:
            envs = {
                s: _set_up(Path(tmp) / s, s, [x.port for x in servers]) for s in ("file", "keyring")
            }
            times: dict[str, list[float]] = {"file": [], "keyring": []}
            for _ in range(args.runs):  # alternate, so machine noise hits both alike
                for store, env in envs.items():
                    handed = PASSPHRASE if store == "file" else None
                    times[store].append(_run(env, "fetch", "--all", fd_text=handed))
    finally:
        for server in servers:
            server.stop()
    derivation = one_derivation()
    file_s = statistics.median(times["file"])
    keyring_s = statistics.median(times["keyring"])
    difference = file_s - keyring_s
    ratio = difference / derivation
    print(f"poptui fetch --all, {ACCOUNTS} accounts, nothing new, median of {args.runs} runs:")
    for label, store in (
        ("encrypted file (argon2)", "file"),
        ("keyring (bench backend)", "keyring"),
    ):
        runs = sorted(round(t, 2) for t in times[store])
        print(f"  {label:26}  {statistics.median(times[store]):6.2f} s   {runs}")
    print(f"  {'difference':26}  {difference:6.2f} s")
    print(f"  {'one argon2 derivation':26}  {derivation:6.2f} s")
    print(f"  {'difference / derivation':26}  {ratio:6.2f}  (1 expected; {ACCOUNTS} before)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
