"""tools.mutate: reading mutmut's results, scoring per module, equivalents, and the generated docs block."""

from __future__ import annotations

from tools.mutate import BEGIN, END, module_of, parse_results, score_modules, table, write_doc

RESULTS = """\
    norms.adain.x_mean_std__mutmut_1: survived
    norms.adain.x_mean_std__mutmut_2: killed
    norms.adain.xǁAdaINǁforward__mutmut_3: killed
    norms.adain.x_adain__mutmut_4: timeout
    models.common.memory.x_trim__mutmut_1: no tests
    models.common.memory.x_trim__mutmut_2: not checked
    models.common.memory_extra.x_f__mutmut_1: killed
    unrelated line
"""


def test_results_are_parsed_into_keys_and_statuses():
    results = parse_results(RESULTS)
    assert results["norms.adain.xǁAdaINǁforward__mutmut_3"] == "killed"
    assert results["models.common.memory.x_trim__mutmut_1"] == "no tests"
    assert len(results) == 7


def test_scores_count_timeouts_as_killed_leave_out_equivalents_and_unrun_mutants():
    results = parse_results(RESULTS)
    modules = [module_of("norms/adain.py"), module_of("models/common/memory.py"), module_of("app/memory.py")]
    assert modules == ["norms.adain", "models.common.memory", "app.memory"]
    equivalents = {"norms.adain.x_mean_std__mutmut_1": "eps is never reached", "norms.adain.x_gone__mutmut_9": "x"}
    (adain, memory, app_memory), stale = score_modules(modules, results, equivalents)
    assert (adain.total, adain.detected, adain.equivalent, adain.score) == (4, 3, 1, 1.0)
    # `models.common.memory_extra` is not `models.common.memory`'s; the unrun mutant is not scored
    assert (memory.total, memory.checked, memory.detected, memory.score) == (2, 1, 0, 0.0)
    assert app_memory.total == 0
    assert stale == ["norms.adain.x_gone__mutmut_9"]
    (adain, *_), _ = score_modules(modules, results, {})
    assert adain.score == 0.75
    text = table([adain, memory, app_memory], minutes=12.5)
    assert "| `norms.adain` | 4 | 0 | 3 | 1 | 0 | 0 | 75.0 % | **not met** |" in text
    assert "| `app.memory` | 0 |" in text and "12.5 min (`make mutate`, 1 at a time, re-using the verdicts" in text
    assert "12.5 min (`make mutate`, 2 at a time, from scratch" in table([adain], 12.5, fresh=True, jobs=2)
    # a module whose mutants were not all run is never "met", whatever the score of the part that ran
    results["models.common.memory.x_trim__mutmut_1"] = "killed"
    memory = score_modules(modules, results, {})[0][1]
    assert memory.score == 1.0 and not memory.complete and not memory.met
    assert "| 100.0 % | **not run to the end** |" in table([memory], None)


def test_the_docs_block_is_replaced_not_appended(tmp_path):
    doc = tmp_path / "testing.md"
    doc.write_text("# Testing\n\nintro\n")
    write_doc("first", doc)
    write_doc("second", doc)
    text = doc.read_text()
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    assert "second" in text and "first" not in text and text.startswith("# Testing\n\nintro\n")


def test_forget_survivors_clears_survived_and_untested_verdicts_but_not_listed_equivalents(tmp_path):
    import json

    from tools.mutate import forget_survivors

    meta = tmp_path / "pkg" / "mod.py.meta"
    meta.parent.mkdir()
    codes = {"m.x__mutmut_1": 0, "m.x__mutmut_2": 1, "m.x__mutmut_3": 33, "m.x__mutmut_4": 0, "m.x__mutmut_5": 36}
    codes |= {"m.x__mutmut_6": 5, "m.x__mutmut_7": None}
    meta.write_text(json.dumps({"exit_code_by_key": codes, "other": [1]}))
    untouched = tmp_path / "pkg" / "clean.py.meta"
    untouched.write_text(json.dumps({"exit_code_by_key": {"c.y__mutmut_1": 1}}))
    before = untouched.stat().st_mtime_ns
    assert forget_survivors(tmp_path, keep={"m.x__mutmut_4"}) == 3
    data = json.loads(meta.read_text())
    assert data["other"] == [1]
    assert data["exit_code_by_key"] == {
        "m.x__mutmut_1": None,  # survived: test again
        "m.x__mutmut_2": 1,  # killed stays killed
        "m.x__mutmut_3": None,  # no tests (then): test again
        "m.x__mutmut_4": 0,  # a listed equivalent keeps its verdict
        "m.x__mutmut_5": 36,  # a timeout counts as killed
        "m.x__mutmut_6": None,
        "m.x__mutmut_7": None,
    }
    assert untouched.stat().st_mtime_ns == before  # nothing to forget: not rewritten
