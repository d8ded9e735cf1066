import io

from tabread.cli import main


def test_prints_the_table(write, capsys):
    path = write("staff.csv", "name,team,office\nAda,platform,Berlin\nGrace,compilers,Arlington\n")
    assert main([path, "--columns", "name,office"]) == 0
    assert capsys.readouterr().out == (
        "name   office\n-----  ---------\nAda    Berlin\nGrace  Arlington\n"
    )


def test_tab_delimiter_escape(write, capsys):
    path = write("report.tsv", "a\tb\n1\t2\n")
    assert main([path, "--delimiter", "\\t"]) == 0
    assert capsys.readouterr().out == "a  b\n-  -\n1  2\n"


def test_no_header(write, capsys):
    path = write("data.csv", "x,y\n")
    assert main([path, "--no-header"]) == 0
    assert capsys.readouterr().out == "1  2\n-  -\nx  y\n"


def test_reads_standard_input(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("k\nv\n"))
    assert main(["-"]) == 0
    assert capsys.readouterr().out == "k\n-\nv\n"


def test_missing_file(tmp_path, capsys):
    missing = str(tmp_path / "nope.csv")
    assert main([missing]) == 2
    assert capsys.readouterr().err == (
        f"tabread: error: cannot read {missing}: No such file or directory\n"
    )


def test_unknown_column(write, capsys):
    path = write("t.csv", "a,b\n1,2\n")
    assert main([path, "--columns", "a,c"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "tabread: error: no column named 'c'\n"


def test_ragged_rows(write, capsys):
    path = write("t.csv", "a,b\n1\n")
    assert main([path]) == 2
    assert capsys.readouterr().err == "tabread: error: row 2 has 1 fields, expected 2\n"
