"""models.adain.bench: the latency table runs and carries the plain fp32 reference row (a script, not a timing test)."""

from models.adain.bench import main


def test_bench_prints_the_table_with_the_reference_row(capsys):
    assert main(["--sizes", "32", "--repeats", "1", "--device", "cpu", "--quick"]) == 0
    out = capsys.readouterr().out
    assert "| device | size |" in out and "stylize() end to end" in out
    assert "plain fp32 reference (same network)" in out
